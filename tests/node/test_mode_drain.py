"""A mode change under traffic on the real node: the broker the mode leaves drains first.

The sample pipeline (mode both) is switched to rabbit (Kafka drains, quietly), its rabbit
consumer scaled to 0 so that reports pile up in RabbitMQ, then, while reports keep flowing,
switched to kafka, and in the same edit RabbitMQ to `external` at an address that does not
exist: the managed RabbitMQ, which holds the reports, must stay, with the status saying
"draining", until the drain Job has applied that backlog from it, and only then go. Every
id answered 202 is counted exactly once. The operator is restarted in the middle of the
drain. The module puts the pipeline back as the sample has it for the other node tests.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from node_support import PIPELINE, Cluster, eventually, record

pytestmark = [pytest.mark.node, pytest.mark.timeout(3600)]
COMPONENT = "app.kubernetes.io/component"
REPORTS = 8000  # 100 single POSTs, then batches of 50, 0.3 s apart: about two minutes
#: RabbitMQ made external, at no address that exists, in the edit that leaves it: the reports
#: are in the managed one, which must drain as it was
ELSEWHERE = {
    "type": "external",
    "external": {
        "address": "rabbitmq.elsewhere.invalid:5672",
        "secretRef": {"name": "rabbitmq-elsewhere", "key": "password"},
    },
}


@dataclass
class Seen:
    """What polling the pipeline's objects once a second saw during a drain."""

    store: str
    consumer: str
    condition: str
    samples: list[dict[str, Any]] = field(default_factory=list)
    job_log: str = ""
    depths: list[int] = field(default_factory=list)  # RabbitMQ's queue while writers roll

    def backlog(self) -> int | None:
        """The first count of messages left that the drain Job logged."""
        found = re.search(r"messages left to apply: (\d+)", self.job_log)
        return int(found.group(1)) if found else None

    def sample(self, cluster: Cluster) -> dict[str, Any]:
        listed = cluster.json("get", "climapipeline,statefulset,deployment,job,pod")["items"]
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for item in listed:
            by_kind.setdefault(item["kind"], []).append(item)
        (pipeline,) = by_kind["ClimaPipeline"]
        status = pipeline.get("status", {})
        conditions = {c["type"]: c for c in status.get("conditions", [])}
        names = {(i["kind"], i["metadata"]["name"]) for i in listed}
        consumer_pods = [
            p["metadata"]["name"] for p in by_kind.get("Pod", [])
            if p["metadata"].get("labels", {}).get(COMPONENT) == self.consumer
        ]  # fmt: skip
        job_name = f"{PIPELINE}-{self.consumer}-drain"
        jobs = [j for j in by_kind.get("Job", []) if j["metadata"]["name"] == job_name]
        job = jobs[0] if jobs else None
        job_conditions = (job or {}).get("status", {}).get("conditions", [])
        found = {
            "t": time.monotonic(),
            "job_done": any(
                c["type"] == "Complete" and c["status"] == "True" for c in job_conditions
            ),
            "phase": status.get("phase"),
            "ready": conditions.get("Ready", {}).get("status"),
            "draining": conditions.get(self.condition),
            # every other component ready: the drain is all that is left to do
            "only_drain": all(
                c["status"] == "True"
                for kind, c in conditions.items()
                if kind.endswith("Ready") and kind not in ("Ready", self.condition)
            ),
            "store": ("StatefulSet", f"{PIPELINE}-{self.store}") in names,
            "deployment": ("Deployment", f"{PIPELINE}-{self.consumer}") in names,
            "job": job is not None,
            "consumer_pods": consumer_pods,
        }
        self.samples.append(found)
        return found


def _queue_depth(cluster: Cluster) -> int:
    """Messages in RabbitMQ's queue ``clima``, by rabbitmqctl inside its pod."""
    done = cluster.kubectl(
        "exec", f"{PIPELINE}-rabbitmq-0", "-c", "rabbitmq", "--", "rabbitmqctl", "-q",
        "list_queues", "name", "messages", check=False,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        name, _, count = line.partition("\t")
        if name.strip() == "clima" and count.strip().isdigit():
            return int(count)
    return 0


def _job_log(cluster: Cluster, seen: Seen) -> str:
    done = cluster.kubectl("logs", f"job/{PIPELINE}-{seen.consumer}-drain", check=False)
    return done.stdout if done.returncode == 0 else ""


def _drain(cluster: Cluster, patch: dict[str, Any], seen: Seen, on_job: Any = None) -> float:
    """Patches the spec (a new mode) and samples until the left broker and its consumer are
    gone and the pipeline is Ready; the seconds that took. The drain Job's log is kept in
    ``seen``."""
    started = time.monotonic()
    cluster.patch_spec(patch)
    restarted = False
    while True:
        now = seen.sample(cluster)
        if now["job"] and on_job is not None and not restarted:
            on_job()
            restarted = True
        if now["job"] and now["consumer_pods"]:
            seen.job_log = _job_log(cluster, seen) or seen.job_log
        waiting = (now["draining"] or {}).get("reason") == "WaitingForWriters"
        if waiting and seen.store == "rabbitmq":
            seen.depths.append(_queue_depth(cluster))
        gone = not (now["store"] or now["deployment"] or now["job"] or now["consumer_pods"])
        if gone and now["ready"] == "True" and now["draining"] is None:
            return time.monotonic() - started
        assert time.monotonic() - started < 900, f"drain not done after 900s: {now}"
        time.sleep(1)


def _while_draining(seen: Seen) -> list[dict[str, Any]]:
    return [s for s in seen.samples if s["draining"] is not None]


@pytest.fixture(scope="module")
def rabbit_mode(cluster: Cluster) -> Iterator[float]:
    """The sample switched from both to rabbit (Kafka drains); back to both afterwards."""
    seen = Seen("kafka", "kafka-consumer", "KafkaDraining")
    took = _drain(cluster, {"mode": "rabbit"}, seen)
    print(f"both -> rabbit: Kafka drained and removed in {took:.0f}s (no traffic)")
    assert _while_draining(seen), "the status never said Kafka was draining"
    yield took
    cluster.patch_spec(
        {"mode": "both", "rabbitmq": {"type": "managed"}, "rabbitConsumer": {"replicas": 1}}
    )
    eventually(lambda: cluster.condition("Ready").get("status") == "True", timeout=600, interval=2)


def test_mode_change_under_traffic_drains_rabbitmq_before_removing_it(
    cluster: Cluster, rabbit_mode: float
) -> None:
    """rabbit -> kafka, RabbitMQ made external in the same edit, while reports flow (and
    the operator restarted mid-drain): the managed RabbitMQ and a rabbit consumer run while
    the status says draining, then go; the pipeline is Ready again, a DrainCompleted event
    was posted, and Valkey counted every id once."""
    cluster.patch_spec({"rabbitConsumer": {"replicas": 0}})  # a backlog for the drain
    eventually(lambda: not Seen("rabbitmq", "rabbit-consumer", "").sample(cluster)[
        "consumer_pods"], timeout=120, interval=2)  # fmt: skip
    traffic = cluster.traffic_in_background(reports=REPORTS, timeout=900, pace=0.3)
    seen = Seen("rabbitmq", "rabbit-consumer", "RabbitmqDraining")

    def restart_operator() -> None:
        cluster.kubectl("delete", "pod", "-l", f"{COMPONENT}=operator", "--wait=false")

    try:
        time.sleep(15)  # reports flow through RabbitMQ
        assert traffic.poll() is None, "the traffic ended before the mode change"
        took = _drain(cluster, {"mode": "kafka", "rabbitmq": ELSEWHERE}, seen, restart_operator)
        flowing = traffic.poll() is None
        out, _ = traffic.communicate(timeout=1200)
    finally:
        traffic.kill()
    draining = _while_draining(seen)
    assert draining, "the status never said RabbitMQ was draining"
    # RabbitMQ goes only after its drain Job succeeded (the operator deletes the StatefulSet,
    # then the Job, then writes the status: a sample may fall in between)
    job_seen = False
    for sample in seen.samples:
        job_seen = job_seen or sample["job"]
        if not sample["store"]:
            assert job_seen, f"RabbitMQ went before any drain Job ran: {sample}"
            assert sample["job_done"] or not sample["job"], f"RabbitMQ went early: {sample}"
        elif sample["draining"] is not None:
            assert sample["deployment"] or sample["job"], f"no rabbit consumer: {sample}"
    assert any(s["job"] and s["consumer_pods"] for s in draining), "no drain pod seen"
    backlog = max(seen.depths, default=0)
    assert backlog > 0, f"RabbitMQ held no backlog for the drain: {seen.depths}"
    with_pods = sum(1 for s in draining if s["consumer_pods"])
    reasons = {s["draining"]["reason"] for s in draining}
    assert {"WaitingForWriters", "Consuming"} <= reasons, reasons
    # the phase says Draining whenever the drain is all that is left, Progressing while
    # other components still start (three Kafka nodes come back beside the drain)
    assert {s["phase"] for s in draining} <= {"Draining", "Progressing"}, draining
    assert all(s["phase"] == "Draining" for s in draining if s["only_drain"]), draining
    assert any(s["job"] for s in draining), "no drain Job ran"
    events = cluster.kubectl(
        "get", "events", "--field-selector", "reason=DrainCompleted", "-o",
        "custom-columns=MSG:.message", "--no-headers",
    ).stdout  # fmt: skip
    assert "RabbitMQ drained" in events, events
    # kubectl lists events in no set order, and the idle Kafka drain before this one posted
    # its own
    completed = next(line for line in events.splitlines() if line.startswith("RabbitMQ drained"))
    # the drain pod's own count, through its termination message
    assert re.search(r"\(rabbit drained: \d+ reports applied, \d+ duplicates", completed), completed
    assert traffic.returncode == 0, out
    assert f"applied by this run: {REPORTS} of {REPORTS} ids" in out, out
    first = draining[0]["t"]
    stages = {
        reason: max(s["t"] for s in draining if s["draining"]["reason"] == reason) - first
        for reason in reasons
    }
    line = (
        f"rabbit -> kafka under traffic: RabbitMQ drained and removed {took:.0f}s after the "
        f"patch (writers rolled out after {stages.get('WaitingForWriters', 0):.0f}s, drain "
        f"Job done after {stages.get('Consuming', 0):.0f}s); Kafka (both -> rabbit, idle) "
        f"took {rabbit_mode:.0f}s; RabbitMQ's queue held up to {backlog} messages (of up to "
        f"50 reports each) while the writers rolled out, the drain Job's first count was "
        f"{seen.backlog()}, and it said: {completed}; rabbit consumer pods seen in "
        f"{with_pods} of {len(draining)} draining samples; traffic still flowing when the "
        f"drain ended: {flowing}\n"
        f"{out.strip().splitlines()[-1]}"
    )
    record("node-mode-drain.txt", line)
