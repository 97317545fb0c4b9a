"""The managed stores' rendered configuration: files, commands and what rolls their pods."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from clima_operator.children import CHECKSUM_ANNOTATION, Context, desired
from clima_operator.children.kafka import cluster_id
from clima_operator.reconciler import Reconciler

IMAGE = "r.example/clima/clima:0.1.0"  # what the chart gives the operator

Build = Callable[..., Context]


def _by_name(ctx: Context) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["kind"], m["metadata"]["name"]): m for m in desired(ctx)}


def _container(statefulset: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = statefulset["spec"]["template"]["spec"]["containers"][0]
    return container


def _properties(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def _secret_file(secret: dict[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


def _config_volume(statefulset: dict[str, Any]) -> dict[str, Any]:
    volumes = statefulset["spec"]["template"]["spec"]["volumes"]
    volume: dict[str, Any] = next(v for v in volumes if v["name"] == "config")
    return volume


def _checksum(ctx: Context, name: str) -> str:
    sts = _by_name(ctx)[("StatefulSet", name)]
    checksum: str = sts["spec"]["template"]["metadata"]["annotations"][CHECKSUM_ANNOTATION]
    return checksum


def test_kafka_properties_are_rendered_into_a_secret(make_ctx: Build) -> None:
    """server.properties: one KRaft node, the pod's stable address, factor-1 internal topics,
    SASL/PLAIN on both listeners (it holds the users: a Secret)."""
    objects = _by_name(make_ctx())
    secret = objects[("Secret", "demo-kafka-config")]
    config = {key: _secret_file(secret, key) for key in secret["data"]}
    props = _properties(config["server.properties"])
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["advertised.listeners"] == "CLIENT://demo-kafka-0.demo-kafka.ns.svc:9092"
    assert (
        props["listener.security.protocol.map"] == "CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT"
    )
    assert props["sasl.enabled.mechanisms"] == "PLAIN"
    jaas = props["listener.name.client.plain.sasl.jaas.config"]
    assert 'username="clima1" password="kafka-pw" user_clima1="kafka-pw";' in jaas
    assert props["listener.name.controller.plain.sasl.jaas.config"] == jaas
    assert config["client-password"] == "kafka-pw"
    assert "security.protocol=SASL_PLAINTEXT" in config["client.properties"]
    assert props["controller.quorum.voters"] == "1@localhost:9093"
    assert props["log.dirs"] == "/var/lib/kafka/data/kraft"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert "rootLogger.level = INFO" in config["log4j2.properties"]
    assert "appender.stdout.type = Console" in config["log4j2.properties"]


def test_kafka_starts_with_plain_java_from_the_mounted_config(make_ctx: Build) -> None:
    """The command formats once with the cluster id, then execs kafka.Kafka; root is read-only."""
    ctx = make_ctx()
    kafka = _by_name(ctx)[("StatefulSet", "demo-kafka")]
    container = _container(kafka)
    shell, flag, script = container["command"]
    assert (shell, flag) == ("sh", "-c")
    assert "if [ ! -f /var/lib/kafka/data/kraft/meta.properties ]" in script
    assert f"--cluster-id={cluster_id(ctx.owner.uid)}" in script
    assert "kafka.tools.StorageTool format" in script
    assert "exec java $KAFKA_HEAP_OPTS" in script
    assert "-cp '/opt/kafka/libs/*' kafka.Kafka /etc/clima/kafka/server.properties" in script
    assert "-Dlog4j2.configurationFile=/etc/clima/kafka/log4j2.properties" in script
    assert "args" not in container
    assert not [v for v in container["env"] if v["name"].startswith("KAFKA_") and
                v["name"] != "KAFKA_HEAP_OPTS"]  # fmt: skip
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert (mount["mountPath"], mount["readOnly"]) == ("/etc/clima/kafka", True)
    assert _config_volume(kafka)["secret"]["secretName"] == "demo-kafka-config"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert kafka["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 1000


def test_rabbitmq_conf_is_a_secret_with_the_password(make_ctx: Build) -> None:
    """rabbitmq.conf holds user clima and the password, so it is a Secret, not a ConfigMap."""
    objects = _by_name(make_ctx())
    secret = objects[("Secret", "demo-rabbitmq-config")]
    conf = _secret_file(secret, "rabbitmq.conf")
    for line in ("listeners.tcp.default = 5672", "loopback_users = none", "default_user = clima",
                 "log.console = true", "log.file = false"):  # fmt: skip
        assert line in conf.splitlines()
    # the password itself is in definitions.json (JSON holds any character); this file has a
    # digest of it for a first start only
    assert "rabbit-pw" not in conf
    assert f"default_pass = {hashlib.sha256(b'rabbit-pw').hexdigest()}" in conf.splitlines()
    assert "prometheus" not in conf
    assert ("ConfigMap", "demo-rabbitmq-config") not in objects


def test_rabbitmq_runs_rabbitmq_server_on_the_rendered_file(make_ctx: Build) -> None:
    """Command rabbitmq-server, config by RabbitMQ's own variables, no image conventions."""
    rabbit = _by_name(make_ctx())[("StatefulSet", "demo-rabbitmq")]
    container = _container(rabbit)
    assert container["command"] == ["rabbitmq-server"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["RABBITMQ_CONFIG_FILE"] == "/etc/clima/rabbitmq/rabbitmq"
    assert env["RABBITMQ_CONFIG_FILES"] == "/etc/clima/rabbitmq/conf.d"
    assert env["HOME"] == "/var/lib/rabbitmq"
    assert env["RABBITMQ_MNESIA_BASE"].startswith("/var/lib/rabbitmq/")
    assert "RABBITMQ_DEFAULT_PASS" not in env
    assert _config_volume(rabbit) == {"name": "config",
                                      "secret": {"secretName": "demo-rabbitmq-config"}}  # fmt: skip
    probe = container["readinessProbe"]["exec"]["command"]
    assert probe[0] == "rabbitmq-diagnostics"
    assert rabbit["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 999


def test_valkey_password_is_in_its_config_not_on_a_command_line(make_ctx: Build) -> None:
    """valkey-server reads valkey.conf from a Secret; the probe authenticates from the env."""
    objects = _by_name(make_ctx())
    conf = _secret_file(objects[("Secret", "demo-valkey-config")], "valkey.conf")
    assert 'requirepass "valkey-pw"' in conf.splitlines()
    assert {"appendonly yes", "dir /data", "port 6379"} <= set(conf.splitlines())
    valkey = objects[("StatefulSet", "demo-valkey")]
    container = _container(valkey)
    assert container["command"] == ["valkey-server", "/etc/clima/valkey/valkey.conf"]
    probe = " ".join(container["readinessProbe"]["exec"]["command"])
    assert "valkey-cli ping" in probe
    assert "-a" not in probe.split()
    (auth,) = container["env"]
    assert auth["name"] == "REDISCLI_AUTH"
    assert auth["valueFrom"]["secretKeyRef"] == {"name": "demo-credentials",
                                                 "key": "valkey-password"}  # fmt: skip
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_valkey_password_is_quoted_in_its_config(make_ctx: Build) -> None:
    """A chosen password with a quote or a space stays one value in valkey.conf."""
    ctx = make_ctx(credentials={"valkey-password": 'a "b" c\\', "rabbitmq-password": "r"})
    conf = _secret_file(_by_name(ctx)[("Secret", "demo-valkey-config")], "valkey.conf")
    assert 'requirepass "a \\"b\\" c\\\\"' in conf.splitlines()


def test_without_passwords_no_config_secret_is_rendered(make_ctx: Build) -> None:
    """A render without the credentials (no cluster) makes no Secret with a blank password."""
    objects = _by_name(make_ctx(credentials={}))
    assert not [key for key in objects if key[0] == "Secret"]
    assert ("StatefulSet", "demo-valkey") in objects


def test_a_changed_password_rolls_only_its_store(make_ctx: Build) -> None:
    """The rendered file is an input of the pod template: a new password rolls that store."""
    before = make_ctx(credentials={"valkey-password": "v1", "rabbitmq-password": "r"})
    after = make_ctx(credentials={"valkey-password": "v2", "rabbitmq-password": "r"})
    assert _checksum(before, "demo-valkey") != _checksum(after, "demo-valkey")
    assert _checksum(before, "demo-rabbitmq") == _checksum(after, "demo-rabbitmq")
    assert _checksum(before, "demo-kafka") == _checksum(after, "demo-kafka")


def test_a_kafka_setting_change_rolls_kafka(make_ctx: Build) -> None:
    """The namespace is in advertised.listeners; a different one rolls the broker's pod."""
    ctx = make_ctx()
    moved = Context(ctx.owner.__class__("demo", "other", ctx.owner.uid), ctx.spec,
                    credentials=ctx.credentials)  # fmt: skip
    assert _checksum(ctx, "demo-kafka") != _checksum(moved, "demo-kafka")


def test_reconcile_renders_the_secrets_with_the_generated_passwords(
    cluster: Any, events: Any
) -> None:
    """A pass reads the credentials it generated and renders them; a second pass writes nothing."""
    cluster.add_pipeline()
    reconciler = Reconciler(
        cluster, events, default_image=IMAGE, now=lambda: "2025-01-01T00:00:00Z"
    )
    reconciler.reconcile("ns", "demo")
    generated = base64.b64decode(cluster.child("Secret", "demo-credentials")["data"]
                                 ["valkey-password"]).decode()  # fmt: skip
    conf = _secret_file(cluster.child("Secret", "demo-valkey-config"), "valkey.conf")
    assert f'requirepass "{generated}"' in conf
    assert cluster.child("Secret", "demo-kafka-config")
    created = events.reasons().count("Created")
    writes = len(cluster.writes)
    reconciler.reconcile("ns", "demo")
    assert events.reasons().count("Created") == created
    assert [w for w in cluster.writes[writes:] if w[0] != "status"] == []


def _grafana_env(ctx: Context) -> dict[str, Any]:
    deployment = _by_name(ctx)[("Deployment", "demo-grafana")]
    env = _container(deployment)["env"]
    return {item["name"]: item.get("value") for item in env}


def test_grafana_installs_the_pinned_redis_plugin_before_start(make_ctx: Build) -> None:
    """Grafana 11.5 gets the plugin from GF_INSTALL_PLUGINS, version pinned, not PREINSTALL_SYNC."""
    env = _grafana_env(make_ctx())
    assert env["GF_INSTALL_PLUGINS"] == "redis-datasource 2.2.0"
    assert env["GF_INSTALL_PLUGINS_FORCE"] == "true"
    assert "GF_PLUGINS_PREINSTALL_SYNC" not in env


def test_grafana_plugin_from_an_in_cluster_url(make_ctx: Build) -> None:
    """spec.grafana.pluginUrl installs the zip from that URL; changing it rolls only Grafana."""
    url = "http://files.tools.svc/redis-datasource-2.2.0.zip"
    ctx = make_ctx({"grafana": {"pluginUrl": url}})
    assert _grafana_env(ctx)["GF_INSTALL_PLUGINS"] == f"{url};redis-datasource"
    old = {m["metadata"]["name"]: m for m in desired(make_ctx()) if m["kind"] == "Deployment"}
    new = {m["metadata"]["name"]: m for m in desired(ctx) if m["kind"] == "Deployment"}
    rolled = {
        name
        for name in old
        if old[name]["spec"]["template"]["metadata"]["annotations"]
        != new[name]["spec"]["template"]["metadata"]["annotations"]
    }
    assert rolled == {"demo-grafana"}
