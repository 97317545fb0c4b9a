"""The drain Job of a broker the mode no longer uses: its consumer in drain mode.

``clima consumer <broker> --drain`` applies what the broker still holds and exits 0 once
nothing is left (Kafka: the group's committed offsets at the high watermarks; RabbitMQ: the
queue empty, nothing unacked); when it does, the broker can go. The pod carries the
consumer's labels, so the consumer's NetworkPolicy admissions (to the broker, to Valkey)
apply to it, and ``kubectl get pods -l app.kubernetes.io/component=rabbit-consumer`` shows
it. When it runs is decided in ``clima_operator.drain``.
"""

from __future__ import annotations

from typing import Any

from clima_operator.children import consumers
from clima_operator.children._clima import Process, container
from clima_operator.children._meta import Context, Manifest, Owner, metadata
from clima_operator.children._pods import CLIMA_UID, pod_template

#: Restarts of the drain pod before the Job fails (the operator then starts a new one).
BACKOFF_LIMIT = 6
#: Seconds the broker must hold nothing before the drain consumer exits 0.
QUIET_S = 5
#: Seconds a drain Job may run: past it the Job fails and the operator starts another, which
#: goes on from what the first applied (offsets committed, messages acked), so a drain wedged
#: in a way no probe sees still ends.
DEADLINE_S = 3600


def job_name(owner: Owner, broker: str) -> str:
    """``<pipeline>-<broker>-consumer-drain``."""
    return owner.child(f"{broker}-consumer-drain")


def process(ctx: Context, broker: str) -> Process:
    """The consumer process of ``broker`` ("kafka" or "rabbit")."""
    if broker == "kafka":
        return consumers.kafka_process(ctx)
    return consumers.rabbit_process(ctx)


def build(ctx: Context, broker: str) -> Manifest:
    """The Job running ``broker``'s consumer until the broker is drained; ``ctx`` must be
    one whose spec still uses ``broker``, so the consumer knows where it is."""
    consumer = process(ctx, broker)
    main: dict[str, Any] = container(ctx, consumer)
    main["args"] = [*consumer.args, "--drain"]
    main["env"] = [*consumer.env, {"name": "CLIMA_CONSUMER_DRAIN_QUIET_S", "value": str(QUIET_S)}]
    # readiness serves no Service here; liveness restarts a consumer wedged in a poll
    del main["readinessProbe"]
    main["terminationMessagePolicy"] = "FallbackToLogsOnError"
    template = pod_template(
        ctx.owner, consumer.component, [main], inputs={"args": main["args"], "env": main["env"]},
        uid=CLIMA_UID, volumes=[volume for volume, _ in consumer.volumes],
    )  # fmt: skip
    template["spec"]["restartPolicy"] = "OnFailure"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(ctx.owner, consumer.component, job_name(ctx.owner, broker)),
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "activeDeadlineSeconds": DEADLINE_S,
            "template": template,
        },
    }
