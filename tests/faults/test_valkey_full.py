"""Valkey fills up to its maxmemory under load: the backlog is bounded, nothing is lost.

The consumers hold their batches (Valkey answers OOM), so the brokers' backlog grows; once a
broker holds more unapplied messages than the writer's bound the api answers 503 with
`"outcome": "refused"`. Meanwhile every process keeps running, each consumer's readiness
fails naming the hold while its liveness stays green. When Valkey's memory is raised again
the consumers resume by themselves, the backlog drains and 202s come back; then every id
answered 202 is applied exactly once, no refused id is, and after the client resends the
refused ids every id sent is in Valkey exactly once.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import orjson
import pytest
from clima_faults_support import (
    ROWS,
    Load,
    Pipelines,
    check_reconciliation,
    check_retries,
    dump,
    dump_reconciliation,
    reconcile,
    row_of,
    under_load,
)

from clima.local import LocalPipeline

T = TypeVar("T")

pytestmark = pytest.mark.faults
# small enough to be reached within seconds at the suite's load (≈150 messages/s per broker)
BOUND = 300
# memory Valkey may still take after the test lowers its maxmemory: filled in a few seconds
HEADROOM_BYTES = 256 * 1024
HOLDING_OOM = 'clima_consumer_holding{reason="oom"}'
# from the memory being raised to the consumers applying again, and to 202s again
RESUME_BOUND_S = 5.0


@dataclass
class Seen:
    """What the test saw while Valkey was full and after its memory was raised."""

    refusing_after_s: float = float("nan")
    readyz: dict[str, tuple[int, str]] = field(default_factory=dict)
    healthz: dict[str, tuple[int, str]] = field(default_factory=dict)
    holding: dict[str, float] = field(default_factory=dict)
    alive: dict[str, bool] = field(default_factory=dict)
    applying_after_s: float = float("nan")
    ready_after_s: float = float("nan")


def _consumer_probes(pipeline: LocalPipeline) -> dict[str, int]:
    ports = {
        "kafka": pipeline.ports.kafka_consumer_probe,
        "rabbit": pipeline.ports.rabbit_consumer_probe,
    }
    return {f"{s}-consumer": ports[s] for s in pipeline.consumers()}


def _get(port: int, path: str) -> tuple[int, str]:
    answer = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
    return answer.status_code, answer.text


def _metric(port: int, sample: str) -> float:
    """The value of one sample (`name{labels}` as exposed) on a process's /metrics; 0 when
    absent."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _backlog_refusals(load: Load) -> list[float]:
    """When each request refused for the backlog was sent."""
    return [
        o.sent
        for o in load.outcomes
        if o.status == 503 and "backlog:" in orjson.loads(o.detail)["detail"]
    ]


async def test_full_valkey_bounds_the_backlog_then_resumes(
    pipelines: Pipelines, log_dir: Path
) -> None:
    """maxmemory lowered under load: 202 until the bound, then 503 refused; consumers hold
    (readiness fails naming OOM, liveness ok); raised again: everything resumes by itself,
    each id counted once."""
    extra = {"CLIMA_WRITER_MAX_BACKLOG_MESSAGES": str(BOUND)}
    pipeline = await asyncio.to_thread(pipelines.start, "both", 0, extra)
    store = pipelines.store()
    original = store.config_get("maxmemory")["maxmemory"]
    probes = _consumer_probes(pipeline)
    seen = Seen()

    def applied() -> int:
        return int(store.hget("clima:stats", "applied") or 0)

    writer_probe = pipeline.ports.writer_probe

    def backlog_refusals() -> float:
        return _metric(writer_probe, 'clima_writer_refused_total{reason="backlog"}')

    async def off_loop(call: Callable[[], T]) -> T:
        # every blocking call runs in a thread: a stalled loop would stall the load's senders
        # past the api's keep-alive, and their next request would meet a closed connection
        return await asyncio.to_thread(call)

    async def until(predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not await off_loop(predicate):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)
        return True

    async def fault(marks: dict[str, float]) -> None:
        used = int((await off_loop(lambda: store.info("memory")))["used_memory"])
        await off_loop(lambda: store.config_set("maxmemory", used + HEADROOM_BYTES))
        marks["fault_start"] = time.monotonic()
        refusing = await until(lambda: backlog_refusals() > 0, 60)
        assert refusing, "the writer refused nothing for the backlog within 60 s"
        seen.refusing_after_s = time.monotonic() - marks["fault_start"]
        await asyncio.sleep(3)  # refusals go on while Valkey stays full
        for name, port in probes.items():
            seen.readyz[name] = await off_loop(lambda p=port: _get(p, "/readyz"))
            seen.healthz[name] = await off_loop(lambda p=port: _get(p, "/healthz"))
            seen.holding[name] = await off_loop(lambda p=port: _metric(p, HOLDING_OOM))
        seen.alive = {n: p.poll() is None for n, p in pipeline.processes.items()}
        before = await off_loop(applied)
        await off_loop(lambda: store.config_set("maxmemory", original))
        marks["fault_end"] = time.monotonic()
        await until(lambda: applied() > before, 30)
        seen.applying_after_s = time.monotonic() - marks["fault_end"]
        if await until(lambda: all(_get(p, "/readyz")[0] == 200 for p in probes.values()), 30):
            seen.ready_after_s = time.monotonic() - marks["fault_end"]

    try:
        [load], marks = await under_load([(pipeline.api_url, "vfull")], fault)
    finally:
        store.config_set("maxmemory", original)

    dump(load, marks, log_dir / "outcomes.csv")
    rec = await asyncio.to_thread(reconcile, store, load.accepted(), load.refused())
    dump_reconciliation(load, rec, log_dir / "reconciliation.json")
    row = row_of("valkey full (maxmemory lowered), raised again", "both", load, rec, marks)
    row.recovery_s = seen.applying_after_s
    first_202 = load.first_202_sent_after(marks["fault_end"])
    first_202_s = first_202.answered - marks["fault_end"] if first_202 else float("nan")
    row.note = (
        f"backlog bound {BOUND} messages, refusing {seen.refusing_after_s:.1f} s after "
        f"maxmemory was lowered; recovery = first apply after it was raised; first 202 "
        f"{first_202_s:.1f} s, consumers ready {seen.ready_after_s:.1f} s after"
    )
    ROWS.append(row)

    # every process ran throughout; the consumers held, said so, and stayed alive
    assert all(seen.alive.values()), seen.alive
    for name, (status, body) in seen.readyz.items():
        assert status == 503, (name, body)
        assert "holding: valkey full (OOM)" in body, (name, body)
    assert all(s == 200 for s, _ in seen.healthz.values()), seen.healthz
    assert all(v == 1 for v in seen.holding.values()), seen.holding
    # 202 until the bound, then refusals: every non-202 is a backlog refusal, "refused"
    errors = [o for o in load.outcomes if o.status != 202]
    assert errors, load.statuses()
    assert all(o.upfront for o in errors), load.statuses()
    assert len(_backlog_refusals(load)) == len(errors), [o.detail for o in errors[:3]]
    assert min(o.sent for o in errors) > marks["fault_start"]
    assert backlog_refusals() >= 1
    # resumed by itself, within seconds
    assert row.recovery_s < RESUME_BOUND_S, seen
    assert first_202_s < RESUME_BOUND_S + 5, first_202_s
    assert seen.ready_after_s < RESUME_BOUND_S, seen
    check_reconciliation(load, rec)
    assert not rec.refused_but_applied, rec.refused_but_applied[:5]
    await check_retries(load, store)
