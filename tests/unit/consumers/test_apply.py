"""A batch's apply never stops a consumer: Valkey's state is waited out, refusals set aside."""

import asyncio

from valkey.exceptions import OutOfMemoryError, ResponseError

from clima.consumers._apply import apply_batch
from clima.consumers._decode import DeadLetter
from clima.consumers._metrics import STORE_WAITS
from clima.contract import Report, ReportBatch
from clima.store import ApplyResult, StoreRejectedError, StoreUnavailableError
from clima.store._store import _classify

NOW_MS = 1_764_585_600_000


def _report(rid: str) -> Report:
    return Report(
        id=rid, event_time_ms=NOW_MS, municipality=1, temperature_c=20, humidity_pct=50, weather=1
    )


class FakeStore:
    """Refuses any batch holding a report whose id starts with "poison"; full `full` times."""

    def __init__(self, full: int = 0) -> None:
        self.full = full
        self.applied: list[str] = []
        self.dead_letters = 0

    async def apply_until_done(self, reports, dead_letters, stop, on_wait=None):  # type: ignore[no-untyped-def]
        while self.full:
            self.full -= 1
            if on_wait is not None:
                on_wait(StoreUnavailableError("full", "oom"))
        if any(r.id.startswith("poison") for r in reports):
            raise StoreRejectedError("ERR script: bad value")
        self.applied.extend(r.id for r in reports)
        self.dead_letters += dead_letters
        return ApplyResult(len(reports), 0)


def test_a_refused_report_is_set_aside_and_its_neighbours_applied() -> None:
    """Valkey refusing a batch: each report is tried alone; the refused one becomes a dead
    letter with the reason, counted once with the decoder's dead letters."""
    store = FakeStore()
    earlier = [DeadLetter(b"x", "not a clima.v1.ReportBatch")]
    reports = [_report("a"), _report("poison-1"), _report("b")]
    result, dead = asyncio.run(apply_batch(store, reports, earlier, asyncio.Event()))  # type: ignore[arg-type]
    assert store.applied == ["a", "b"]
    assert result == ApplyResult(2, 0)
    assert [d.reason.split(":")[0] for d in dead] == ["not a clima.v1.ReportBatch",
                                                      "store refused the report"]  # fmt: skip
    assert ReportBatch.FromString(dead[1].payload).reports[0].id == "poison-1"
    assert store.dead_letters == 2


def test_a_full_valkey_is_counted_by_reason() -> None:
    """Each attempt Valkey could not take is counted under its reason (oom: maxmemory)."""
    before = STORE_WAITS.labels("oom")._value.get()
    store = FakeStore(full=3)
    asyncio.run(apply_batch(store, [_report("a")], [], asyncio.Event()))  # type: ignore[arg-type]
    assert STORE_WAITS.labels("oom")._value.get() - before == 3
    assert store.applied == ["a"]


def test_error_replies_are_sorted_into_retry_and_set_aside() -> None:
    """OOM, BUSY, LOADING-like states and MISCONF are retried; a script error is permanent."""
    assert _classify(OutOfMemoryError("command not allowed")).reason == "oom"  # type: ignore[union-attr]
    for text, reason in [("BUSY running a script", "busy"), ("MISCONF no rdb", "misconf"),
                         ("OOM command not allowed", "oom")]:  # fmt: skip
        classified = _classify(ResponseError(text))
        assert isinstance(classified, StoreUnavailableError)
        assert classified.reason == reason
    assert isinstance(_classify(ResponseError("Error running script: bad")), StoreRejectedError)
