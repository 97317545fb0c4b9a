"""Services are SIGKILLed mid-load and started again: nothing accepted is lost or doubled.

The writer is killed in `both` mode (it serves every report); each consumer in the mode where
it is the only path to Valkey, so the reconciliation proves that it, after its restart,
applied everything its broker held: RabbitMQ redelivers what was not acked, Kafka hands the
uncommitted offsets to the new group member, and report ids make the replays count once.

The Kafka consumer goes first: its group waits for the killed member's session to expire
before the new member gets the partitions, and the two other scenarios run meanwhile.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from clima_faults_support import (
    ROWS,
    Load,
    Pipelines,
    Reconciliation,
    Row,
    check_reconciliation,
    check_retries,
    dump,
    dump_reconciliation,
    reconcile,
    row_of,
    under_load,
)

from clima.local import LocalPipeline

pytestmark = pytest.mark.faults
SCENARIOS = [
    ("kafka-consumer", "kafka", 1),
    ("writer", "both", 2),
    ("rabbit-consumer", "rabbit", 3),
]


def _kill_and_restart(
    pipeline: LocalPipeline, name: str
) -> Callable[[dict[str, float]], Awaitable[None]]:
    async def fault(marks: dict[str, float]) -> None:
        marks["fault_start"] = time.monotonic()
        await asyncio.to_thread(pipeline.kill, name)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(pipeline.restart, name)
        marks["fault_end"] = time.monotonic()

    return fault


async def test_sigkill_and_restart(pipelines: Pipelines, log_dir: Path) -> None:
    """SIGKILL mid-load, restart: every 202 applied once, refusals only while it was away."""
    settled: list[tuple[str, Load, dict[str, float], asyncio.Future[Reconciliation], float]] = []
    started = await asyncio.to_thread(pipelines.start_all, *((m, db) for _, m, db in SCENARIOS))
    for (name, _, db), pipeline in zip(SCENARIOS, started, strict=True):
        [load], marks = await under_load(
            [(pipeline.api_url, f"kill-{name}")], _kill_and_restart(pipeline, name)
        )
        dump(load, marks, log_dir / f"outcomes-{name}.csv")
        store = pipelines.store(db)
        began = time.monotonic()
        reconciling = asyncio.ensure_future(
            asyncio.to_thread(reconcile, store, load.accepted(), load.refused(), 90)
        )
        settled.append((name, load, marks, reconciling, began))

    rows: list[tuple[str, Load, Row]] = []
    for name, load, marks, reconciling, began in settled:
        rec = await reconciling
        dump_reconciliation(load, rec, log_dir / f"reconciliation-{name}.json")
        row = row_of(f"SIGKILL {name}, restart", load_mode(name), load, rec, marks)
        if name != "writer":
            # the api never stops; recovery = until the backlog held in the broker is applied
            row.recovery_s = began + rec.settle_s - marks["fault_start"]
            row.note = "api kept answering 202; recovery = kill to last accepted report applied"
        ROWS.append(row)
        rows.append((name, load, row))
        check_reconciliation(load, rec)

    for name, load, row in rows:
        db = next(d for n, _, d in SCENARIOS if n == name)
        marks = next(m for n, _, m, _, _ in settled if n == name)
        if name == "writer":
            errors = [o for o in load.outcomes if o.status != 202]
            assert errors, "killing the writer went unnoticed"
            assert {o.status for o in errors} == {503}, load.statuses()
            assert row.recovery_s is not None, "202s did not resume"
            resumed = load.first_202_sent_after(marks["fault_end"])
            assert resumed is not None
            # refusals only from the kill until the proxy has reconnected to the new writer:
            # answered after the kill (a request sent earlier may still be in flight then,
            # and its 503 says "unknown"), sent before the 202s resumed
            assert all(
                o.answered >= marks["fault_start"] - 0.5 and o.sent <= resumed.sent for o in errors
            ), [o for o in errors if o.answered < marks["fault_start"] - 0.5][:3]
            assert row.recovery_s < 5, f"202s resumed only {row.recovery_s:.1f}s after restart"
            await check_retries(load, pipelines.store(db))
        else:
            assert load.statuses() == {202: len(load.outcomes)}, load.statuses()


def load_mode(name: str) -> str:
    """The mode a scenario runs in."""
    return next(mode for n, mode, _ in SCENARIOS if n == name)
