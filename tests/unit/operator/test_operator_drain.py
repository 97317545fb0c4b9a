"""The drain decision and the drain Job: which brokers drain, in which stage, what stays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clima_operator import drain
from clima_operator.children import Context
from clima_operator.children import drain as drain_job
from clima_operator.status import ComponentState, Observation, component_states
from clima_operator.status.conditions import phase, summarize

Build = Callable[..., Context]
Live = dict[tuple[str, str], dict[str, Any]]


def _writer(target: str, generation: int = 2, observed: int = 2, replicas: int = 1,
            updated: int = 1) -> dict[str, Any]:  # fmt: skip
    """A live writer Deployment whose template sends to ``target``."""
    container = {"name": "writer", "env": [{"name": "WRITER_TARGET", "value": target}]}
    return {
        "kind": "Deployment",
        "metadata": {"name": "demo-writer", "generation": generation},
        "spec": {"template": {"spec": {"containers": [container]}}},
        "status": {"observedGeneration": observed, "replicas": replicas,
                   "updatedReplicas": updated},
    }  # fmt: skip


def _writer_pod(target: str, phase: str = "Running", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"demo-writer-{target}", "labels": {
        "app.kubernetes.io/component": "writer", "clima.io/pipeline": "demo"}}  # fmt: skip
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    container = {"name": "writer", "env": [{"name": "WRITER_TARGET", "value": target}]}
    return {"metadata": meta, "spec": {"containers": [container]}, "status": {"phase": phase}}


def _job(*conditions: str) -> dict[str, Any]:
    return {
        "kind": "Job",
        "metadata": {"name": "demo-rabbit-consumer-drain"},
        "spec": {"selector": {"matchLabels": {"controller-uid": "j1"}}},
        "status": {
            "conditions": [{"type": kind, "status": "True"} for kind in conditions],
            "startTime": "2025-01-01T00:00:00Z",
            "completionTime": "2025-01-01T00:00:42Z",
        },
    }


def _rabbit_left(**extra: dict[str, Any]) -> Live:
    """What a pipeline switched from rabbit to kafka still has of RabbitMQ."""
    live: Live = {
        ("StatefulSet", "demo-rabbitmq"): {"kind": "StatefulSet"},
        ("Deployment", "demo-rabbit-consumer"): {"kind": "Deployment"},
    }
    for name, obj in extra.items():
        live[(obj["kind"], name)] = obj
    return live


def test_a_broker_the_mode_still_uses_never_drains(make_ctx: Build) -> None:
    """In mode both nothing leaves, whatever runs."""
    assert drain.leaving(make_ctx({"mode": "both"}), _rabbit_left()) == []


def test_a_broker_with_nothing_left_does_not_drain(make_ctx: Build) -> None:
    """A kafka pipeline that never had RabbitMQ has nothing to drain."""
    assert drain.leaving(make_ctx({"mode": "kafka"}), {}) == []


@pytest.mark.parametrize(
    "left", [("StatefulSet", "demo-rabbitmq"), ("Deployment", "demo-rabbit-consumer"),
             ("Job", "demo-rabbit-consumer-drain")],
)  # fmt: skip
def test_anything_of_a_left_broker_makes_it_drain(make_ctx: Build, left: tuple[str, str]) -> None:
    """Its StatefulSet, consumer or drain Job alone marks RabbitMQ as leaving (so a restarted
    operator finds every drain again)."""
    assert drain.leaving(make_ctx({"mode": "kafka"}), {left: {}}) == [drain.RABBIT]


def test_leaving_kafka_is_a_drain_too(make_ctx: Build) -> None:
    """random -> rabbit leaves Kafka."""
    live: Live = {("StatefulSet", "demo-kafka"): {}}
    assert drain.leaving(make_ctx({"mode": "rabbit"}), live) == [drain.KAFKA]


@pytest.mark.parametrize(
    ("writer", "pods", "why"),
    [
        (_writer("rabbit"), [], "the writer Deployment still sends to it"),
        (_writer("both"), [], "the writer Deployment still sends to it"),
        (_writer("kafka", generation=3, observed=2), [], "the writer rollout has not started"),
        (_writer("kafka", replicas=2, updated=1), [], "writer rollout: 1/2 pods"),
        (_writer("kafka"), [_writer_pod("random", deleting=True)], "1 writer pod(s) still"),
        (None, [_writer_pod("rabbit", phase="Pending")], "1 writer pod(s) still"),
    ],
)
def test_writers_that_may_still_publish_hold_the_drain(
    writer: dict[str, Any] | None, pods: list[dict[str, Any]], why: str
) -> None:
    """The Deployment's template, its rollout, and every pod not finished (a terminating one
    included) must all have stopped sending to the broker."""
    found = drain.publishing(drain.RABBIT, writer, pods)
    assert found is not None
    assert found.startswith(why), found


def test_no_writer_publishing_frees_the_drain() -> None:
    """Finished pods and pods sending elsewhere do not count."""
    pods = [_writer_pod("kafka"), _writer_pod("rabbit", phase="Succeeded")]
    assert drain.publishing(drain.RABBIT, _writer("kafka"), pods) is None


def _stage(make_ctx: Build, live: Live, pods: list[dict[str, Any]] | None = None) -> drain.Drain:
    (found,) = drain.plan(make_ctx({"mode": "kafka"}), live, pods or [])
    return found


def test_stages_follow_the_writers_and_the_job(make_ctx: Build) -> None:
    """writers -> consuming (no Job yet, then a running Job) -> drained; a failed Job is
    its own stage."""
    old = _rabbit_left(**{"demo-writer": _writer("rabbit")})
    assert _stage(make_ctx, old).stage is drain.Stage.WRITERS
    rolled = _rabbit_left(**{"demo-writer": _writer("kafka")})
    assert _stage(make_ctx, rolled).stage is drain.Stage.CONSUMING
    running = {**rolled, ("Job", "demo-rabbit-consumer-drain"): _job()}
    assert _stage(make_ctx, running).stage is drain.Stage.CONSUMING
    done = {**rolled, ("Job", "demo-rabbit-consumer-drain"): _job("Complete")}
    drained = _stage(make_ctx, done)
    assert drained.stage is drain.Stage.DRAINED
    assert "in 42s" in drained.message
    failed = {**rolled, ("Job", "demo-rabbit-consumer-drain"): _job("Failed")}
    assert _stage(make_ctx, failed).stage is drain.Stage.FAILED


def test_a_writer_publishing_again_outranks_a_finished_job(make_ctx: Build) -> None:
    """A succeeded Job never removes a broker a writer pod still publishes to."""
    live = _rabbit_left(**{"demo-writer": _writer("kafka")})
    live[("Job", "demo-rabbit-consumer-drain")] = _job("Complete")
    found = _stage(make_ctx, live, [_writer_pod("both")])
    assert found.stage is drain.Stage.WRITERS
    assert "waiting for the writer rollout (1 writer pod(s) still publish to it)" in found.message


def _kept(make_ctx: Build, stage: drain.Stage) -> set[tuple[str, str]]:
    ctx = make_ctx({"mode": "kafka", "networkPolicies": {"enabled": True}})
    wanted = drain.manifests(ctx, [drain.Drain(drain.RABBIT, stage, "")])
    return {(item["kind"], item["metadata"]["name"]) for item in wanted}


def test_while_writers_publish_the_broker_and_its_consumer_stay(make_ctx: Build) -> None:
    """Stage writers keeps RabbitMQ (StatefulSet, Service, config Secret), its consumer and
    their NetworkPolicies; the writer itself already has the new mode only."""
    kept = _kept(make_ctx, drain.Stage.WRITERS)
    assert kept >= {
        ("StatefulSet", "demo-rabbitmq"), ("Service", "demo-rabbitmq"),
        ("Secret", "demo-rabbitmq-config"), ("Deployment", "demo-rabbit-consumer"),
        ("NetworkPolicy", "demo-rabbitmq"), ("NetworkPolicy", "demo-rabbit-consumer"),
        ("StatefulSet", "demo-kafka"), ("Deployment", "demo-kafka-consumer"),
    }  # fmt: skip
    assert ("Job", "demo-rabbit-consumer-drain") not in kept


def test_while_consuming_the_job_replaces_the_consumer(make_ctx: Build) -> None:
    """Stage consuming keeps RabbitMQ and runs the drain Job instead of the Deployment."""
    kept = _kept(make_ctx, drain.Stage.CONSUMING)
    assert {("StatefulSet", "demo-rabbitmq"), ("Job", "demo-rabbit-consumer-drain")} <= kept
    assert ("Deployment", "demo-rabbit-consumer") not in kept


@pytest.mark.parametrize("stage", [drain.Stage.DRAINED, drain.Stage.FAILED])
def test_drained_keeps_nothing_and_a_failed_job_goes(make_ctx: Build, stage: drain.Stage) -> None:
    """Drained: nothing of RabbitMQ is wanted (the next apply deletes it all); failed: the
    broker stays but the failed Job goes, so the next pass starts a new one."""
    kept = _kept(make_ctx, stage)
    assert ("Job", "demo-rabbit-consumer-drain") not in kept
    assert ("Deployment", "demo-rabbit-consumer") not in kept
    assert (("StatefulSet", "demo-rabbitmq") in kept) is (stage is drain.Stage.FAILED)
    if stage is drain.Stage.DRAINED:
        assert not any("rabbit" in name for _, name in kept)


def test_valkey_admits_the_draining_consumer(make_ctx: Build) -> None:
    """While RabbitMQ drains, Valkey's NetworkPolicy admits the rabbit consumer's pods (the
    drain Job's too: they carry its labels)."""
    ctx = make_ctx({"mode": "kafka", "networkPolicies": {"enabled": True}})
    wanted = drain.manifests(ctx, [drain.Drain(drain.RABBIT, drain.Stage.CONSUMING, "")])
    (valkey,) = [m for m in wanted if m["kind"] == "NetworkPolicy"
                 and m["metadata"]["name"] == "demo-valkey"]  # fmt: skip
    sources = [peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
               for rule in valkey["spec"]["ingress"] for peer in rule["from"]]  # fmt: skip
    assert "rabbit-consumer" in sources


def test_a_broker_disabled_while_it_leaves_is_still_kept(make_ctx: Build) -> None:
    """Leaving rabbit and setting rabbitmq.type disabled in one edit still drains the managed
    RabbitMQ rather than deleting it."""
    ctx = make_ctx({"mode": "kafka", "rabbitmq": {"type": "disabled"}})
    wanted = drain.manifests(ctx, [drain.Drain(drain.RABBIT, drain.Stage.CONSUMING, "")])
    assert ("StatefulSet", "demo-rabbitmq") in {(m["kind"], m["metadata"]["name"]) for m in wanted}


def test_no_drain_means_exactly_the_spec(make_ctx: Build) -> None:
    """Without a drain, the manifests are the spec's own."""
    ctx = make_ctx({"mode": "kafka"})
    names = {m["metadata"]["name"] for m in drain.manifests(ctx, [])}
    assert not any("rabbit" in name for name in names)


def test_the_drain_job_runs_the_consumer_in_drain_mode(make_ctx: Build) -> None:
    """The Job runs `clima consumer rabbit --drain` with the consumer's connections and
    labels, restarts on failure, has a liveness probe (a consumer wedged in a poll is
    restarted) but no readiness, a deadline, and meets the restricted standard."""
    ctx = drain.widened(make_ctx({"mode": "kafka"}), [drain.RABBIT])
    job = drain_job.build(ctx, "rabbit")
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["metadata"]["name"] == "demo-rabbit-consumer-drain"
    assert job["metadata"]["ownerReferences"][0]["controller"] is True
    template = job["spec"]["template"]
    assert template["metadata"]["labels"]["app.kubernetes.io/component"] == "rabbit-consumer"
    assert template["spec"]["restartPolicy"] == "OnFailure"
    (container,) = template["spec"]["containers"]
    assert container["command"] == ["clima"]
    assert container["args"] == ["consumer", "rabbit", "--drain"]
    env = {item["name"]: item for item in container["env"]}
    assert env["RABBITMQ_URL"]["value"].endswith("@demo-rabbitmq:5672/")
    assert env["CLIMA_CONSUMER_DRAIN_QUIET_S"]["value"] == str(drain_job.QUIET_S)
    assert "VALKEY_SERVICE_URL" in env
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "readinessProbe" not in container
    assert job["spec"]["activeDeadlineSeconds"] == drain_job.DEADLINE_S
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    assert job["spec"]["backoffLimit"] == drain_job.BACKOFF_LIMIT


def test_the_kafka_drain_job_reads_the_consumer_group(make_ctx: Build) -> None:
    """Kafka's drain Job names the broker and topic the Kafka consumer uses."""
    ctx = drain.widened(make_ctx({"mode": "rabbit"}), [drain.KAFKA])
    (container,) = drain_job.build(ctx, "kafka")["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert container["args"] == ["consumer", "kafka", "--drain"]
    assert env["KAFKA_BROKER"] == "demo-kafka:9092"
    assert env["CLIMA_KAFKA_TOPIC"] == "clima"


def _summary(
    make_ctx: Build, drains: list[drain.Drain], pods: list[dict[str, Any]]
) -> dict[str, Any]:
    ctx = make_ctx({"mode": "kafka"})
    observation = Observation(ctx, 1, {}, False, pods=pods, drains=drains)
    conditions = summarize(component_states(observation), False)
    return {c.type: c for c in conditions} | {"phase": phase(conditions)}


def test_a_crash_looping_drain_pod_degrades_the_pipeline(make_ctx: Build) -> None:
    """The drain Job's pod failing for a lasting reason shows in RabbitmqDraining, with
    Degraded=True, rather than as a quiet "draining"."""
    pod = {
        "metadata": {"name": "demo-rabbit-consumer-drain-x", "labels": {"controller-uid": "j1"}},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "rabbit-consumer", "ready": False,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}}]},
    }  # fmt: skip
    found = drain.Drain(drain.RABBIT, drain.Stage.CONSUMING, "draining", _job())
    summary = _summary(make_ctx, [found], [pod])
    assert summary["RabbitmqDraining"].reason == "CrashLoopBackOff"
    assert summary["Degraded"].status is True
    assert summary["phase"] == "Degraded"


def test_ready_says_draining_only_when_the_drain_is_all_that_is_left(make_ctx: Build) -> None:
    """With components still missing, Ready names them (ComponentsNotReady); the reason is
    Draining, and the phase too, only when every other component is ready."""
    found = drain.Drain(drain.RABBIT, drain.Stage.WRITERS, "RabbitMQ draining: waiting")
    summary = _summary(make_ctx, [found], [])
    assert summary["Ready"].reason == "ComponentsNotReady"  # nothing of kafka mode exists here
    only = [ComponentState("WriterReady", True, "Available", "ok"),
            ComponentState("RabbitmqDraining", False, "Consuming", "RabbitMQ draining: Job",
                           progressing=True, draining=True)]  # fmt: skip
    conditions = summarize(only, False)
    by_type = {c.type: c for c in conditions}
    assert (by_type["Ready"].status, by_type["Ready"].reason) == (False, "Draining")
    assert by_type["Ready"].message == "RabbitMQ draining: Job"
    assert (by_type["Progressing"].status, by_type["Progressing"].reason) == (True, "Draining")
    assert phase(conditions) == "Draining"


def _drain_pod(job: str, exit_code: int, message: str) -> dict[str, Any]:
    """A pod of Job ``job`` whose container ended with ``exit_code`` and ``message``."""
    labels = {"clima.io/pipeline": "demo", drain.JOB_NAME_LABEL: job}
    ended = {"exitCode": exit_code, "message": message}
    return {"metadata": {"name": f"{job}-x1", "labels": labels},
            "status": {"containerStatuses": [{"state": {"terminated": ended}}]}}  # fmt: skip


def test_drained_says_what_the_job_applied(make_ctx: Build) -> None:
    """The DRAINED message carries the drain consumer's own summary (its termination
    message), taken from the succeeded pod of that Job only."""
    rolled = _rabbit_left(**{"demo-writer": _writer("kafka")})
    done = {**rolled, ("Job", "demo-rabbit-consumer-drain"): _job("Complete")}
    summary = "rabbit drained: 1234 reports applied, 5 duplicates, 0 dead letters in 9s"
    pods = [
        _drain_pod("demo-kafka-consumer-drain", 0, "kafka drained: 7 reports applied"),
        _drain_pod("demo-rabbit-consumer-drain", 1, "Traceback: an earlier attempt"),
        _drain_pod("demo-rabbit-consumer-drain", 0, f"{summary}\n"),
    ]
    drained = _stage(make_ctx, done, pods)
    assert drained.stage is drain.Stage.DRAINED
    assert drained.message.endswith(f"in 42s ({summary})")
    # no pod left (or no message): the message still says the drain ended, without counts
    assert _stage(make_ctx, done, pods[:2]).message.endswith("applied everything it held in 42s")
