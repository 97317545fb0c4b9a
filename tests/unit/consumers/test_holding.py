"""A consumer holding a batch for Valkey says so: readiness fails naming why, a gauge is 1,
liveness stays green; the first apply that succeeds ends it."""

import asyncio

from clima_unit_support import http_get
from prometheus_client import REGISTRY

from clima.common.probe import serve_probes
from clima.consumers._apply import apply_batch
from clima.consumers._holding import HOLD, Hold
from clima.contract import Report
from clima.store import ApplyResult, StoreUnavailableError


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def _holding(reason: str) -> float | None:
    return REGISTRY.get_sample_value("clima_consumer_holding", {"reason": reason})


def test_hold_names_reason_duration_and_attempts() -> None:
    """From the first failed attempt to the next success, with the latest reason."""
    clock = Clock()
    hold = Hold(clock)
    assert not hold.held
    assert hold.describe() == ""
    hold.waiting("unreachable")
    clock.now += 3
    hold.waiting("oom")
    clock.now += 9
    hold.waiting("oom")
    assert hold.held
    assert hold.describe() == "holding: valkey full (OOM) for 12 s, 3 attempts"
    assert _holding("oom") == 1
    assert _holding("unreachable") == 0
    hold.applied()
    assert not hold.held
    assert _holding("oom") == 0


class FullThenFreeStore:
    """Full for `full` attempts, checking the hold as the consumer sees it meanwhile."""

    def __init__(self, full: int) -> None:
        self.full = full
        self.seen: list[str] = []

    async def apply_until_done(self, reports, dead_letters, stop, on_wait=None):  # type: ignore[no-untyped-def]
        while self.full:
            self.full -= 1
            on_wait(StoreUnavailableError("OOM command not allowed", "oom"))
            self.seen.append(HOLD.describe())
        return ApplyResult(len(reports), 0)


async def test_apply_holds_while_valkey_is_full_and_releases_after() -> None:
    """While apply_batch retries an OOM the process's hold says so; the success ends it."""
    store = FullThenFreeStore(full=2)
    report = Report(
        id="a", event_time_ms=1_764_585_600_000, municipality=1, temperature_c=20,
        humidity_pct=50, weather=1,
    )  # fmt: skip
    await apply_batch(store, [report], [], asyncio.Event())  # type: ignore[arg-type]
    assert [s.split(" for ")[0] for s in store.seen] == ["holding: valkey full (OOM)"] * 2
    assert not HOLD.held


async def test_readiness_fails_with_the_reason_liveness_does_not() -> None:
    """The consumer's probes as run.py wires them: /readyz 503 naming the hold, /healthz 200."""
    hold = Hold()
    hold.waiting("oom")
    server = await serve_probes(
        "127.0.0.1", 0, lambda: not hold.held, why=lambda: hold.describe() or "not connected"
    )
    port = server.sockets[0].getsockname()[1]
    try:
        status, body = await http_get(port, "/readyz")
        assert status == 503
        assert body.startswith(b"not ready: holding: valkey full (OOM) for ")
        assert (await http_get(port, "/healthz"))[0] == 200
        hold.applied()
        assert (await http_get(port, "/readyz"))[0] == 200
    finally:
        server.close()
        await server.wait_closed()
