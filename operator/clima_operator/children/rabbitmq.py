"""The managed RabbitMQ: one node in a StatefulSet, user ``clima`` with a generated password."""

from __future__ import annotations

from typing import Any

from clima_operator.children import credentials
from clima_operator.children._connections import RABBITMQ_PORT, RABBITMQ_USER
from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import (
    env,
    env_from_secret,
    exec_probe,
    tcp_probe,
)
from clima_operator.children._store import store_container, store_objects

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


PORTS = [("amqp", RABBITMQ_PORT), ("metrics", METRICS_PORT)]


def container(ctx: Context, variables: list[dict[str, Any]]) -> dict[str, Any]:
    """The RabbitMQ container; the image's entry point writes configuration files below
    /etc/rabbitmq, so the root file system stays writable."""
    ready = ["rabbitmq-diagnostics", "-q", "check_port_connectivity"]
    return store_container(
        ctx,
        COMPONENT,
        ctx.spec.rabbitmq.managed,
        variables=variables,
        ports=PORTS,
        probes=(exec_probe(ready, timeout=20), tcp_probe("amqp", period=20, delay=60)),
        data_dir="/var/lib/rabbitmq",
        read_only_root=False,
    )


def build(ctx: Context) -> list[Manifest]:
    """StatefulSet and headless Service, when the mode uses RabbitMQ and it is managed."""
    if not ctx.spec.uses_rabbit or ctx.spec.rabbitmq.type != "managed":
        return []
    variables = environment(ctx)
    main = container(ctx, variables)
    managed = ctx.spec.rabbitmq.managed
    return store_objects(
        ctx, COMPONENT, managed, main, inputs={"env": variables}, uid=UID, ports=PORTS
    )
