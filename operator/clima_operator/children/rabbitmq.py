"""The managed RabbitMQ: one node in a StatefulSet, user ``clima`` with a generated password.

The operator renders ``rabbitmq.conf`` (it holds the password, so into the Secret
``<pipeline>-rabbitmq-config``) and points the node at it with ``RABBITMQ_CONFIG_FILE``;
``RABBITMQ_CONFIG_FILES`` names a folder that does not exist, so an image's own ``conf.d``
defaults are not merged in. Both variables are read by RabbitMQ itself (3.10 and 4.x), not
by an image's entry point, so the official image and Debian's package behave alike. The
default user is created from the file on the node's first start only, as before.
"""

from __future__ import annotations

from typing import Any

from clima.wiring import RABBITMQ_PORT
from clima_operator.children import credentials
from clima_operator.children._connections import RABBITMQ_USER
from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import env, exec_probe, tcp_probe
from clima_operator.children._store import config_object, store_container, store_objects

COMPONENT = "rabbitmq"
METRICS_PORT = 15692  # served only where the image enables the rabbitmq_prometheus plugin
UID = 999  # "rabbitmq" of the official image and of Debian's package
DATA_DIR = "/var/lib/rabbitmq"
CONFIG_DIR = "/etc/clima/rabbitmq"
CONFIG_FILE = "rabbitmq.conf"
COMMAND = ["rabbitmq-server"]


def config_file(password: str) -> str:
    """``rabbitmq.conf``: AMQP on 5672 from anywhere, user ``clima``, logs to stdout only.

    Only core settings: a plugin's setting (``prometheus.*``) stops a node that lacks the
    plugin from starting.
    """
    return (
        "# Rendered by the Clima operator.\n"
        f"listeners.tcp.default = {RABBITMQ_PORT}\n"
        "loopback_users = none\n"
        f"default_user = {RABBITMQ_USER}\n"
        f"default_pass = {password}\n"
        "log.console = true\n"
        "log.console.level = info\n"
        "log.file = false\n"
    )


def environment() -> list[dict[str, Any]]:
    """Where the node finds its configuration and keeps its state (all on the volume)."""
    return [
        env("HOME", DATA_DIR),  # the Erlang cookie, shared with rabbitmq-diagnostics
        env("RABBITMQ_CONFIG_FILE", f"{CONFIG_DIR}/rabbitmq"),  # ".conf" is looked for
        env("RABBITMQ_CONFIG_FILES", f"{CONFIG_DIR}/conf.d"),  # absent: no image defaults
        env("RABBITMQ_MNESIA_BASE", f"{DATA_DIR}/mnesia"),
        env("RABBITMQ_LOG_BASE", f"{DATA_DIR}/log"),
        env("RABBITMQ_LOGS", "-"),
    ]


PORTS = [("amqp", RABBITMQ_PORT), ("metrics", METRICS_PORT)]


def container(ctx: Context, variables: list[dict[str, Any]]) -> dict[str, Any]:
    """The RabbitMQ container; its root file system stays writable until both images are
    known to write nothing outside the volume and /tmp."""
    ready = ["rabbitmq-diagnostics", "-q", "check_port_connectivity"]
    return store_container(
        ctx,
        COMPONENT,
        ctx.spec.rabbitmq.managed,
        variables=variables,
        ports=PORTS,
        probes=(exec_probe(ready, timeout=20), tcp_probe("amqp", period=20, delay=60)),
        data_dir=DATA_DIR,
        command=COMMAND,
        config_dir=CONFIG_DIR,
        read_only_root=False,
    )


def build(ctx: Context) -> list[Manifest]:
    """Config Secret, StatefulSet and headless Service, when the mode uses a managed RabbitMQ.

    The Secret is rendered only when the password is known (always, in a reconcile).
    """
    if not ctx.spec.uses_rabbit or ctx.spec.rabbitmq.type != "managed":
        return []
    variables = environment()
    main = container(ctx, variables)
    password = ctx.credentials.get(credentials.RABBITMQ_PASSWORD)
    rendered = {CONFIG_FILE: config_file(password)} if password is not None else {}
    config = config_object(ctx, COMPONENT, "Secret", rendered) if rendered else None
    inputs = {"env": variables, "command": COMMAND, "config": rendered}
    return store_objects(
        ctx, COMPONENT, ctx.spec.rabbitmq.managed, main,
        inputs=inputs, uid=UID, ports=PORTS, config=config, config_kind="Secret",
    )  # fmt: skip
