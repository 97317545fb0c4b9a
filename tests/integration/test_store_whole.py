"""An apply is whole or nothing, whatever Valkey holds: on the real Valkey, a key of another
type or a count that is not a number refuses the batch before anything is written (Valkey
does not undo a script's writes when it fails half-way), and the consumer sets aside only
the report that touches it, without exiting."""

import asyncio
from collections.abc import Callable

import pytest
import valkey

from clima.consumers._apply import apply_batch
from clima.contract import Report, municipality_by_code
from clima.store import (
    STATS_HASH,
    Store,
    StoreRejectedError,
    StoreSettings,
    interval_key,
    seen_key,
    stream_key,
)

EVENT_MS = 1_764_585_600_000  # an interval's start (10 s intervals)


def _report(report_id: str, municipality: int) -> Report:
    return Report(id=report_id, event_time_ms=EVENT_MS, municipality=municipality,
                  temperature_c=20.5, humidity_pct=40.0, weather=1)  # fmt: skip


def _apply(url: str, reports: list[Report]) -> None:
    async def run() -> None:
        store = Store(StoreSettings(valkey_url=url))
        try:
            await store.apply(reports)
        finally:
            await store.close()

    asyncio.run(run())


SECOND = municipality_by_code(2).slug
TAMPERINGS: dict[str, Callable[[valkey.Valkey], object]] = {
    "stream of another type": lambda c: c.set(stream_key(SECOND), "not a stream"),
    "count that is no integer": lambda c: c.hset(STATS_HASH, "applied", "many"),
    "sum that is no number": lambda c: c.hset(
        interval_key(EVENT_MS // 1000), "temperature_sum", "warm"
    ),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_a_batch_valkey_would_fail_half_way_writes_nothing(
    infra: dict[str, str], store: valkey.Valkey, tampering: str
) -> None:
    """A batch whose second report meets the altered key: refused naming it, and neither
    report is marked seen, counted or streamed (the first one used to be marked seen and then
    never counted: its resend read as a duplicate)."""
    url = infra["VALKEY_SERVICE_URL"]
    _apply(url, [_report("before", 1)])
    TAMPERINGS[tampering](store)
    stats = store.hgetall(STATS_HASH)
    first_stream = store.xlen(stream_key(municipality_by_code(1).slug))
    with pytest.raises(StoreRejectedError, match="the batch is not applied"):
        _apply(url, [_report("w-1", 1), _report("w-2", 2)])
    assert not store.exists(seen_key("w-1"))
    assert not store.exists(seen_key("w-2"))
    assert store.hgetall(STATS_HASH) == stats
    assert store.xlen(stream_key(municipality_by_code(1).slug)) == first_stream


def test_the_consumer_sets_aside_only_the_report_valkey_will_never_take(
    infra: dict[str, str], store: valkey.Valkey
) -> None:
    """Report by report: the one for the altered stream is a dead letter naming the key, its
    neighbour is applied and counted once."""
    store.set(stream_key(SECOND), "not a stream")

    async def run() -> tuple[int, list[str]]:
        client = Store(StoreSettings(valkey_url=infra["VALKEY_SERVICE_URL"]))
        try:
            result, dead = await apply_batch(
                client, [_report("c-1", 1), _report("c-2", 2)], [], asyncio.Event()
            )
        finally:
            await client.close()
        return result.applied, [letter.reason for letter in dead]

    applied, reasons = asyncio.run(run())
    assert applied == 1
    assert len(reasons) == 1
    assert f"WRONGTYPE {stream_key(SECOND)} holds a string" in reasons[0]
    assert store.exists(seen_key("c-1"))
    assert not store.exists(seen_key("c-2"))
    assert store.hget(STATS_HASH, "applied") == "1"
    assert store.hget(STATS_HASH, "dead_letters") == "1"


def test_a_counter_valkey_refuses_does_not_stop_the_consumer(
    infra: dict[str, str], store: valkey.Valkey
) -> None:
    """With clima:stats itself altered every apply is refused: the consumer sets the reports
    aside as dead letters and goes on; it never exits over it."""
    store.hset(STATS_HASH, "applied", "many")

    async def run() -> list[str]:
        client = Store(StoreSettings(valkey_url=infra["VALKEY_SERVICE_URL"]))
        try:
            _, dead = await apply_batch(client, [_report("s-1", 1)], [], asyncio.Event())
        finally:
            await client.close()
        return [letter.reason for letter in dead]

    reasons = asyncio.run(run())
    assert len(reasons) == 1
    assert "NOTNUMBER clima:stats field applied" in reasons[0]


def test_a_batch_larger_than_one_run_counts_each_report_once(
    infra: dict[str, str], store: valkey.Valkey
) -> None:
    """5,000 reports of one municipality (three script runs) are applied and counted once;
    the same batch again is 5,000 duplicates."""
    reports = [_report(f"big-{i}", 1) for i in range(5_000)]

    async def run() -> list[tuple[int, int]]:
        client = Store(StoreSettings(valkey_url=infra["VALKEY_SERVICE_URL"]))
        try:
            results = [await client.apply(reports), await client.apply(reports)]
        finally:
            await client.close()
        return [(r.applied, r.duplicates) for r in results]

    assert asyncio.run(run()) == [(5_000, 0), (0, 5_000)]
    assert store.hget(STATS_HASH, "applied") == "5000"
    assert store.xlen(stream_key(municipality_by_code(1).slug)) == 5_000  # under its cap
