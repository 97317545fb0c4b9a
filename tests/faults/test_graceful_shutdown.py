"""Every process drains on SIGTERM under load, exits 0, and nothing it accepted is lost."""

import asyncio
import time
from pathlib import Path

import pytest
from clima_faults_support import (
    PROCESSES,
    ROWS,
    Pipelines,
    check_reconciliation,
    check_retries,
    dump,
    dump_reconciliation,
    reconcile,
    row_of,
    under_load,
)

pytestmark = pytest.mark.faults


async def test_sigterm_each_process_under_load(pipelines: Pipelines, log_dir: Path) -> None:
    """api, proxy, writer and both consumers, in turn: SIGTERM, exit 0, restart; all applied."""
    pipeline = await asyncio.to_thread(pipelines.start, "both")
    store = pipelines.store()
    codes: dict[str, int] = {}
    drain_s: dict[str, float] = {}

    async def fault(marks: dict[str, float]) -> None:
        marks["fault_start"] = time.monotonic()
        for name in PROCESSES:
            began = time.monotonic()
            codes[name] = await asyncio.to_thread(pipeline.terminate, name, 30)
            drain_s[name] = time.monotonic() - began
            await asyncio.to_thread(pipeline.restart, name)
            await asyncio.sleep(0.5)
        marks["fault_end"] = time.monotonic()

    [load], marks = await under_load([(pipeline.api_url, "sigterm")], fault)
    dump(load, marks, log_dir / "outcomes.csv")
    rec = await asyncio.to_thread(reconcile, store, load.accepted(), load.refused())
    dump_reconciliation(load, rec, log_dir / "reconciliation.json")
    row = row_of("SIGTERM each process in turn, restart", "both", load, rec, marks)
    stops = ", ".join(f"{n} {drain_s[n]:.1f} s" for n in PROCESSES)
    row.note = "; ".join(filter(None, [f"exit codes {codes}; time to exit: {stops}", row.note]))
    ROWS.append(row)
    assert codes == dict.fromkeys(PROCESSES, 0), f"unclean exits: {codes}"
    check_reconciliation(load, rec)
    assert not rec.refused_but_applied, "a drained process applied reports it answered as failed"
    await check_retries(load, store)
