"""The managed Valkey: one append-only node in a StatefulSet, password from the Secret."""

from __future__ import annotations

from typing import Any

from clima_operator.children._connections import VALKEY_PORT, valkey_password
from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import (
    exec_probe,
    tcp_probe,
)
from clima_operator.children._store import store_container, store_objects

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


PORTS = [("valkey", VALKEY_PORT)]


def container(ctx: Context, variables: list[dict[str, Any]]) -> dict[str, Any]:
    """The Valkey container."""
    return store_container(
        ctx,
        COMPONENT,
        ctx.spec.valkey.managed,
        variables=variables,
        ports=PORTS,
        probes=(exec_probe(["sh", "-c", PING], period=5), tcp_probe("valkey", delay=30)),
        data_dir="/data",
        args=ARGS,
    )


def build(ctx: Context) -> list[Manifest]:
    """StatefulSet and headless Service, when Valkey is managed."""
    if ctx.spec.valkey.type != "managed":
        return []
    variables = [valkey_password(ctx)]
    main = container(ctx, variables)
    inputs = {"args": ARGS, "env": variables}
    managed = ctx.spec.valkey.managed
    return store_objects(ctx, COMPONENT, managed, main, inputs=inputs, uid=UID, ports=PORTS)
