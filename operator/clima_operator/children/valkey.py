"""The managed Valkey: append-only nodes in a StatefulSet, password from the Secret.

The password is in the rendered ``valkey.conf`` (Secret ``<pipeline>-valkey-config``), not
on the command line, and the probe's ``valkey-cli`` reads it from ``REDISCLI_AUTH`` (the
name valkey-cli 7.2 reads, and 8.x still reads after ``VALKEYCLI_AUTH``), not from argv.
``valkey-server`` and ``valkey-cli`` on PATH are all the image needs.

With several nodes, one is the primary and the others replicate it, and every pod also
runs a Sentinel (``valkey-server --sentinel``, its state on the pod's volume) that watches
the primary and promotes a replica when it is lost. A node that starts asks the Sentinels
which node is the primary and replicates it. The one it is told is itself starts as the
primary only with its data on disk, or when no peer holds any: a node back on an empty
disk waits, not listening, until the Sentinels have promoted a replica that has the data;
serving its empty set as the primary would make the replicas drop theirs.

A rotated password (the credentials Secret edited) reaches a replicated Valkey in three
rolls, one after the other completes (``valkey_rotation.next_passwords``): every member
first accepts the old and the new password and still gives the old one, then gives the new
one, then accepts only the new one. A member that restarted early so always replicates from
one that did not yet, and the Sentinels never have to choose between replicas that stopped
replicating at different times (one of them could lack applies a replica had confirmed).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from clima import wiring
from clima.wiring import VALKEY_PORT, VALKEY_SENTINEL_PORT
from clima_operator.children import credentials, valkey_rotation
from clima_operator.children._meta import Context, Manifest, Owner, Passwords
from clima_operator.children._pods import (
    TMP_MOUNT,
    container_security,
    env_from_secret,
    exec_probe,
    field_env,
    tcp_probe,
)
from clima_operator.children._quantity import quantity_bytes
from clima_operator.children._store import (
    POD_NAME_ENV,
    config_object,
    pod_dns,
    store_container,
    store_objects,
)

COMPONENT = "valkey"
UID = 999  # "valkey" of the official image and of Clima's own Valkey image
DATA_DIR = "/data"
CONFIG_DIR = "/etc/clima/valkey"
CONFIG_FILE = "valkey.conf"
COMMAND = ["valkey-server", f"{CONFIG_DIR}/{CONFIG_FILE}"]
PING = "valkey-cli ping | grep -q PONG"
SENTINEL_PORT = VALKEY_SENTINEL_PORT
SENTINEL_FILE = "sentinel.conf"
SENTINEL_DIR = f"{DATA_DIR}/sentinel"  # Sentinel rewrites its file: it must be writable
PRIMARY_NAME = wiring.VALKEY_PRIMARY_NAME  # what the Sentinels monitor the primary as
DOWN_AFTER_MS = 5000
FAILOVER_TIMEOUT_MS = 20000


def _quoted(value: str) -> str:
    """A value in double quotes as valkey.conf reads it: backslash, quote, newline and
    carriage return escaped, so a password with any character is one argument on one line."""
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


MAXMEMORY_SHARE = Decimal("0.75")
"""Share of the container's memory limit Valkey may fill with data. The rest is headroom the
limit must also hold: the append-only rewrite's forked child (copy-on-write pages), client
buffers and allocator fragmentation. Above maxmemory Valkey refuses writes (``noeviction``),
so the consumers hold and retry; the kernel never OOM-kills it into a reload loop."""


def maxmemory_bytes(memory_limit: str | None) -> int | None:
    """Valkey's ``maxmemory`` for a container memory limit: MAXMEMORY_SHARE of it."""
    limit = quantity_bytes(memory_limit) if memory_limit else None
    return None if limit is None else int(limit * MAXMEMORY_SHARE)


def _accepting(passwords: Passwords) -> str:
    """The line that makes a node or Sentinel accept the passwords: ``requirepass`` for one,
    the default user with each of them during a rotation."""
    if len(passwords.accepted) == 1:
        return f"requirepass {_quoted(passwords.accepted[0])}\n"
    keys = " ".join(_quoted(f">{password}") for password in passwords.accepted)
    return f"user default on {keys} ~* &* +@all\n"


def config_file(
    passwords: Passwords,
    maxmemory: int | None = None,
    fsync: str = "everysec",
    replicated: bool = False,
) -> str:
    """``valkey.conf``: every interface, the passwords, append-only files in /data fsynced as
    asked, and a memory bound that refuses writes rather than evicting dedupe keys or counts;
    ``replicated``: the password a replica gives its primary."""
    bound = f"maxmemory {maxmemory}\n" if maxmemory else ""
    auth = f"masterauth {_quoted(passwords.outgoing)}\n" if replicated else ""
    return auth + (
        "# Rendered by the Clima operator.\n"
        "bind * -::*\n"
        f"port {VALKEY_PORT}\n"
        f"{_accepting(passwords)}"
        "appendonly yes\n"
        f"appendfsync {fsync}\n"
        f"dir {DATA_DIR}\n"
        f"{bound}"
        "maxmemory-policy noeviction\n"
    )


def hosts(ctx: Context) -> list[str]:
    """Every node's DNS name, pod 0 first."""
    name = ctx.owner.child(COMPONENT)
    return [pod_dns(ctx, COMPONENT, f"{name}-{i}") for i in range(ctx.spec.valkey.managed.replicas)]


def sentinels(ctx: Context) -> str:
    """``host:port,...`` of every Sentinel, for the clients."""
    return ",".join(f"{host}:{SENTINEL_PORT}" for host in hosts(ctx))


def sentinel_file(ctx: Context, passwords: Passwords) -> str:
    """The Sentinels' initial ``sentinel.conf``: pod 0 is the first primary; a majority of
    the Sentinels must agree that it is down before one of them fails it over. A Sentinel
    gives its peers its own ``requirepass``; while it accepts two, ``sentinel-pass`` names
    the one to give."""
    quorum = ctx.spec.valkey.managed.replicas // 2 + 1
    outgoing = _quoted(passwords.outgoing)
    peers = f"sentinel sentinel-pass {outgoing}\n" if len(passwords.accepted) > 1 else ""
    return (
        "# Rendered by the Clima operator; each Sentinel keeps its own copy up to date.\n"
        f"port {SENTINEL_PORT}\n"
        "dir /tmp\n"
        "sentinel resolve-hostnames yes\n"
        "sentinel announce-hostnames yes\n"
        f"{_accepting(passwords)}"
        f"{peers}"
        f"sentinel monitor {PRIMARY_NAME} {hosts(ctx)[0]} {VALKEY_PORT} {quorum}\n"
        f"sentinel auth-pass {PRIMARY_NAME} {outgoing}\n"
        f"sentinel down-after-milliseconds {PRIMARY_NAME} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {PRIMARY_NAME} {FAILOVER_TIMEOUT_MS}\n"
        f"sentinel parallel-syncs {PRIMARY_NAME} 1\n"
    )


def _me(ctx: Context) -> str:
    return pod_dns(ctx, COMPONENT, f"${POD_NAME_ENV}")


def server_script(ctx: Context) -> str:
    """Start as the replica of the primary the Sentinels name (by majority of those that
    answer); as the primary when they name this node and it has data, or no peer has any;
    as pod 0's replica while no Sentinel answers; otherwise wait for a failover."""
    me, first = _me(ctx), hosts(ctx)[0]
    cli = "valkey-cli --no-auth-warning -t 1"
    peers = " ".join(hosts(ctx))
    names = " ".join(f"-e {host}" for host in hosts(ctx))
    return (
        "set -e\n"
        f'me="{me}"\n'
        f'ordinal="${{{POD_NAME_ENV}##*-}}"\n'
        # only a peer's name counts as an answer: an error (a Sentinel still on another
        # password answers NOAUTH or WRONGPASS) is no answer
        "primary() {\n"
        f"  for host in {peers}; do\n"
        f"    {cli} -h $host -p {SENTINEL_PORT} SENTINEL get-master-addr-by-name"
        f" {PRIMARY_NAME} 2>/dev/null | head -n 1 || true\n"
        f"  done | grep -x -F {names} | sort | uniq -c | sort -rn | head -n 1"
        " | awk '{print $2}'\n"
        "}\n"
        # a peer that does not answer has no data to lose; one that answers anything but a
        # count (an error: another password) may have some
        "peer_has_data() {\n"
        f"  for host in {peers}; do\n"
        '    [ "$host" = "$me" ] && continue\n'
        f"    keys=$({cli} -h $host -p {VALKEY_PORT} DBSIZE 2>/dev/null || true)\n"
        '    case "$keys" in\n'
        "      '') ;;\n"
        "      *[!0-9]*) return 0 ;;\n"
        '      *) [ "$keys" -gt 0 ] && return 0 ;;\n'
        "    esac\n"
        "  done\n"
        "  return 1\n"
        "}\n"
        f"serve() {{ exec valkey-server {CONFIG_DIR}/{CONFIG_FILE}"
        ' --replica-announce-ip "$me" "$@"; }\n'
        "while :; do\n"
        "  p=$(primary)\n"
        '  if [ -n "$p" ] && [ "$p" != "$me" ]; then serve --replicaof "$p" '
        f"{VALKEY_PORT}; fi\n"
        f'  if [ -z "$p" ] && [ "$ordinal" != 0 ]; then serve --replicaof {first} '
        f"{VALKEY_PORT}; fi\n"
        f"  if [ -d {DATA_DIR}/appendonlydir ] || ! peer_has_data; then serve; fi\n"
        '  echo "no data on this disk while a peer has some: waiting for the Sentinels to'
        ' promote a replica"\n'
        "  sleep 2\n"
        "done\n"
    )


#: the lines of a Sentinel's own copy that hold a password: its own (``requirepass``, which
#: a Sentinel rewrites as ``user default ... #<hash>`` too) and the ones it gives the nodes
#: and its peers
_PASSWORD_LINES = (
    "-e '^requirepass ' -e '^user default ' -e '^sentinel auth-pass ' "  # noqa: S105
    "-e '^sentinel sentinel-pass '"
)


def sentinel_script(ctx: Context) -> str:
    """Copy the initial configuration to the volume once (with this pod's own name), then
    run the Sentinel on that copy, which it keeps current. The password lines of the copy are
    replaced by the rendered file's on every start, so a rotated password reaches a Sentinel
    whose state (the primary it follows, its peers) lives on."""
    own = f"{SENTINEL_DIR}/{SENTINEL_FILE}"
    rendered = f"{CONFIG_DIR}/{SENTINEL_FILE}"
    return (
        "set -e\n"
        f"mkdir -p {SENTINEL_DIR}\n"
        f"if [ ! -f {own} ]; then\n"
        f"  cp {rendered} {own}.new\n"
        f'  echo "sentinel announce-ip {_me(ctx)}" >> {own}.new\n'
        f"  mv {own}.new {own}\n"
        "fi\n"
        f"grep -v {_PASSWORD_LINES} {own} > {own}.new || true\n"
        f"grep {_PASSWORD_LINES} {rendered} >> {own}.new\n"
        f"mv {own}.new {own}\n"
        f"exec valkey-server {own} --sentinel\n"
    )


def sentinel_container(ctx: Context, variables: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``sentinel`` container beside each node."""
    managed = ctx.spec.valkey.managed
    return {
        "name": "sentinel",
        "image": managed.image,
        "imagePullPolicy": ctx.spec.image_pull_policy,
        "command": ["sh", "-c", sentinel_script(ctx)],
        "env": variables,
        "ports": [{"name": "sentinel", "containerPort": SENTINEL_PORT, "protocol": "TCP"}],
        "readinessProbe": tcp_probe("sentinel", period=5),
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"memory": "64Mi"},
        },
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            TMP_MOUNT,
        ],
    }


def _memory_limit(ctx: Context) -> str | None:
    limits = ctx.spec.valkey.managed.resources.limits
    return limits.memory if limits is not None else None


PORTS = [("valkey", VALKEY_PORT)]


def container(ctx: Context, variables: list[dict[str, Any]], command: list[str]) -> dict[str, Any]:
    """The Valkey container."""
    return store_container(
        ctx,
        COMPONENT,
        ctx.spec.valkey.managed,
        variables=variables,
        ports=PORTS,
        probes=(exec_probe(["sh", "-c", PING], period=5), tcp_probe("valkey", delay=30)),
        data_dir=DATA_DIR,
        command=command,
        config_dir=CONFIG_DIR,
    )


def build(ctx: Context) -> list[Manifest]:
    """Config Secret, StatefulSet and headless Service, when Valkey is managed (the Secret
    only when the password is known, as in every reconcile)."""
    if ctx.spec.valkey.type != "managed":
        return []
    secret = credentials.secret_name(ctx.owner)
    variables = [env_from_secret("REDISCLI_AUTH", secret, credentials.VALKEY_PASSWORD)]
    replicas = ctx.spec.valkey.managed.replicas
    command, sidecars, ports = COMMAND, [], PORTS
    if replicas > 1:
        variables.append(field_env(POD_NAME_ENV, "metadata.name"))
        command = ["sh", "-c", server_script(ctx)]
        sidecars = [sentinel_container(ctx, variables)]
        ports = [*PORTS, ("sentinel", SENTINEL_PORT)]
    main = container(ctx, variables, command)
    passwords = _passwords(ctx)
    maxmemory = maxmemory_bytes(_memory_limit(ctx))
    fsync = ctx.spec.valkey.managed.append_fsync
    rendered: dict[str, str] = {}
    if passwords is not None:
        rendered[CONFIG_FILE] = config_file(passwords, maxmemory, fsync, replicas > 1)
        rendered[valkey_rotation.PASSWORDS_FILE] = valkey_rotation.recorded(passwords)
        if replicas > 1:
            rendered[SENTINEL_FILE] = sentinel_file(ctx, passwords)
    config = config_object(ctx, COMPONENT, "Secret", rendered) if rendered else None
    inputs = {"env": variables, "command": command, "config": rendered}
    if sidecars:
        inputs["sentinel"] = sidecars[0]["command"]
    return store_objects(
        ctx, COMPONENT, ctx.spec.valkey.managed, main,
        inputs=inputs, uid=UID, ports=ports, config=config, config_kind="Secret",
        replicas=replicas, sidecars=sidecars,
    )  # fmt: skip


def _passwords(ctx: Context) -> Passwords | None:
    if ctx.valkey_passwords is not None:
        return ctx.valkey_passwords
    password = ctx.credentials.get(credentials.VALKEY_PASSWORD)
    return None if password is None else Passwords.single(password)


def config_name(owner: Owner) -> str:
    """The config Secret's name."""
    return owner.child(f"{COMPONENT}-config")
