"""Pod-template checksums change for exactly the components whose inputs changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import PASSWORDS

from clima_operator.children import CHECKSUM_ANNOTATION, Context, desired

Build = Callable[..., Context]


def _checksums(ctx: Context) -> dict[str, str]:
    return {
        m["metadata"]["name"]: m["spec"]["template"]["metadata"]["annotations"][CHECKSUM_ANNOTATION]
        for m in desired(ctx)
        if m["kind"] in ("Deployment", "StatefulSet")
    }


def _changed(make_ctx: Build, before: dict[str, Any], after: dict[str, Any], **kw: Any) -> set[str]:
    old, new = _checksums(make_ctx(before, **kw)), _checksums(make_ctx(after))
    return {name for name in old.keys() & new.keys() if old[name] != new[name]}


def test_same_spec_same_checksums(make_ctx: Build) -> None:
    """Building twice from one spec gives identical checksums (they are deterministic)."""
    assert _checksums(make_ctx()) == _checksums(make_ctx())


@pytest.mark.parametrize(("before", "after"), [("both", "random"), ("random", "both")])
def test_mode_change_touches_only_the_writer(make_ctx: Build, before: str, after: str) -> None:
    """Switching between modes using the same brokers changes the writer's checksum only."""
    assert _changed(make_ctx, {"mode": before}, {"mode": after}) == {"demo-writer"}


def test_retention_touches_only_the_consumers(make_ctx: Build) -> None:
    """The stream cap is an input of the consumers only."""
    changed = _changed(make_ctx, {}, {"retention": {"streamMaxLen": 50}})
    assert changed == {"demo-kafka-consumer", "demo-rabbit-consumer"}


def test_replicas_and_resources_do_not_change_checksums(make_ctx: Build) -> None:
    """Scaling or resizing is not a configuration change (the pod template carries those)."""
    after = {"writer": {"replicas": 5, "resources": {"requests": {"cpu": "1"}}}}
    assert _changed(make_ctx, {}, after) == set()


def test_dashboards_touch_only_grafana(make_ctx: Build) -> None:
    """A changed dashboard file restarts Grafana and nothing else."""
    old = _checksums(make_ctx({}, dashboards={"a.json": "{}"}))
    new = _checksums(make_ctx({}, dashboards={"a.json": '{"v": 2}'}))
    assert {name for name in old if old[name] != new[name]} == {"demo-grafana"}


def test_external_valkey_touches_its_clients(make_ctx: Build) -> None:
    """Moving Valkey outside changes the consumers' and Grafana's inputs, not the api's."""
    external = {"type": "external", "external": {"address": "kv", "secretRef": {"name": "kv"}}}
    changed = _changed(make_ctx, {}, {"valkey": external})
    assert changed == {"demo-kafka-consumer", "demo-rabbit-consumer", "demo-grafana"}


def test_checksums_are_keyed_by_the_pipelines_secret(make_ctx: Build) -> None:
    """No pod carries a plain digest of inputs that hold passwords: the annotation is an HMAC
    under the credentials Secret's checksum-key, so another key gives other values, and a
    guess at the passwords cannot be checked against it without that key."""
    base = {"rabbitmq-password": "r", "valkey-password": "v", "grafana-admin-password": "g"}
    one = _checksums(make_ctx({}, credentials={**base, "checksum-key": "k1"}))
    two = _checksums(make_ctx({}, credentials={**base, "checksum-key": "k2"}))
    again = _checksums(make_ctx({}, credentials={**base, "checksum-key": "k1"}))
    assert one == again
    assert all(one[name] != two[name] for name in one)


@pytest.mark.parametrize(
    ("key", "users"),
    [
        ("rabbitmq-password", {"demo-writer", "demo-rabbit-consumer", "demo-rabbitmq"}),
        ("valkey-password", {"demo-kafka-consumer", "demo-rabbit-consumer", "demo-valkey",
                             "demo-grafana"}),
        ("grafana-admin-password", {"demo-grafana"}),
    ],
)  # fmt: skip
def test_a_rotated_password_rolls_every_pod_that_uses_it(
    make_ctx: Build, key: str, users: set[str]
) -> None:
    """A password edited in the credentials Secret reaches a running container only through
    a new pod: the checksum of exactly the workloads that read it changes."""
    rotated = {**PASSWORDS, key: "rotated-pw"}
    old = _checksums(make_ctx({"mode": "both"}))
    new = _checksums(make_ctx({"mode": "both"}, credentials=rotated))
    assert {name for name in old if old[name] != new[name]} == users


def test_a_rotated_erlang_cookie_rolls_the_rabbitmq_cluster_only(make_ctx: Build) -> None:
    """The nodes of a cluster read the cookie from the Secret: a new one restarts them."""
    spec = {"mode": "both", "rabbitmq": {"managed": {"replicas": 3}}}
    old = _checksums(make_ctx(spec, credentials={**PASSWORDS, "rabbitmq-erlang-cookie": "a"}))
    new = _checksums(make_ctx(spec, credentials={**PASSWORDS, "rabbitmq-erlang-cookie": "b"}))
    assert {name for name in old if old[name] != new[name]} == {"demo-rabbitmq"}
