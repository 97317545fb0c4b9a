"""The managed Valkey: one append-only node in a StatefulSet, password from the Secret.

The password is in the rendered ``valkey.conf`` (Secret ``<pipeline>-valkey-config``), not
on the command line, and the probe's ``valkey-cli`` reads it from ``REDISCLI_AUTH`` (the
name valkey-cli 7.2 reads, and 8.x still reads after ``VALKEYCLI_AUTH``), not from argv.
``valkey-server`` and ``valkey-cli`` on PATH are all the image needs.
"""

from __future__ import annotations

from typing import Any

from clima_operator.children import credentials
from clima_operator.children._connections import VALKEY_PORT
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


def config_file(password: str) -> str:
    """``valkey.conf``: every interface, the password, append-only files in /data."""
    return (
        "# Rendered by the Clima operator.\n"
        "bind * -::*\n"
        f"port {VALKEY_PORT}\n"
        f"requirepass {_quoted(password)}\n"
        "appendonly yes\n"
        f"dir {DATA_DIR}\n"
    )


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
    rendered = {CONFIG_FILE: config_file(password)} if password is not None else {}
    config = config_object(ctx, COMPONENT, "Secret", rendered) if rendered else None
    inputs = {"env": variables, "command": COMMAND, "config": rendered}
    return store_objects(
        ctx, COMPONENT, ctx.spec.valkey.managed, main,
        inputs=inputs, uid=UID, ports=PORTS, config=config, config_kind="Secret",
    )  # fmt: skip
