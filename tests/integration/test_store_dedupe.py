"""The dedupe window on the real Valkey: an id counts once whatever its event time."""

import asyncio

import pytest
import valkey

from clima.contract import Report
from clima.store import (
    DEDUPE_WINDOW_S,
    STATS_HASH,
    Store,
    StoreRejectedError,
    StoreSettings,
    seen_key,
    stream_key,
)

HOUR_MS = 3_600_000
EDGE_MS = 1_764_585_600_000  # 2025-12-01T11:00:00Z, an hour's edge


def _report(report_id: str, event_time_ms: int) -> Report:
    return Report(
        id=report_id,
        event_time_ms=event_time_ms,
        municipality=1,
        temperature_c=20.5,
        humidity_pct=40.0,
        weather=1,
    )


async def _apply(url: str, reports: list[Report], **settings: int) -> list[tuple[int, int]]:
    store = Store(StoreSettings(valkey_url=url, **settings))
    try:
        results = []
        for report in reports:
            result = await store.apply([report])
            results.append((result.applied, result.duplicates))
        return results
    finally:
        await store.close()


def test_resend_across_an_hour_counts_once(infra: dict[str, str], store: valkey.Valkey) -> None:
    """The same id stamped 10:59:59.999 and 11:00:00.001 (and a day later) is applied once."""
    times = [EDGE_MS - 1, EDGE_MS + 1, EDGE_MS + 23 * HOUR_MS, EDGE_MS - 5 * HOUR_MS]
    results = asyncio.run(_apply(infra["VALKEY_SERVICE_URL"], [_report("a1", t) for t in times]))
    assert results == [(1, 0), (0, 1), (0, 1), (0, 1)]
    assert store.xlen(stream_key("mixco")) == 1
    assert store.hget(STATS_HASH, "applied") == "1"
    assert store.hget(STATS_HASH, "duplicates") == "3"


def test_seen_key_lives_for_the_window(infra: dict[str, str], store: valkey.Valkey) -> None:
    """An applied id's key expires W after its first apply, and a resend does not extend it."""
    asyncio.run(_apply(infra["VALKEY_SERVICE_URL"], [_report("b1", EDGE_MS)]))
    ttl = store.ttl(seen_key("b1"))
    assert DEDUPE_WINDOW_S - 5 <= ttl <= DEDUPE_WINDOW_S
    store.expire(seen_key("b1"), 100)
    asyncio.run(_apply(infra["VALKEY_SERVICE_URL"], [_report("b1", EDGE_MS + HOUR_MS)]))
    assert store.ttl(seen_key("b1")) <= 100, "a duplicate must not restart the window"


def test_after_the_window_an_id_counts_again(infra: dict[str, str], store: valkey.Valkey) -> None:
    """Past W the id is forgotten: the documented edge of the guarantee."""
    url = infra["VALKEY_SERVICE_URL"]
    asyncio.run(_apply(url, [_report("c1", EDGE_MS)]))
    store.delete(seen_key("c1"))  # what expiry does at W
    assert asyncio.run(_apply(url, [_report("c1", EDGE_MS)])) == [(1, 0)]


@pytest.mark.parametrize("window_s", [3600, 7 * 24 * 3600])
def test_window_is_configurable(infra: dict[str, str], store: valkey.Valkey, window_s: int) -> None:
    """CLIMA_DEDUPE_WINDOW_S sets W."""
    asyncio.run(
        _apply(infra["VALKEY_SERVICE_URL"], [_report("d1", EDGE_MS)], dedupe_window_s=window_s)
    )
    assert window_s - 5 <= store.ttl(seen_key("d1")) <= window_s


def test_full_valkey_holds_the_batch_then_applies_it(
    infra: dict[str, str], store: valkey.Valkey
) -> None:
    """At maxmemory (noeviction) the apply is refused with OOM: the consumers' apply waits,
    counting each attempt as "oom", and applies the batch once space returns; nothing lost."""
    url = infra["VALKEY_SERVICE_URL"]
    reasons: list[str] = []

    async def scenario() -> tuple[int, int]:
        handle = Store(StoreSettings(valkey_url=url))
        previous = store.config_get("maxmemory")["maxmemory"]
        store.config_set("maxmemory-policy", "noeviction")
        store.config_set("maxmemory", 1)  # below what Valkey already holds: full
        try:
            task = asyncio.create_task(
                handle.apply_until_done(
                    [_report(f"f{i}", EDGE_MS + i) for i in range(10)],
                    0,
                    asyncio.Event(),
                    lambda exc: reasons.append(exc.reason),
                )
            )
            await asyncio.sleep(1.5)
            assert not task.done(), "a full Valkey must hold the batch, not drop or raise"
        finally:
            store.config_set("maxmemory", previous)
        result = await asyncio.wait_for(task, 5)
        await handle.close()
        return result.applied, result.duplicates

    assert asyncio.run(scenario()) == (10, 0)
    assert reasons
    assert set(reasons) == {"oom"}
    assert store.xlen(stream_key("mixco")) == 10


def test_a_report_the_store_cannot_format_is_rejected_not_raised(
    infra: dict[str, str], store: valkey.Valkey
) -> None:
    """An event time past year 9999 (which slipped past the old checks) is refused as
    StoreRejectedError, the kind the consumers dead-letter, never an unexpected error."""
    with pytest.raises(StoreRejectedError):
        asyncio.run(_apply(infra["VALKEY_SERVICE_URL"], [_report("g1", 10**15)]))
    assert store.dbsize() == 0
