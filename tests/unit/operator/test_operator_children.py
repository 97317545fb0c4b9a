"""Child manifests: names, owners, the spec's values, the mode's choices and pod security."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from clima.writer.settings import WriterSettings
from clima_operator.children import Context, components, credentials, desired
from clima_operator.children.kafka import cluster_id

Build = Callable[..., Context]


def _by_name(ctx: Context) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["kind"], m["metadata"]["name"]): m for m in desired(ctx)}


def _env(manifest: dict[str, Any]) -> dict[str, Any]:
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def test_default_pipeline_has_every_child(make_ctx: Build) -> None:
    """Mode both with managed backends yields all Deployments, StatefulSets and Services."""
    names = set(_by_name(make_ctx()))
    deployments = {"api", "proxy", "writer", "kafka-consumer", "rabbit-consumer", "grafana"}
    assert {("Deployment", f"demo-{n}") for n in deployments} <= names
    assert {("StatefulSet", f"demo-{n}") for n in ("kafka", "rabbitmq", "valkey")} <= names
    services = {"api", "proxy", "writer", "kafka", "rabbitmq", "valkey", "grafana"}
    assert {("Service", f"demo-{n}") for n in services} <= names
    assert ("ConfigMap", "demo-grafana-datasources") in names
    assert ("ConfigMap", "demo-grafana-dashboards") in names


def test_every_child_is_owned_and_labelled(make_ctx: Build) -> None:
    """Each child has the pipeline as controller owner and the pipeline label (for GC, prune)."""
    for manifest in desired(make_ctx()):
        meta = manifest["metadata"]
        (ref,) = meta["ownerReferences"]
        assert ref["kind"] == "ClimaPipeline"
        assert ref["controller"]
        assert ref["blockOwnerDeletion"]
        assert meta["labels"]["clima.io/pipeline"] == "demo"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "clima-operator"
        assert meta["namespace"] == "ns"


def test_spec_values_reach_the_manifests(make_ctx: Build) -> None:
    """Replicas, images, resources and retention come from the spec."""
    ctx = make_ctx(
        {
            "image": "registry/clima:1",
            "writer": {"replicas": 3, "image": "registry/writer:2"},
            "proxy": {"resources": {"requests": {"cpu": "300m"}, "limits": {"memory": "1Gi"}}},
            "retention": {"streamMaxLen": 777},
        }
    )
    objects = _by_name(ctx)
    writer = objects[("Deployment", "demo-writer")]
    assert writer["spec"]["replicas"] == 3
    assert writer["spec"]["template"]["spec"]["containers"][0]["image"] == "registry/writer:2"
    proxy = objects[("Deployment", "demo-proxy")]["spec"]["template"]["spec"]["containers"][0]
    assert proxy["image"] == "registry/clima:1"
    assert proxy["resources"] == {"requests": {"cpu": "300m"}, "limits": {"memory": "1Gi"}}
    assert _env(objects[("Deployment", "demo-kafka-consumer")])["CLIMA_STREAM_MAXLEN"] == "777"


def test_process_contract(make_ctx: Build) -> None:
    """Each Clima process runs `clima <args>` with the addresses of its neighbours."""
    objects = _by_name(make_ctx())
    api = objects[("Deployment", "demo-api")]["spec"]["template"]["spec"]["containers"][0]
    assert (api["command"], api["args"]) == (["clima"], ["api"])
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert _env(objects[("Deployment", "demo-api")])["GRPC_SERVER_URL"] == "demo-proxy:50052"
    assert _env(objects[("Deployment", "demo-proxy")])["GRPC_SERVER_URL"] == "demo-writer:50051"
    writer = objects[("Deployment", "demo-writer")]["spec"]["template"]["spec"]["containers"][0]
    assert writer["readinessProbe"]["grpc"] == {"port": 50051}
    consumer = objects[("Deployment", "demo-rabbit-consumer")]["spec"]["template"]["spec"]
    assert consumer["containers"][0]["args"] == ["consumer", "rabbit"]
    service = objects[("Service", "demo-api")]["spec"]["ports"][0]
    assert (service["port"], service["targetPort"]) == (80, "http")


def test_writer_env_uses_dependent_expansion(make_ctx: Build) -> None:
    """The RabbitMQ URL embeds $(RABBITMQ_PASSWORD), defined earlier from the Secret."""
    writer = _by_name(make_ctx())[("Deployment", "demo-writer")]
    env = writer["spec"]["template"]["spec"]["containers"][0]["env"]
    names = [item["name"] for item in env]
    assert names.index("RABBITMQ_PASSWORD") < names.index("RABBITMQ_URL")
    values = _env(writer)
    assert values["WRITER_TARGET"] == "both"
    assert values["KAFKA_BROKER"] == "demo-kafka:9092"
    assert values["RABBITMQ_URL"] == "amqp://clima:$(RABBITMQ_PASSWORD)@demo-rabbitmq:5672/"
    assert values["RABBITMQ_PASSWORD"] == {
        "secretKeyRef": {"name": "demo-credentials", "key": "rabbitmq-password"}
    }


def test_kafka_mode_drops_rabbit_children(make_ctx: Build) -> None:
    """Mode kafka deploys neither the rabbit consumer nor RabbitMQ, and the writer lacks its URL."""
    objects = _by_name(make_ctx({"mode": "kafka"}))
    assert ("Deployment", "demo-rabbit-consumer") not in objects
    assert ("StatefulSet", "demo-rabbitmq") not in objects
    assert "RABBITMQ_URL" not in _env(objects[("Deployment", "demo-writer")])
    assert ("Deployment", "demo-kafka-consumer") in objects


def test_external_backends_are_not_deployed(make_ctx: Build) -> None:
    """External brokers and Valkey get no StatefulSet; clients use the given addresses."""
    ctx = make_ctx(
        {
            "kafka": {"type": "external", "external": {"address": "k1:9092,k2:9092"}},
            "rabbitmq": {
                "type": "external",
                "external": {"address": "mq", "username": "u", "secretRef": {"name": "mq"}},
            },
            "valkey": {
                "type": "external",
                "external": {"address": "kv:6380", "secretRef": {"name": "kv", "key": "pw"}},
            },
        }
    )
    objects = _by_name(ctx)
    assert not [key for key in objects if key[0] == "StatefulSet"]
    writer = _env(objects[("Deployment", "demo-writer")])
    assert writer["KAFKA_BROKER"] == "k1:9092,k2:9092"
    assert writer["RABBITMQ_URL"] == "amqp://u:$(RABBITMQ_PASSWORD)@mq:5672/"
    assert writer["RABBITMQ_PASSWORD"] == {"secretKeyRef": {"name": "mq", "key": "password"}}
    consumer = _env(objects[("Deployment", "demo-kafka-consumer")])
    assert consumer["VALKEY_SERVICE_URL"] == "redis://:$(VALKEY_PASSWORD)@kv:6380/0"
    refs = {ref.condition: ref.external for ref in components(ctx)}
    assert refs["KafkaReady"] == "k1:9092,k2:9092"


def test_managed_statefulsets_have_storage(make_ctx: Build) -> None:
    """Managed backends claim a volume of the spec's size and class."""
    ctx = make_ctx({"kafka": {"managed": {"storage": {"size": "9Gi", "storageClassName": "ssd"}}}})
    kafka = _by_name(ctx)[("StatefulSet", "demo-kafka")]
    (claim,) = kafka["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "9Gi"
    assert claim["spec"]["storageClassName"] == "ssd"
    assert kafka["spec"]["serviceName"] == "demo-kafka"
    assert len(cluster_id(ctx.owner.uid)) == 22


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
def test_pods_are_restricted(make_ctx: Build, kind: str) -> None:
    """Every pod runs non-root with RuntimeDefault seccomp, no escalation, no capabilities."""
    for manifest in desired(make_ctx()):
        if manifest["kind"] != kind:
            continue
        pod = manifest["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_clima_pods_are_read_only_uid_10001(make_ctx: Build) -> None:
    """Pods of the Clima image run as 10001 with a read-only root file system."""
    writer = _by_name(make_ctx())[("Deployment", "demo-writer")]["spec"]["template"]["spec"]
    assert writer["securityContext"]["runAsUser"] == 10001
    assert writer["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_autoscaling_hands_replicas_to_the_hpa(make_ctx: Build) -> None:
    """With autoscaling on, the api Deployment has no replicas and an HPA targets it."""
    ctx = make_ctx({"api": {"replicas": 4, "autoscaling": {"enabled": True, "maxReplicas": 9}}})
    objects = _by_name(ctx)
    assert "replicas" not in objects[("Deployment", "demo-api")]["spec"]
    hpa = objects[("HorizontalPodAutoscaler", "demo-api")]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 9)
    target = hpa["spec"]["metrics"][0]["resource"]["target"]
    assert target == {"type": "Utilization", "averageUtilization": 70}


def test_ingress_routes_to_the_api(make_ctx: Build) -> None:
    """The Ingress has the spec's class, host and TLS secret and points at the api Service."""
    ctx = make_ctx(
        {"ingress": {"enabled": True, "className": "nginx", "host": "c.io", "tlsSecretName": "t"}}
    )
    ingress = _by_name(ctx)[("Ingress", "demo-api")]["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["rules"][0]["host"] == "c.io"
    backend = ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "demo-api", "port": {"name": "http"}}
    assert ingress["tls"] == [{"hosts": ["c.io"], "secretName": "t"}]


def test_grafana_is_provisioned(make_ctx: Build) -> None:
    """Grafana mounts the data-source and dashboard ConfigMaps; dashboards come from files."""
    objects = _by_name(make_ctx(dashboards={"overview.json": '{"uid": "clima-overview"}'}))
    sources = yaml.safe_load(
        objects[("ConfigMap", "demo-grafana-datasources")]["data"]["clima-valkey.yaml"]
    )
    (source,) = sources["datasources"]
    assert (source["type"], source["uid"]) == ("redis-datasource", "clima-valkey")
    assert source["url"] == "redis://demo-valkey:6379"
    assert source["secureJsonData"]["password"] == "$__env{VALKEY_PASSWORD}"
    boards = objects[("ConfigMap", "demo-grafana-dashboards")]["data"]
    assert boards["overview.json"] == '{"uid": "clima-overview"}'
    pod = objects[("Deployment", "demo-grafana")]["spec"]["template"]["spec"]
    maps = {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
    assert maps == {"demo-grafana-datasources", "demo-grafana-dashboards"}
    assert _env(objects[("Deployment", "demo-grafana")])["GF_SECURITY_ADMIN_PASSWORD"] == {
        "secretKeyRef": {"name": "demo-credentials", "key": "grafana-admin-password"}
    }


def test_grafana_off_removes_its_objects(make_ctx: Build) -> None:
    """Grafana disabled means no Grafana Deployment, Service or ConfigMaps."""
    assert not [
        key for key in _by_name(make_ctx({"grafana": {"enabled": False}})) if "grafana" in key[1]
    ]


def test_credentials_are_random_and_complete(make_ctx: Build) -> None:
    """The Secret has every key, each a distinct random URL-safe value; no fixed defaults."""
    owner = make_ctx().owner
    first, second = credentials.new_secret(owner), credentials.new_secret(owner)
    assert set(first["data"]) == set(credentials.KEYS)
    values = [base64.b64decode(v).decode() for v in first["data"].values()]
    assert len(set(values)) == len(credentials.KEYS)
    assert all(len(v) >= 32 for v in values)
    assert first["data"] != second["data"]
    assert credentials.missing_keys({"data": {"valkey-password": "x"}}) == (
        "rabbitmq-password",
        "grafana-admin-password",
        "checksum-key",
        "rabbitmq-erlang-cookie",
        "kafka-password",
    )


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
def test_pods_get_no_service_link_variables(make_ctx: Build, kind: str) -> None:
    """No pod gets the kubelet's Docker-link variables: for the Service demo-writer they
    would be DEMO_WRITER_PORT=tcp://..., and for a pipeline named clima CLIMA_WRITER_PORT,
    which is the writer's own port setting (a real pod crash-looped on it)."""
    for manifest in desired(make_ctx()):
        if manifest["kind"] == kind:
            assert manifest["spec"]["template"]["spec"]["enableServiceLinks"] is False


def test_a_service_link_variable_would_break_the_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the above matters: the writer refuses CLIMA_WRITER_PORT in the link format."""
    monkeypatch.setenv("CLIMA_WRITER_PORT", "tcp://10.96.44.16:50051")
    with pytest.raises(ValueError, match="port"):
        WriterSettings()
