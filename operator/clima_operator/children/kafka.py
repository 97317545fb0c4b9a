"""The managed Kafka: ``spec.kafka.managed.replicas`` KRaft nodes in a StatefulSet, each
a broker and a controller.

The operator renders ``server.properties`` and a log4j2 configuration into the Secret
``<pipeline>-kafka-config`` (it holds the SASL users, see ``kafka_auth``) and starts the
broker with plain ``java``: the jars in
``/opt/kafka/libs`` and ``java`` on PATH are all it needs, which the apache/kafka image and
an image built from the Maven artefacts both provide. The storage is formatted once, on
the first start, with the pipeline's cluster id.

With several nodes the controller quorum is static: every pod is a voter named by its
stable DNS name, and a pod adds what is its own to a copy of the shared file at start
(``node.id`` from its ordinal, its advertised name, and ``broker.rack`` from its node's
zone). Topics get min(3, N) copies and an acknowledged write needs 2 of them from N = 3.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from clima.wiring import KAFKA_PORT
from clima_operator.children import kafka_auth
from clima_operator.children._disk import RETENTION_CHECK_MS, copies, kafka_disk
from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import env, field_env, tcp_probe
from clima_operator.children._store import (
    POD_NAME_ENV,
    config_object,
    pod_dns,
    store_container,
    store_objects,
)

COMPONENT = "kafka"
CONTROLLER_PORT = 9093
#: the listeners: clients and the other brokers on CLIENT, the controller quorum on
#: CONTROLLER; both require SASL when the users are known (always, in a reconcile)
CLIENT, CONTROLLER = "CLIENT", "CONTROLLER"
UID = 1000  # "appuser" of the apache/kafka image, and of Clima's own Kafka image
DATA_DIR = "/var/lib/kafka/data"
LOG_DIR = f"{DATA_DIR}/kraft"  # a sub-folder: the volume root has lost+found
CONFIG_DIR = "/etc/clima/kafka"
PROPERTIES = "server.properties"
LOGGING = "log4j2.properties"
CLASSPATH = "/opt/kafka/libs/*"
HEAP = "-Xms256m -Xmx512m"
#: What kafka-run-class.sh would add; the broker exits rather than limp on without memory.
JVM_OPTS = (
    "-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 "
    "-XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true "
    f"-Dlog4j2.configurationFile={CONFIG_DIR}/{LOGGING} "
    "-Dorg.slf4j.simpleLogger.showDateTime=true"
)


def cluster_id(uid: str) -> str:
    """A KRaft cluster id (22 base64url characters) that is stable for the pipeline's life."""
    digest = hashlib.sha256(uid.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def pod_host(ctx: Context, ordinal: int | str) -> str:
    """The stable DNS name of one Kafka pod (``ordinal`` may be a shell expansion)."""
    return pod_dns(ctx, COMPONENT, f"{ctx.owner.child(COMPONENT)}-{ordinal}")


def settings(ctx: Context) -> dict[str, str]:
    """KRaft combined-mode settings: one node, or a replicated cluster."""
    replicas = ctx.spec.kafka.managed.replicas
    if replicas > 1:
        return cluster_settings(ctx, replicas)
    advertised = f"{pod_host(ctx, 0)}:{KAFKA_PORT}"
    return {
        "node.id": "1",
        "process.roles": "broker,controller",
        **listeners(ctx),
        "advertised.listeners": f"{CLIENT}://{advertised}",
        # a static quorum of this one node (Kafka 4 still reads it; the dynamic
        # controller.quorum.bootstrap.servers would need the storage formatted --standalone)
        "controller.quorum.voters": f"1@localhost:{CONTROLLER_PORT}",
        "log.dirs": LOG_DIR,
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        **retention(ctx),
    }


def listeners(ctx: Context) -> dict[str, str]:
    """The two listeners, SASL/PLAIN on both when the users are known."""
    users = kafka_auth.current(ctx)
    protocol = kafka_auth.PROTOCOL if users is not None else "PLAINTEXT"
    found = {
        "listeners": f"{CLIENT}://:{KAFKA_PORT},{CONTROLLER}://:{CONTROLLER_PORT}",
        "listener.security.protocol.map": f"{CONTROLLER}:{protocol},{CLIENT}:{protocol}",
        "controller.listener.names": CONTROLLER,
        "inter.broker.listener.name": CLIENT,
    }
    if users is not None:
        found.update(kafka_auth.settings(users, (CLIENT, CONTROLLER)))
    return found


def retention(ctx: Context) -> dict[str, str]:
    """Retention by bytes sized to the volume (see :mod:`clima_operator.children._disk`)."""
    disk = kafka_disk(ctx.spec)
    return {
        "log.retention.bytes": str(disk.retention),
        "log.segment.bytes": str(disk.segment),
        "log.retention.check.interval.ms": str(RETENTION_CHECK_MS),
    }


def cluster_settings(ctx: Context, replicas: int) -> dict[str, str]:
    """Settings every node of a replicated cluster shares; ``node.id``,
    ``advertised.listeners`` and ``broker.rack`` are each pod's own (see ``command``)."""
    factor, insync = copies(replicas)
    voters = ",".join(
        f"{ordinal + 1}@{pod_host(ctx, ordinal)}:{CONTROLLER_PORT}" for ordinal in range(replicas)
    )
    return {
        "process.roles": "broker,controller",
        **listeners(ctx),
        "controller.quorum.voters": voters,
        "log.dirs": LOG_DIR,
        "default.replication.factor": str(factor),
        "min.insync.replicas": str(insync),
        "unclean.leader.election.enable": "false",
        "offsets.topic.replication.factor": str(factor),
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": str(factor),
        "transaction.state.log.min.isr": str(insync),
        "share.coordinator.state.topic.replication.factor": str(factor),
        "share.coordinator.state.topic.min.isr": str(insync),
        "group.initial.rebalance.delay.ms": "0",
        **retention(ctx),
    }


def server_properties(ctx: Context) -> str:
    """The broker's ``server.properties``."""
    lines = [f"# Rendered by the Clima operator for {ctx.owner.namespace}/{ctx.owner.name}."]
    lines += [f"{key}={kafka_auth.property_value(value)}" for key, value in settings(ctx).items()]
    return "\n".join(lines) + "\n"


#: Kafka 4 logs through log4j2; without a configuration it prints errors only. Everything
#: goes to stdout at INFO, the request log at WARN as in Kafka's own configuration. (An
#: image whose jars bind slf4j to another backend logs to the console by that backend.)
LOG4J2 = """\
status = warn
name = clima-kafka
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def files(ctx: Context) -> dict[str, str]:
    """The files of the Secret ``<pipeline>-kafka-config``: the broker's, the clients'
    password and the rotation step (see ``kafka_auth``)."""
    found = {PROPERTIES: server_properties(ctx), LOGGING: LOG4J2}
    users = kafka_auth.current(ctx)
    if users is not None:
        found[kafka_auth.USERS_FILE] = kafka_auth.recorded(users)
        found[kafka_auth.CLIENT_PASSWORD] = users.password
        bootstrap = f"localhost:{KAFKA_PORT}"
        found[kafka_auth.CLIENT_PROPERTIES] = kafka_auth.client_properties(users, bootstrap)
    return found


ZONE_ENV = "CLIMA_NODE_ZONE"
#: Kubernetes 1.35+ copies the node's zone label onto the pod at scheduling; before, and on
#: nodes without the label, the variable is empty and the broker has no rack.
ZONE_LABEL = "topology.kubernetes.io/zone"
OWN_PROPERTIES = "/tmp/server.properties"  # noqa: S108 - in the pod's private emptyDir


def own_properties(ctx: Context) -> str:
    """Shell lines that write this pod's copy of the shared file with its own settings."""
    advertised = f"{CLIENT}://{pod_host(ctx, '$ordinal')}:{KAFKA_PORT}"
    return (
        f"ordinal=${{{POD_NAME_ENV}##*-}}\n"
        f"cp {CONFIG_DIR}/{PROPERTIES} {OWN_PROPERTIES}\n"
        f'echo "node.id=$((ordinal + 1))" >> {OWN_PROPERTIES}\n'
        f'echo "advertised.listeners={advertised}" >> {OWN_PROPERTIES}\n'
        f'if [ -n "${ZONE_ENV}" ]; then echo "broker.rack=${ZONE_ENV}" >> {OWN_PROPERTIES}; fi\n'
    )


def command(ctx: Context) -> list[str]:
    """Format the storage on the first start, then run the broker in the foreground.

    ``--cluster-id=`` keeps an id that starts with ``-`` from being read as an option.
    """
    clustered = ctx.spec.kafka.managed.replicas > 1
    props = OWN_PROPERTIES if clustered else f"{CONFIG_DIR}/{PROPERTIES}"
    java = f"java $KAFKA_HEAP_OPTS {JVM_OPTS} -cp '{CLASSPATH}'"
    script = (
        "set -e\n"
        + (own_properties(ctx) if clustered else "")
        + f"if [ ! -f {LOG_DIR}/meta.properties ]; then\n"
        f"  {java} kafka.tools.StorageTool format --cluster-id={cluster_id(ctx.owner.uid)}"
        f" -c {props} --ignore-formatted\n"
        "fi\n"
        f"exec {java} kafka.Kafka {props}\n"
    )
    return ["sh", "-c", script]


PORTS = [("kafka", KAFKA_PORT), ("controller", CONTROLLER_PORT)]


def container(ctx: Context, variables: list[dict[str, Any]]) -> dict[str, Any]:
    """The Kafka container; it writes only below /var/lib/kafka/data and /tmp."""
    return store_container(
        ctx,
        COMPONENT,
        ctx.spec.kafka.managed,
        variables=variables,
        ports=PORTS,
        probes=(tcp_probe("kafka", period=5), tcp_probe("kafka", delay=60)),
        data_dir=DATA_DIR,
        command=command(ctx),
        config_dir=CONFIG_DIR,
    )


def build(ctx: Context) -> list[Manifest]:
    """Config Secret, StatefulSet and headless Service, when the mode uses Kafka and it is
    managed."""
    if not ctx.spec.uses_kafka or ctx.spec.kafka.type != "managed":
        return []
    variables = [env("KAFKA_HEAP_OPTS", HEAP)]
    if ctx.spec.kafka.managed.replicas > 1:
        variables += [field_env(POD_NAME_ENV, "metadata.name"),
                      field_env(ZONE_ENV, f"metadata.labels['{ZONE_LABEL}']")]  # fmt: skip
    main = container(ctx, variables)
    rendered = files(ctx)
    inputs = {"env": variables, "command": main["command"], "config": rendered}
    # like every store's: no config without the password (a render without the cluster)
    known = kafka_auth.current(ctx) is not None
    config = config_object(ctx, COMPONENT, "Secret", rendered) if known else None
    return store_objects(
        ctx, COMPONENT, ctx.spec.kafka.managed, main,
        inputs=inputs, uid=UID, ports=PORTS, config=config, config_kind="Secret",
        replicas=ctx.spec.kafka.managed.replicas,
    )  # fmt: skip
