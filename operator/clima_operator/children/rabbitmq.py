"""The managed RabbitMQ: one node in a StatefulSet, user ``clima`` with a generated password."""

from __future__ import annotations

from typing import Any

from clima_operator.children import credentials
from clima_operator.children._connections import RABBITMQ_PORT, RABBITMQ_USER
from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import (
    TMP_MOUNT,
    container_security,
    env,
    env_from_secret,
    exec_probe,
    pod_template,
    port,
    resources,
    service,
    statefulset,
    tcp_probe,
)

COMPONENT = "rabbitmq"
METRICS_PORT = 15692
UID = 999  # "rabbitmq" of the official image


def environment(ctx: Context) -> list[dict[str, Any]]:
    """The default user, whose password comes from the credentials Secret."""
    return [
        env("RABBITMQ_DEFAULT_USER", RABBITMQ_USER),
        env_from_secret(
            "RABBITMQ_DEFAULT_PASS",
            credentials.secret_name(ctx.owner),
            credentials.RABBITMQ_PASSWORD,
        ),
    ]


def container(ctx: Context, variables: list[dict[str, Any]]) -> dict[str, Any]:
    """The RabbitMQ container."""
    managed = ctx.spec.rabbitmq.managed
    ready = ["rabbitmq-diagnostics", "-q", "check_port_connectivity"]
    return {
        "name": COMPONENT,
        "image": managed.image,
        "imagePullPolicy": ctx.spec.image_pull_policy,
        "env": variables,
        "ports": [port("amqp", RABBITMQ_PORT), port("metrics", METRICS_PORT)],
        "readinessProbe": exec_probe(ready, timeout=20),
        "livenessProbe": tcp_probe("amqp", period=20, delay=60),
        "resources": resources(managed.resources),
        # The image's entry point writes configuration files below /etc/rabbitmq.
        "securityContext": container_security(read_only_root=False),
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/rabbitmq"}, TMP_MOUNT],
    }


def build(ctx: Context) -> list[Manifest]:
    """StatefulSet and headless Service, when the mode uses RabbitMQ and it is managed."""
    if not ctx.spec.uses_rabbit or ctx.spec.rabbitmq.type != "managed":
        return []
    name = ctx.owner.child(COMPONENT)
    variables = environment(ctx)
    main = container(ctx, variables)
    template = pod_template(ctx.owner, COMPONENT, [main], inputs={"env": variables}, uid=UID)
    ports = [
        {"name": "amqp", "port": RABBITMQ_PORT, "targetPort": "amqp"},
        {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"},
    ]
    return [
        statefulset(ctx.owner, COMPONENT, name, template, ctx.spec.rabbitmq.managed.storage),
        service(ctx.owner, COMPONENT, name, ports, headless=True),
    ]
