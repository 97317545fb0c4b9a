"""Mode changes that drain: a broker the mode leaves stays until every report it accepted is
in Valkey, and only then goes with its consumer.

A writer answered 202 for each report a broker holds, so deleting the broker (and its volume)
as soon as ``spec.mode`` stops naming it would lose reports. Instead a leaving broker goes
through three stages, each read from what the API server shows (a restarted operator picks a
drain up where it was; nothing is kept in memory):

========== ============================================================ =====================
stage      when                                                         kept
========== ============================================================ =====================
writers    the writer Deployment still names the broker, its rollout   broker, consumer
           is unfinished, or a writer pod (even a terminating one)
           still has a ``WRITER_TARGET`` that sends to it
consuming  no writer can publish to it any more                        broker, drain Job
drained    the drain Job succeeded: the broker held nothing for a while nothing
========== ============================================================ =====================

A Job that failed is replaced by a new one. A spec that uses the broker again simply takes
it back: it is no longer leaving, so its consumer Deployment returns and the drain Job goes.

A broker drains *as it was*, not as the spec now describes it: a mode change may come with a
new ``type`` or address for the broker it leaves (managed to external, a managed Kafka
disabled), and the reports wait in the old one. Every broker object (StatefulSet, consumer
Deployment, drain Job) carries the broker's spec it was built from in the annotation
``clima.io/broker-spec``; a leaving broker is rebuilt from that record. For the same reason a
broker the mode still uses keeps the ``type`` it was built with: a new one is refused (see
:func:`as_built`), since the writers would move to the new broker and the old one, holding
reports, would be pruned. Everything here is plain functions of the spec, the live children
and the pods.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from clima import wiring
from clima_operator.children import (
    COMPONENT_LABEL,
    Context,
    Manifest,
    credentials,
    desired,
    placement,
)
from clima_operator.children import drain as drain_job
from clima_operator.children._clima import clima_deployment
from clima_operator.children.consumers import KAFKA_COMPONENT, RABBIT_COMPONENT
from clima_operator.children.kafka import COMPONENT as KAFKA_STORE
from clima_operator.children.kafka import build as kafka_objects
from clima_operator.children.network import build as network_policies
from clima_operator.children.rabbitmq import COMPONENT as RABBIT_STORE
from clima_operator.children.rabbitmq import build as rabbit_objects
from clima_operator.children.writer import COMPONENT as WRITER
from clima_operator.crd import GROUP
from clima_operator.spec import KafkaSpec, RabbitmqSpec

ChildKey = tuple[str, str]
BrokerSpec = KafkaSpec | RabbitmqSpec
#: set by the Job controller on the pods of a Job
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
#: on a broker's StatefulSet, consumer Deployment and drain Job: the broker's spec (JSON)
#: they were built from
BROKER_SPEC_ANNOTATION = f"{GROUP}/broker-spec"


@dataclass(frozen=True)
class Broker:
    """A broker as the drain sees it: its names and the modes that publish to it."""

    name: str  # as in WRITER_TARGET and `clima consumer <name>`
    title: str
    store: str  # the managed StatefulSet's component
    consumer: str  # the consumer's component
    modes: frozenset[str]
    condition: str
    field: str  # its field in the spec
    model: type[BrokerSpec]


KAFKA = Broker(
    wiring.KAFKA, "Kafka", KAFKA_STORE, KAFKA_COMPONENT,
    frozenset(wiring.modes_using(wiring.KAFKA)), "KafkaDraining", "kafka", KafkaSpec,
)  # fmt: skip
RABBIT = Broker(
    wiring.RABBIT, "RabbitMQ", RABBIT_STORE, RABBIT_COMPONENT,
    frozenset(wiring.modes_using(wiring.RABBIT)), "RabbitmqDraining", "rabbitmq", RabbitmqSpec,
)  # fmt: skip
BROKERS = (KAFKA, RABBIT)


class Stage(enum.Enum):
    """Where a leaving broker's drain stands; the value is its condition's reason."""

    WRITERS = "WaitingForWriters"
    CONSUMING = "Consuming"
    FAILED = "DrainJobFailed"
    DRAINED = "Drained"


@dataclass(frozen=True)
class Drain:
    """One leaving broker: its stage, what the status says, and its drain Job if any."""

    broker: Broker
    stage: Stage
    message: str
    job: Manifest | None = None


def _children(ctx: Context, broker: Broker) -> list[ChildKey]:
    owner = ctx.owner
    return [
        ("StatefulSet", owner.child(broker.store)),
        ("Deployment", owner.child(broker.consumer)),
        ("Job", drain_job.job_name(owner, broker.name)),
    ]


def leaving(ctx: Context, live: Mapping[ChildKey, Manifest]) -> list[Broker]:
    """Brokers the mode no longer uses that still have a StatefulSet, consumer or drain Job."""
    return [
        broker
        for broker in BROKERS
        if ctx.spec.mode not in broker.modes and any(k in live for k in _children(ctx, broker))
    ]


def sends_to(pod_spec: Mapping[str, Any], broker: Broker) -> bool:
    """Whether the writer container of a pod (template) may publish to ``broker``; a writer
    without ``WRITER_TARGET`` is assumed to publish everywhere."""
    for container in pod_spec.get("containers") or []:
        if container.get("name") != WRITER:
            continue
        for item in container.get("env") or []:
            if item.get("name") == wiring.MODE_ENV.name:
                return item.get("value") in broker.modes
        return True
    return False


def _finished(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def publishing(broker: Broker, writer: Manifest | None, pods: Sequence[Manifest]) -> str | None:
    """Why a writer may still publish to ``broker``, or None when none can any more."""
    if writer is not None:
        template = ((writer.get("spec") or {}).get("template") or {}).get("spec") or {}
        if sends_to(template, broker):
            return "the writer Deployment still sends to it"
        status = writer.get("status") or {}
        generation = int((writer.get("metadata") or {}).get("generation") or 0)
        if int(status.get("observedGeneration") or 0) < generation:
            return "the writer rollout has not started yet"
        total, updated = int(status.get("replicas") or 0), int(status.get("updatedReplicas") or 0)
        if updated < total:
            return f"writer rollout: {updated}/{total} pods on the new template"
    old = [
        pod
        for pod in pods
        if (pod.get("metadata") or {}).get("labels", {}).get(COMPONENT_LABEL) == WRITER
        and not _finished(pod)
        and sends_to(pod.get("spec") or {}, broker)
    ]
    if old:
        return f"{len(old)} writer pod(s) still publish to it"
    return None


def job_outcome(job: Manifest) -> str:
    """``succeeded``, ``failed`` or ``running``, from the Job's conditions."""
    conditions = {
        item.get("type"): item.get("status")
        for item in (job.get("status") or {}).get("conditions") or []
    }
    if "True" in (conditions.get("Complete"), conditions.get("SuccessCriteriaMet")):
        return "succeeded"
    if "True" in (conditions.get("Failed"), conditions.get("FailureTarget")):
        return "failed"
    return "running"


def job_seconds(job: Manifest) -> int | None:
    """How long the Job ran, from its start and completion times."""
    status = job.get("status") or {}
    try:
        start = datetime.fromisoformat(str(status["startTime"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(status["completionTime"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return int((end - start).total_seconds())


def job_summary(name: str, pods: Sequence[Manifest]) -> str | None:
    """What the drain consumer of Job ``name`` left as its termination message when it
    succeeded (how many reports it applied), from the Job's pod; None if there is none."""
    for pod in pods:
        if ((pod.get("metadata") or {}).get("labels") or {}).get(JOB_NAME_LABEL) != name:
            continue
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            ended = (status.get("state") or {}).get("terminated") or {}
            message = str(ended.get("message") or "").strip()
            if ended.get("exitCode") == 0 and message:
                return message.splitlines()[-1][:300]
    return None


def _stage(
    ctx: Context,
    broker: Broker,
    job: Manifest | None,
    waiting: str | None,
    pods: Sequence[Manifest] = (),
) -> Drain:
    title, name = broker.title, drain_job.job_name(ctx.owner, broker.name)
    if waiting is not None:
        message = (
            f"{title} draining: waiting for the writer rollout ({waiting}); it and its consumer "
            "stay until every report it accepted is applied"
        )
        return Drain(broker, Stage.WRITERS, message, job)
    outcome = job_outcome(job) if job is not None else None
    if outcome == "succeeded":
        took = job_seconds(job or {})
        ran = f" in {took}s" if took is not None else ""
        summary = job_summary(name, pods)
        told = f" ({summary})" if summary else ""
        message = f"{title} drained: Job {name} applied everything it held{ran}{told}"
        return Drain(broker, Stage.DRAINED, message, job)
    if outcome == "failed":
        message = f"{title} draining: Job {name} failed; starting another (kubectl logs job/{name})"
        return Drain(broker, Stage.FAILED, message, job)
    message = (
        f"{title} draining: no writer publishes to it any more; Job {name} applies what it "
        f"still holds and ends once it has held nothing for {drain_job.QUIET_S}s "
        f"(kubectl logs job/{name} shows how many are left)"
    )
    return Drain(broker, Stage.CONSUMING, message, job)


def plan(ctx: Context, live: Mapping[ChildKey, Manifest], pods: Sequence[Manifest]) -> list[Drain]:
    """The drain of every leaving broker, from the live children and the pipeline's pods."""
    writer = live.get(("Deployment", ctx.owner.child(WRITER)))
    drains = []
    for broker in leaving(ctx, live):
        job = live.get(("Job", drain_job.job_name(ctx.owner, broker.name)))
        drains.append(_stage(ctx, broker, job, publishing(broker, writer, pods), pods))
    return drains


def recorded(ctx: Context, live: Mapping[ChildKey, Manifest], broker: Broker) -> BrokerSpec | None:
    """The broker's spec its live objects were built from (their ``clima.io/broker-spec``);
    None when none of them carries a readable one (objects of an older operator)."""
    for key in _children(ctx, broker):
        annotations = ((live.get(key) or {}).get("metadata") or {}).get("annotations") or {}
        text = annotations.get(BROKER_SPEC_ANNOTATION)
        if text is None:
            continue
        try:
            return broker.model.model_validate(json.loads(text))
        except ValueError:
            continue
    return None


def record(ctx: Context, objects: list[Manifest]) -> list[Manifest]:
    """Annotates each broker's StatefulSet, consumer Deployment and drain Job among
    ``objects`` with the broker's spec in ``ctx`` (what they are built from), in place."""
    for broker in BROKERS:
        keys = set(_children(ctx, broker))
        text = getattr(ctx.spec, broker.field).model_dump_json(by_alias=True)
        for item in objects:
            if (item["kind"], item["metadata"]["name"]) in keys:
                item["metadata"].setdefault("annotations", {})[BROKER_SPEC_ANNOTATION] = text
    return objects


def as_built(
    ctx: Context, live: Mapping[ChildKey, Manifest]
) -> tuple[Context, dict[ChildKey, str]]:
    """The context with every broker the mode uses whose ``type`` changed since its live
    objects were built set back to what they were built from, and why, per refused change
    (keyed by the broker's consumer Deployment, whose condition shows it).

    A broker in use cannot change type in place: the writers would publish to the new one at
    once and the old one, with the reports it holds, would be pruned before anything applied
    them. The way is to leave it by a mode change (it drains as it was), then come back."""
    update: dict[str, Any] = {}
    refused: dict[ChildKey, str] = {}
    for broker in BROKERS:
        if ctx.spec.mode not in broker.modes:
            continue
        was, now = recorded(ctx, live, broker), getattr(ctx.spec, broker.field)
        if was is None or was.type == now.type:
            continue
        update[broker.field] = was
        path = f"spec.{broker.field}.type"
        refused[("Deployment", ctx.owner.child(broker.consumer))] = (
            f"{path} changed from {was.type} to {now.type} while spec.mode {ctx.spec.mode} "
            f"uses {broker.title}: the {was.type} {broker.title} may hold reports not yet "
            f"applied, so the pipeline keeps it as it was. To move, set spec.mode to one "
            f"without {broker.title} (it drains; see {broker.condition}), then change {path} "
            f"and the mode back; or set {path} back to {was.type}"
        )
    if not update:
        return ctx, refused
    return replace(ctx, spec=ctx.spec.model_copy(update=update)), refused


def widened(
    ctx: Context, brokers: Sequence[Broker], live: Mapping[ChildKey, Manifest] | None = None
) -> Context:
    """The context as if the mode still used ``brokers`` too (both brokers, then), each as
    its ``live`` objects were built (see :func:`recorded`), so the builders make the leaving
    broker's objects exactly as they were. A broker without a record is taken from the spec,
    as managed if the spec now disables it."""
    spec = ctx.spec
    update: dict[str, Any] = {"mode": "both"}
    for broker in brokers:
        current = getattr(spec, broker.field)
        was = recorded(ctx, live, broker) if live else None
        if was is not None:
            update[broker.field] = was
        elif current.type == "disabled":
            update[broker.field] = current.model_copy(update={"type": "managed"})
    return replace(ctx, spec=spec.model_copy(update=update))


def kept(wide: Context, drain: Drain) -> list[Manifest]:
    """What of a leaving broker stays in this stage (``wide``: :func:`widened`)."""
    if drain.stage is Stage.DRAINED:
        return []
    store = kafka_objects(wide) if drain.broker is KAFKA else rabbit_objects(wide)
    if drain.stage is Stage.WRITERS:
        consumer = drain_job.process(wide, drain.broker.name)
        return [*store, clima_deployment(wide, consumer)]
    if drain.stage is Stage.CONSUMING:
        return [*store, drain_job.build(wide, drain.broker.name)]
    return store  # FAILED: the failed Job is deleted; the next pass starts a new one


def manifests(
    ctx: Context, drains: Sequence[Drain], live: Mapping[ChildKey, Manifest] | None = None
) -> list[Manifest]:
    """Every object the pipeline should have: the spec's, plus what leaving brokers keep, as
    they were built (and the NetworkPolicies that let their consumers reach them and
    Valkey); each broker's objects record the spec they are built from."""
    objects = record(ctx, desired(ctx))
    active = [drain for drain in drains if drain.stage is not Stage.DRAINED]
    if not active:
        return objects
    wide = widened(ctx, [drain.broker for drain in active], live)
    objects = [item for item in objects if item["kind"] != "NetworkPolicy"]
    objects += network_policies(wide)
    for drain in active:
        objects += record(wide, credentials.seal(wide, placement.place(wide, kept(wide, drain))))
    return objects
