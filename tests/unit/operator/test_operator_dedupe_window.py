"""retention.dedupeWindow sets W for the consumers (and the drain Jobs, which run them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clima.store import StoreSettings
from clima_operator import drain
from clima_operator.children import Context, desired
from clima_operator.children import drain as drain_job
from clima_operator.errors import InvalidSpecError
from clima_operator.spec import parse_spec

Build = Callable[..., Context]


def _env(workload: dict[str, Any]) -> dict[str, str]:
    container = workload["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value", "") for item in container["env"]}


@pytest.mark.parametrize(("window", "seconds"), [(None, 86400), ("90m", 5400), ("7d", 604800)])
def test_every_consumer_gets_w_in_seconds_and_reads_it(
    make_ctx: Build, monkeypatch: pytest.MonkeyPatch, window: str | None, seconds: int
) -> None:
    retention = {} if window is None else {"dedupeWindow": window}
    ctx = make_ctx({"mode": "both", "retention": retention})
    consumers = [
        m
        for m in desired(ctx)
        if m["kind"] == "Deployment" and m["metadata"]["name"].endswith("-consumer")
    ]
    assert len(consumers) == 2
    for workload in consumers:
        value = _env(workload)["CLIMA_DEDUPE_WINDOW_S"]
        assert value == str(seconds)
        monkeypatch.setenv("CLIMA_DEDUPE_WINDOW_S", value)
        assert StoreSettings().dedupe_window_s == seconds  # what the process makes of it
    job = drain_job.build(drain.widened(ctx, [drain.RABBIT]), "rabbit")
    assert _env(job)["CLIMA_DEDUPE_WINDOW_S"] == str(seconds)


@pytest.mark.parametrize("window", ["30m", "366d", "24", "1w", "0h", "-1h"])
def test_a_window_out_of_range_or_unreadable_names_the_field(window: str) -> None:
    with pytest.raises(InvalidSpecError, match="dedupeWindow"):
        parse_spec({"retention": {"dedupeWindow": window}})
