"""One apply is bounded in reports: a batch of any size goes to Valkey in script runs of at
most MAX_APPLY_REPORTS, and its dead letters are counted once, by the last run."""

from typing import Any

import pytest

from clima.contract import Report
from clima.store import _store
from clima.store._store import MAX_APPLY_REPORTS, ApplyResult, Store, StoreSettings


def _reports(n: int) -> list[Report]:
    return [Report(id=f"c-{i}", event_time_ms=1_764_585_600_000, municipality=1,
                   temperature_c=20.5, humidity_pct=40.0, weather=1) for i in range(n)]  # fmt: skip


@pytest.mark.parametrize(
    ("count", "runs"),
    [(0, [0]), (1, [1]), (MAX_APPLY_REPORTS, [MAX_APPLY_REPORTS]),
     (2 * MAX_APPLY_REPORTS + 500, [MAX_APPLY_REPORTS, MAX_APPLY_REPORTS, 500])],
)  # fmt: skip
async def test_a_batch_goes_in_bounded_runs_and_counts_its_dead_letters_once(
    monkeypatch: pytest.MonkeyPatch, count: int, runs: list[int]
) -> None:
    calls: list[tuple[int, int]] = []

    async def once(_self: Any, reports: list[Report], dead_letters: int) -> ApplyResult:
        calls.append((len(reports), dead_letters))
        return ApplyResult(len(reports), 0)

    monkeypatch.setattr(_store.Store, "_apply_once", once)
    store = Store(StoreSettings(valkey_url="redis://127.0.0.1:9/0"))
    try:
        result = await store.apply(_reports(count), dead_letters=3)
    finally:
        await store.close()
    assert [size for size, _ in calls] == runs
    assert [dead for _, dead in calls] == [0] * (len(runs) - 1) + [3]
    assert result == ApplyResult(count, 0)
