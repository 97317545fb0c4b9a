"""The managed Valkey: one append-only node in a StatefulSet, password from the Secret.

The password is in the rendered ``valkey.conf`` (Secret ``<pipeline>-valkey-config``), not
on the command line, and the probe's ``valkey-cli`` reads it from ``REDISCLI_AUTH`` (the
name valkey-cli 7.2 reads, and 8.x still reads after ``VALKEYCLI_AUTH``), not from argv.
``valkey-server`` and ``valkey-cli`` on PATH are all the image needs.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from clima.wiring import VALKEY_PORT
from clima_operator.children import credentials
from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import env_from_secret, exec_probe, tcp_probe
from clima_operator.children._store import config_object, store_container, store_objects

COMPONENT = "valkey"
UID = 999  # "valkey" of the official image and of Clima's own Valkey image
DATA_DIR = "/data"
CONFIG_DIR = "/etc/clima/valkey"
CONFIG_FILE = "valkey.conf"
COMMAND = ["valkey-server", f"{CONFIG_DIR}/{CONFIG_FILE}"]
PING = "valkey-cli ping | grep -q PONG"


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


MAXMEMORY_SHARE = Decimal("0.75")
"""Share of the container's memory limit Valkey may fill with data. The rest is headroom the
limit must also hold: the append-only rewrite's forked child (copy-on-write pages), client
buffers and allocator fragmentation. Above maxmemory Valkey refuses writes (``noeviction``),
so the consumers hold and retry; the kernel never OOM-kills it into a reload loop."""
_SUFFIXES = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip
_QUANTITY = re.compile(r"^([0-9.]+(?:[eE][-+]?[0-9]+)?)(|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)$")


def quantity_bytes(quantity: str) -> int | None:
    """A Kubernetes memory quantity in bytes, or None when it is not one this reads."""
    match = _QUANTITY.match(quantity)
    if match is None:
        return None
    try:
        return int(Decimal(match.group(1)) * _SUFFIXES[match.group(2)])
    except InvalidOperation:
        return None


def maxmemory_bytes(memory_limit: str | None) -> int | None:
    """Valkey's ``maxmemory`` for a container memory limit: MAXMEMORY_SHARE of it."""
    limit = quantity_bytes(memory_limit) if memory_limit else None
    return None if limit is None else int(limit * MAXMEMORY_SHARE)


def config_file(password: str, maxmemory: int | None = None, fsync: str = "everysec") -> str:
    """``valkey.conf``: every interface, the password, append-only files in /data fsynced as
    asked, and a memory bound that refuses writes rather than evicting dedupe keys or counts."""
    bound = f"maxmemory {maxmemory}\n" if maxmemory else ""
    return (
        "# Rendered by the Clima operator.\n"
        "bind * -::*\n"
        f"port {VALKEY_PORT}\n"
        f"requirepass {_quoted(password)}\n"
        "appendonly yes\n"
        f"appendfsync {fsync}\n"
        f"dir {DATA_DIR}\n"
        f"{bound}"
        "maxmemory-policy noeviction\n"
    )


def _memory_limit(ctx: Context) -> str | None:
    limits = ctx.spec.valkey.managed.resources.limits
    return limits.memory if limits is not None else None


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
        data_dir=DATA_DIR,
        command=COMMAND,
        config_dir=CONFIG_DIR,
    )


def build(ctx: Context) -> list[Manifest]:
    """Config Secret, StatefulSet and headless Service, when Valkey is managed (the Secret
    only when the password is known, as in every reconcile)."""
    if ctx.spec.valkey.type != "managed":
        return []
    secret = credentials.secret_name(ctx.owner)
    variables = [env_from_secret("REDISCLI_AUTH", secret, credentials.VALKEY_PASSWORD)]
    main = container(ctx, variables)
    password = ctx.credentials.get(credentials.VALKEY_PASSWORD)
    maxmemory = maxmemory_bytes(_memory_limit(ctx))
    fsync = ctx.spec.valkey.managed.append_fsync
    rendered = (
        {CONFIG_FILE: config_file(password, maxmemory, fsync)} if password is not None else {}
    )
    config = config_object(ctx, COMPONENT, "Secret", rendered) if rendered else None
    inputs = {"env": variables, "command": COMMAND, "config": rendered}
    return store_objects(
        ctx, COMPONENT, ctx.spec.valkey.managed, main,
        inputs=inputs, uid=UID, ports=PORTS, config=config, config_kind="Secret",
    )  # fmt: skip
