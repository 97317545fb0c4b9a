"""The managed RabbitMQ: ``spec.rabbitmq.managed.replicas`` nodes in a StatefulSet, user
``clima`` with a generated password.

The operator renders ``rabbitmq.conf`` (it holds the password, so into the Secret
``<pipeline>-rabbitmq-config``) and points the node at it with ``RABBITMQ_CONFIG_FILE``;
``RABBITMQ_CONFIG_FILES`` names a folder that does not exist, so an image's own ``conf.d``
defaults are not merged in. Both variables are read by RabbitMQ itself (3.10 and 4.x), not
by an image's entry point, so the official image and Debian's package behave alike.

The user ``clima``, its permissions and its password (salted SHA-256, the form RabbitMQ
stores) are also in ``definitions.json`` beside it, which the node imports on every start
(``load_definitions``). ``default_user`` alone applies only to a node's first start, on an
empty disk; the import makes a rotated password (the credentials Secret edited) take effect
when the nodes roll, which the changed file makes them do.

Several nodes form one cluster: each is named ``rabbit@<pod>.<service>.<namespace>.svc``
(long names), finds its peers in the list of those names (classic peer discovery, which
lets one node at a time form or join the cluster), and shares the Erlang cookie kept in the
pipeline's credentials Secret. Every quorum queue is kept on every node: a ``members``
container beside each node asks it every 30 s to become a member of every quorum queue it
is not yet in (``rabbitmq-queues grow``), so a node that joined after a queue was declared,
or came back on a new disk, holds a copy again. (RabbitMQ 4 can reconcile membership
itself; 3.13, the pinned version, cannot.) A minority side of a network partition pauses
rather than accept what the majority would not see.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from clima.wiring import RABBITMQ_PORT
from clima_operator.children import credentials
from clima_operator.children._connections import RABBITMQ_USER
from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import (
    TMP_MOUNT,
    container_security,
    env,
    env_from_secret,
    exec_probe,
    field_env,
    tcp_probe,
)
from clima_operator.children._store import (
    POD_NAME_ENV,
    config_object,
    pod_dns,
    store_container,
    store_objects,
)

COMPONENT = "rabbitmq"
METRICS_PORT = 15692  # served only where the image enables the rabbitmq_prometheus plugin
UID = 999  # "rabbitmq" of the official image and of Debian's package
DATA_DIR = "/var/lib/rabbitmq"
CONFIG_DIR = "/etc/clima/rabbitmq"
CONFIG_FILE = "rabbitmq.conf"
DEFINITIONS_FILE = "definitions.json"
COMMAND = ["rabbitmq-server"]
COOKIE_ENV = "CLIMA_ERLANG_COOKIE"
COOKIE_FILE = f"{DATA_DIR}/.erlang.cookie"
#: epmd, and the inter-node (distribution) port RabbitMQ derives from the AMQP port + 20000
CLUSTER_PORTS = (4369, RABBITMQ_PORT + 20000)


def node_name(ctx: Context, pod: str) -> str:
    """The Erlang node name of one pod (``pod`` may be a variable reference)."""
    return f"rabbit@{pod_dns(ctx, COMPONENT, pod)}"


def cluster_lines(ctx: Context, replicas: int) -> str:
    """The settings that make ``replicas`` nodes one cluster with replicated quorum queues."""
    name = ctx.owner.child(COMPONENT)
    lines = ["cluster_formation.peer_discovery_backend = classic_config"]
    lines += [
        f"cluster_formation.classic_config.nodes.{ordinal + 1} = "
        f"{node_name(ctx, f'{name}-{ordinal}')}"
        for ordinal in range(replicas)
    ]
    lines.append("cluster_partition_handling = pause_minority")
    return "".join(f"{line}\n" for line in lines)


GROW_EVERY_S = 30
#: Each pass asks the node beside it to join every quorum queue it is not a member of yet;
#: RabbitMQ skips the queues it is in. What it did is logged; a node still starting fails
#: quietly until the next pass.
GROW = (
    "while true; do\n"
    f"  sleep {GROW_EVERY_S}\n"
    '  out=$(rabbitmq-queues -q grow "$RABBITMQ_NODENAME" all 2>&1) || continue\n'
    '  [ -z "$out" ] || echo "$out"\n'
    "done\n"
)


def members_container(ctx: Context, variables: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``members`` container: keeps its node a member of every quorum queue."""
    return {
        "name": "members",
        "image": ctx.spec.rabbitmq.managed.image,
        "imagePullPolicy": ctx.spec.image_pull_policy,
        "command": ["sh", "-c", GROW],
        "env": variables,
        "resources": {
            "requests": {"cpu": "10m", "memory": "64Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": container_security(read_only_root=False),
        "volumeMounts": [{"name": "data", "mountPath": DATA_DIR}, TMP_MOUNT],
    }


def config_file(password: str, cluster: str = "") -> str:
    """``rabbitmq.conf``: AMQP on 5672 from anywhere, user ``clima``, logs to stdout only,
    and the ``cluster`` lines of a cluster.

    ``default_pass`` (used once, on a first start, before the definitions are imported) is a
    digest of the password, never the password itself: a chosen password may hold characters
    this file format cannot (``#``, a newline), while the definitions file is JSON.

    Only core settings: a plugin's setting (``prometheus.*``) stops a node that lacks the
    plugin from starting.
    """
    return (
        "# Rendered by the Clima operator.\n"
        f"listeners.tcp.default = {RABBITMQ_PORT}\n"
        "loopback_users = none\n"
        f"default_user = {RABBITMQ_USER}\n"
        f"default_pass = {hashlib.sha256(password.encode()).hexdigest()}\n"
        f"load_definitions = {CONFIG_DIR}/{DEFINITIONS_FILE}\n"
        "log.console = true\n"
        "log.console.level = info\n"
        "log.file = false\n"
    ) + cluster


def password_hash(password: str, salt: bytes) -> str:
    """The password as RabbitMQ's internal users store it (``rabbit_password_hashing_sha256``):
    base64 of the 4-byte salt followed by SHA-256 of salt and password."""
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def definitions(ctx: Context, password: str) -> str:
    """``definitions.json``: user ``clima`` (administrator, every permission on ``/``) with
    ``password``. The salt is derived from the pipeline and the password, so the file, and
    the pods' checksum with it, change only when the password does."""
    salt = hashlib.sha256(f"{ctx.owner.uid}:{password}".encode()).digest()[:4]
    user = {
        "name": RABBITMQ_USER,
        "password_hash": password_hash(password, salt),
        "hashing_algorithm": "rabbit_password_hashing_sha256",
        "tags": ["administrator"],
    }
    permission = {"user": RABBITMQ_USER, "vhost": "/", "configure": ".*", "write": ".*",
                  "read": ".*"}  # fmt: skip
    body = {"users": [user], "vhosts": [{"name": "/"}], "permissions": [permission]}
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def cluster_environment(ctx: Context) -> list[dict[str, Any]]:
    """A cluster node's own name, and the cookie its peers and its CLI share."""
    return [
        field_env(POD_NAME_ENV, "metadata.name"),
        env("RABBITMQ_USE_LONGNAME", "true"),
        env("RABBITMQ_NODENAME", node_name(ctx, f"$({POD_NAME_ENV})")),
        env_from_secret(COOKIE_ENV, credentials.secret_name(ctx.owner), credentials.ERLANG_COOKIE),
    ]


def cluster_command() -> list[str]:
    """Writes the shared cookie (owner-read only, as Erlang requires), then runs the node."""
    script = (
        "set -e\n"
        "umask 077\n"
        f'printf %s "${COOKIE_ENV}" > {COOKIE_FILE}.new\n'
        f"chmod 400 {COOKIE_FILE}.new\n"
        f"mv -f {COOKIE_FILE}.new {COOKIE_FILE}\n"
        "exec rabbitmq-server\n"
    )
    return ["sh", "-c", script]


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


def container(ctx: Context, variables: list[dict[str, Any]], command: list[str]) -> dict[str, Any]:
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
        command=command,
        config_dir=CONFIG_DIR,
        read_only_root=False,
    )


def build(ctx: Context) -> list[Manifest]:
    """Config Secret, StatefulSet and headless Service, when the mode uses a managed RabbitMQ.

    The Secret is rendered only when the password is known (always, in a reconcile).
    """
    if not ctx.spec.uses_rabbit or ctx.spec.rabbitmq.type != "managed":
        return []
    replicas = ctx.spec.rabbitmq.managed.replicas
    variables, command, cluster = environment(), COMMAND, ""
    if replicas > 1:
        variables += cluster_environment(ctx)
        command, cluster = cluster_command(), cluster_lines(ctx, replicas)
    main = container(ctx, variables, command)
    password = ctx.credentials.get(credentials.RABBITMQ_PASSWORD)
    rendered = (
        {CONFIG_FILE: config_file(password, cluster), DEFINITIONS_FILE: definitions(ctx, password)}
        if password is not None
        else {}
    )
    config = config_object(ctx, COMPONENT, "Secret", rendered) if rendered else None
    inputs = {"env": variables, "command": command, "config": rendered}
    sidecars = [members_container(ctx, variables)] if replicas > 1 else []
    return store_objects(
        ctx, COMPONENT, ctx.spec.rabbitmq.managed, main,
        inputs=inputs, uid=UID, ports=PORTS, config=config, config_kind="Secret",
        replicas=replicas, sidecars=sidecars,
    )  # fmt: skip
