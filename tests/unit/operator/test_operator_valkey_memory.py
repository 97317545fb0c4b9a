"""The managed Valkey's memory bound: maxmemory under the container limit, never evicting."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from clima_operator.children import Context, desired
from clima_operator.children.valkey import maxmemory_bytes, quantity_bytes
from clima_operator.spec import InvalidSpecError

Build = Callable[..., Context]


def _conf(ctx: Context) -> list[str]:
    secret = next(m for m in desired(ctx) if m["metadata"]["name"] == "demo-valkey-config")
    return base64.b64decode(secret["data"]["valkey.conf"]).decode().splitlines()


def test_default_limit_renders_three_quarters_and_noeviction(make_ctx: Build) -> None:
    """The default 256Mi limit gives maxmemory 192Mi, and Valkey refuses writes when full."""
    conf = _conf(make_ctx())
    assert f"maxmemory {192 * 2**20}" in conf
    assert "maxmemory-policy noeviction" in conf


def test_maxmemory_follows_the_limit(make_ctx: Build) -> None:
    """A larger limit raises the bound with it."""
    spec = {"valkey": {"managed": {"resources": {"limits": {"memory": "2Gi"}}}}}
    assert f"maxmemory {3 * 2**29}" in _conf(make_ctx(spec))


def test_without_a_limit_only_the_policy_is_rendered(make_ctx: Build) -> None:
    """No limit, no bound to derive: Valkey still never evicts."""
    spec = {"valkey": {"managed": {"resources": {"requests": {"memory": "64Mi"}}}}}
    conf = _conf(make_ctx(spec))
    assert not any(line.startswith("maxmemory ") for line in conf)
    assert "maxmemory-policy noeviction" in conf


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("256Mi", 256 * 2**20), ("1G", 10**9), ("1.5Gi", 3 * 2**29), ("1e9", 10**9),
     ("128974848", 128974848), ("100m", None), ("lots", None)],
)  # fmt: skip
def test_quantity_bytes(quantity: str, expected: int | None) -> None:
    """Kubernetes memory quantities read as bytes; what is not one reads as None."""
    assert quantity_bytes(quantity) == expected


def test_maxmemory_of_nothing_is_nothing() -> None:
    """No limit means no maxmemory line."""
    assert maxmemory_bytes(None) is None


def test_append_only_file_fsyncs_every_second_by_default(make_ctx: Build) -> None:
    """The default is Valkey's own everysec, now stated in the rendered file."""
    assert "appendfsync everysec" in _conf(make_ctx())


def test_append_fsync_always_is_rendered_when_asked(make_ctx: Build) -> None:
    """spec.valkey.managed.appendFsync: always makes every apply durable before it returns."""
    conf = _conf(make_ctx({"valkey": {"managed": {"appendFsync": "always"}}}))
    assert "appendfsync always" in conf
    assert "appendfsync everysec" not in conf


def test_an_unknown_fsync_policy_is_refused_by_name(make_ctx: Build) -> None:
    """`no` (leave it to the kernel) is not offered: the error names the field."""
    with pytest.raises(InvalidSpecError, match=r"spec\.valkey\.managed\.appendFsync"):
        make_ctx({"valkey": {"managed": {"appendFsync": "no"}}})
