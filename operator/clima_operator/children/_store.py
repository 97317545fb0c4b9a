"""What the managed Kafka, RabbitMQ and Valkey share: one container with a ``data`` volume,
in a one-replica StatefulSet behind a headless Service of the same name."""

from __future__ import annotations

from typing import Any

from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import (
    TMP_MOUNT,
    container_security,
    pod_template,
    port,
    resources,
    service,
    statefulset,
)
from clima_operator.spec import ManagedKafka, ManagedRabbitmq, ManagedValkey

Managed = ManagedKafka | ManagedRabbitmq | ManagedValkey
NamedPorts = list[tuple[str, int]]


def store_container(
    ctx: Context,
    component: str,
    managed: Managed,
    *,
    variables: list[dict[str, Any]],
    ports: NamedPorts,
    probes: tuple[dict[str, Any], dict[str, Any]],
    data_dir: str,
    args: list[str] | None = None,
    read_only_root: bool = True,
) -> dict[str, Any]:
    """The store's container; ``probes`` is (readiness, liveness)."""
    readiness, liveness = probes
    container: dict[str, Any] = {
        "name": component,
        "image": managed.image,
        "imagePullPolicy": ctx.spec.image_pull_policy,
    }
    if args is not None:
        container["args"] = args
    container |= {
        "env": variables,
        "ports": [port(name, number) for name, number in ports],
        "readinessProbe": readiness,
        "livenessProbe": liveness,
        "resources": resources(managed.resources),
        "securityContext": container_security(read_only_root=read_only_root),
        "volumeMounts": [{"name": "data", "mountPath": data_dir}, TMP_MOUNT],
    }
    return container


def store_objects(
    ctx: Context,
    component: str,
    managed: Managed,
    main: dict[str, Any],
    *,
    inputs: Any,
    uid: int,
    ports: NamedPorts,
) -> list[Manifest]:
    """The StatefulSet of ``main`` (its pod template digests ``inputs``) and its Service."""
    name = ctx.owner.child(component)
    template = pod_template(ctx.owner, component, [main], inputs=inputs, uid=uid)
    service_ports = [{"name": n, "port": number, "targetPort": n} for n, number in ports]
    return [
        statefulset(ctx.owner, component, name, template, managed.storage),
        service(ctx.owner, component, name, service_ports, headless=True),
    ]
