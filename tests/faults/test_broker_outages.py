"""Brokers and Valkey stop or crash under steady load and come back: nothing accepted is lost.

Each scenario posts a few hundred reports a second with client ids, takes one component away
and starts it again with tools/local/infra.sh, keeps loading until 202s resume, and then
reconciles exactly: every id answered 202 is in the Valkey streams once, no id is there
that was never sent, `clima:stats` agrees with the streams, no dead letter was made, and no
report refused before publishing was applied. Then the client resends what was refused,
with the same ids, until every id is accepted, and every report sent is in Valkey exactly once.

A component goes away in one of two ways: `stop` (infra.sh down: a clean shutdown, kept
down 11 s) or `kill` (SIGKILL of its pid, as an OOM kill or a dead node leaves it, and
`infra.sh up` at once). Either way the pipeline must answer 202 again, or for Valkey apply
again, within RECOVERY_BOUND_S of the component being ready.

One outage of a broker is watched by two pipelines at once, one in the broker's own mode and
one in `both`, each with its own topic, queue and Valkey database.
"""

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import valkey
from clima_faults_support import (
    INFRA,
    ROWS,
    Load,
    Pipelines,
    Row,
    abort_for_stacks,
    check_reconciliation,
    check_retries,
    dump,
    dump_reconciliation,
    reconcile,
    row_of,
    under_load,
    wait_until,
)

from clima.writer.settings import WriterSettings

pytestmark = pytest.mark.faults
# a stopped broker stays down longer than the Kafka consumer's 10 s session: its group
# membership expires, and it must join again when the broker is back
OUTAGE_S = 11.0
# from the component being ready again to the first 202 (brokers) or apply (Valkey)
RECOVERY_BOUND_S = 5.0
CRASH_GAP_S = 3.0
# how long the writer waits for a broker's confirm before it answers 503 unknown
PUBLISH_TIMEOUT_S = WriterSettings.model_fields["publish_timeout_s"].default
Fault = Callable[[dict[str, float]], Awaitable[None]]


def take_away(
    how: str, components: list[str], heal: set[str], gap_s: float = 0.0, outage_s: float = OUTAGE_S
) -> Fault:
    """A fault that stops (for `outage_s`) or kills (`gap_s` apart) the components, then
    starts them."""

    async def fault(marks: dict[str, float]) -> None:
        heal.update(components)
        marks["fault_start"] = time.monotonic()
        for index, component in enumerate(components):
            if index:
                await asyncio.sleep(gap_s)
            await asyncio.to_thread(INFRA.kill if how == "kill" else INFRA.stop, component)
        if how == "stop":
            await asyncio.sleep(outage_s)
        await asyncio.to_thread(INFRA.start, *components)
        heal.difference_update(components)
        marks["fault_end"] = time.monotonic()

    return fault


def scenario_name(how: str, components: list[str]) -> str:
    """'rabbit stopped and restarted', 'kafka SIGKILLed and restarted', …"""
    what = " and ".join(components)
    if how == "stop":
        return f"{what} stopped and restarted"
    gap = f", {CRASH_GAP_S:.0f} s apart" if len(components) > 1 else ""
    return f"{what} SIGKILLed{gap}, restarted"


def away(marks: dict[str, float]) -> str:
    """How long the component was away: from the stop or kill to ready again."""
    return f"away {marks['fault_end'] - marks['fault_start']:.1f} s (fault to ready)"


def check_refusals(load: Load, row: Row, log_dir: Path) -> None:
    """Every request that was not accepted got an explicit, fast 503 naming the cause, and
    202s came back within the bound."""
    errors = [o for o in load.outcomes if o.status != 202]
    assert errors, "the outage was never noticed by a client"
    assert {o.status for o in errors} == {503}, load.statuses()
    assert all('"detail"' in o.detail for o in errors)
    # once the writer knows the broker is down it refuses before publishing, and says so
    certain = [o for o in errors if o.upfront]
    assert len(certain) > len(errors) / 2, (
        f"{row.mode}: only {len(certain)} of {len(errors)} refusals say outcome refused"
    )
    assert row.recovery_s is not None, (
        f"{row.mode}: 202s did not resume after the broker came back; the writer was aborted "
        f"to log every thread's stack: see {log_dir}/{row.mode}-db*/writer.log"
    )
    assert row.recovery_s < RECOVERY_BOUND_S, (
        f"{row.mode}: first 202 only {row.recovery_s:.1f}s after the broker was ready "
        f"(bound {RECOVERY_BOUND_S:.0f}s; see {log_dir}/{row.mode}-db*/writer.log)"
    )
    # Most refusals: 1 s, plus what this machine already took to answer before the fault and
    # half as much again: contention stretches every answer by a factor (two cores, two
    # pipelines, three brokers and the load), a refusal included. Never under 2.5 s:
    # restarting a JVM and an Erlang VM at once takes both cores for seconds, whatever the
    # baseline was (a run with a 165 ms baseline refused at 1.5 s p99 while both brokers
    # restarted). The slowest 1 % only have to stay under the writer's publish timeout (5 s),
    # what a refusal that waited on the broker would take at least: in CI a stall of the
    # loaded machine held 13 of 1,301 refusals for 3.4 s once, against a 3.0 s bound.
    errors.sort(key=lambda o: o.latency)
    bound = max(1.0 + 1.5 * row.baseline_p99_s, 2.5)
    p95 = errors[int(0.95 * (len(errors) - 1))].latency
    slowest = "; ".join(
        f"{o.latency:.2f}s at +{o.sent - load.started:.1f}s: {o.detail[:120]}" for o in errors[-5:]
    )
    verdict = (
        f"{row.mode}: 503s are not fast: p95 {p95:.2f}s (bound {bound:.2f}s), p99 "
        f"{row.p99_error_latency_s:.2f}s (bound {PUBLISH_TIMEOUT_S:.0f}s); slowest: {slowest} "
        f"(see {log_dir}/outcomes-{row.mode}.csv)"
    )
    assert p95 < bound, verdict
    assert row.p99_error_latency_s < PUBLISH_TIMEOUT_S, verdict


async def broker_fault(
    scenario: str, modes: list[str], fault: Fault, pipelines: Pipelines, log_dir: Path, tag: str
) -> None:
    """Runs `fault` under load on one pipeline per mode, then reconciles, resends, judges."""
    started = await asyncio.to_thread(pipelines.start_all, *((m, db) for db, m in enumerate(modes)))
    targets = [(p.api_url, f"{tag}-{p.mode}") for p in started]
    loads, marks = await under_load(targets, fault, rate=100 if len(modes) == 1 else 70)
    for pipeline, load in zip(started, loads, strict=True):
        if load.first_202_sent_after(marks["fault_end"]) is None:
            # the writer never came back: its log gets every thread's traceback (F8)
            abort_for_stacks(pipeline, "writer")
            pipeline.restart("writer")
    rows: list[tuple[Load, Row]] = []
    for db, (mode, load) in enumerate(zip(modes, loads, strict=True)):
        store = pipelines.store(db)
        dump(load, marks, log_dir / f"outcomes-{mode}.csv")
        rec = await asyncio.to_thread(reconcile, store, load.accepted(), load.refused())
        dump_reconciliation(load, rec, log_dir / f"reconciliation-{mode}.json")
        if rec.lost:  # a consumer is stuck: its log gets every thread's traceback (F10)
            pipeline = started[db]
            for name in [n for n in pipeline.processes if n.endswith("-consumer")]:
                await asyncio.to_thread(abort_for_stacks, pipeline, name)
                await asyncio.to_thread(pipeline.restart, name)
        row = row_of(scenario, mode, load, rec, marks)
        row.note = "; ".join(filter(None, [away(marks), row.note]))
        ROWS.append(row)
        rows.append((load, row))
        check_reconciliation(load, rec)
        await check_retries(load, store)
    for load, row in rows:
        check_refusals(load, row, log_dir)


@pytest.mark.parametrize("how", ["stop", "kill"])
@pytest.mark.parametrize("component", ["rabbit", "kafka"])
async def test_broker_outage(
    component: str, how: str, pipelines: Pipelines, heal: set[str], log_dir: Path
) -> None:
    """A broker stops or crashes mid-load: 503 fast while it is away, 202 again within the
    bound by itself, nothing lost."""
    fault = take_away(how, [component], heal)
    scenario = scenario_name(how, [component])
    await broker_fault(scenario, [component, "both"], fault, pipelines, log_dir, component)


async def test_two_brokers_crash_apart(pipelines: Pipelines, heal: set[str], log_dir: Path) -> None:
    """RabbitMQ, then Kafka 3 s later, are SIGKILLed under load in `both` mode and started
    together: the writer and both consumers recover both connections."""
    components = ["rabbit", "kafka"]
    fault = take_away("kill", components, heal, gap_s=CRASH_GAP_S)
    scenario = scenario_name("kill", components)
    await broker_fault(scenario, ["both"], fault, pipelines, log_dir, "crash2")


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_valkey_outage(how: str, pipelines: Pipelines, heal: set[str], log_dir: Path) -> None:
    """Valkey stops or crashes mid-load: the api keeps accepting, consumers hold the reports
    and retry, and apply again within the bound."""
    pipeline = await asyncio.to_thread(pipelines.start, "both")
    store = pipelines.store()
    resumed: dict[str, float] = {}

    def applied() -> int:
        try:
            return int(store.hget("clima:stats", "applied") or 0)
        except valkey.exceptions.ConnectionError:
            return -1

    take = take_away(how, ["valkey"], heal, outage_s=4.0)

    async def fault(marks: dict[str, float]) -> None:
        await take(marks)
        before = applied()
        await wait_until(lambda: applied() > before, 30)
        resumed["at"] = time.monotonic()

    [load], marks = await under_load([(pipeline.api_url, f"valkey-{how}")], fault)
    dump(load, marks, log_dir / "outcomes.csv")
    rec = await asyncio.to_thread(reconcile, store, load.accepted(), load.refused())
    dump_reconciliation(load, rec, log_dir / "reconciliation.json")
    row = row_of(scenario_name(how, ["valkey"]), "both", load, rec, marks)
    row.recovery_s = resumed["at"] - marks["fault_end"]
    row.note = f"{away(marks)}; the api does not need Valkey; recovery = first apply after it"
    ROWS.append(row)
    check_reconciliation(load, rec)
    assert not rec.refused_but_applied
    assert load.statuses() == {202: len(load.outcomes)}, load.statuses()
    assert row.recovery_s < RECOVERY_BOUND_S, f"first apply {row.recovery_s:.1f}s after ready"


KAFKA_CYCLES = int(os.environ.get("CLIMA_FAULT_KAFKA_CYCLES", "3"))


@pytest.mark.timeout(120 + 60 * KAFKA_CYCLES)  # about 40 s a cycle on two cores
async def test_kafka_stopped_and_restarted_again_and_again(
    pipelines: Pipelines, heal: set[str], log_dir: Path
) -> None:
    """Kafka is stopped and restarted CLIMA_FAULT_KAFKA_CYCLES times in a row (3 here; 20 by
    hand, docs/faults.md) under load, one pipeline throughout: after every restart 202s
    resume within the bound, and every id sent so far is in Valkey exactly once. Once, on a
    loaded machine, 202s did not come back for 55 s while every broker answered (F16)."""
    pipeline = await asyncio.to_thread(pipelines.start, "kafka")
    store = pipelines.store()
    sent: set[str] = set()  # every id of the earlier cycles, each accepted in the end
    for cycle in range(1, KAFKA_CYCLES + 1):
        fault = take_away("stop", ["kafka"], heal)
        [load], marks = await under_load([(pipeline.api_url, f"cycle{cycle}")], fault)
        if load.first_202_sent_after(marks["fault_end"]) is None:
            abort_for_stacks(pipeline, "writer")  # its log gets every thread's stack (F8)
            pipeline.restart("writer")
        dump(load, marks, log_dir / f"outcomes-cycle{cycle}.csv")
        rec = await asyncio.to_thread(reconcile, store, sent | load.accepted(), load.refused())
        scenario = f"kafka stopped and restarted, cycle {cycle} of {KAFKA_CYCLES}"
        row = row_of(scenario, "kafka", load, rec, marks)
        row.note = away(marks)
        ROWS.append(row)
        check_reconciliation(load, rec)
        check_refusals(load, row, log_dir)
        await load.resend_refused()
        sent |= load.accepted() | load.refused()
        rec = await asyncio.to_thread(reconcile, store, sent, set())
        assert not rec.lost, f"cycle {cycle}: resent reports not in Valkey: {rec.lost[:5]}"
        assert not rec.duplicated, f"cycle {cycle}: applied twice: {rec.duplicated[:5]}"
        assert not rec.unknown, f"cycle {cycle}: never sent: {rec.unknown[:5]}"
        assert rec.stats_applied == rec.applied == len(sent)
