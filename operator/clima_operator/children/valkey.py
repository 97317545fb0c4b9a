"""The managed Valkey: one append-only node in a StatefulSet, password from the Secret."""

from __future__ import annotations

from typing import Any

from clima_operator.children._connections import VALKEY_PORT, valkey_password
from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import (
    TMP_MOUNT,
    container_security,
    exec_probe,
    pod_template,
    port,
    resources,
    service,
    statefulset,
    tcp_probe,
)

COMPONENT = "valkey"
UID = 999  # "valkey" of the official image
ARGS = [
    "valkey-server",
    "--requirepass",
    "$(VALKEY_PASSWORD)",
    "--appendonly",
    "yes",
    "--dir",
    "/data",
]
PING = 'valkey-cli --no-auth-warning -a "$VALKEY_PASSWORD" ping | grep -q PONG'


def container(ctx: Context, variables: list[dict[str, Any]]) -> dict[str, Any]:
    """The Valkey container."""
    managed = ctx.spec.valkey.managed
    return {
        "name": COMPONENT,
        "image": managed.image,
        "imagePullPolicy": ctx.spec.image_pull_policy,
        "args": ARGS,
        "env": variables,
        "ports": [port("valkey", VALKEY_PORT)],
        "readinessProbe": exec_probe(["sh", "-c", PING], period=5),
        "livenessProbe": tcp_probe("valkey", delay=30),
        "resources": resources(managed.resources),
        "securityContext": container_security(),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, TMP_MOUNT],
    }


def build(ctx: Context) -> list[Manifest]:
    """StatefulSet and headless Service, when Valkey is managed."""
    if ctx.spec.valkey.type != "managed":
        return []
    name = ctx.owner.child(COMPONENT)
    variables = [valkey_password(ctx)]
    inputs = {"args": ARGS, "env": variables}
    template = pod_template(
        ctx.owner, COMPONENT, [container(ctx, variables)], inputs=inputs, uid=UID
    )
    ports = [{"name": "valkey", "port": VALKEY_PORT, "targetPort": "valkey"}]
    return [
        statefulset(ctx.owner, COMPONENT, name, template, ctx.spec.valkey.managed.storage),
        service(ctx.owner, COMPONENT, name, ports, headless=True),
    ]
