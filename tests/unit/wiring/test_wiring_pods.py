"""Every Clima pod the operator renders starts its settings class from its own environment,
listens where its containerPorts, probes and Services say, and reaches the Services (or the
external addresses) the spec names, with the passwords the managed stores were given.

A wrong variable name, port or address in a builder fails here, not in a cluster (where a
kwok node would not even run the pod to notice).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from clima_env_support import resolve
from pydantic import BaseModel
from pydantic_settings import BaseSettings
from wiring_support import LISTENS, SETTINGS, check_reads

from clima import wiring
from clima.api.settings import ApiSettings
from clima.consumers.settings import ConsumerSettings
from clima.proxy.settings import ProxySettings
from clima.store import StoreSettings
from clima.wiring import KafkaAccess
from clima.writer.settings import WriterSettings
from clima_operator.children import Context, Owner, credentials, desired
from clima_operator.spec import RetentionSpec, parse_spec

Manifest = dict[str, Any]
OWNER = Owner(name="demo", namespace="ns", uid="uid-demo")
#: The credentials Secret's values, which a reconcile reads to render the stores' files.
PASSWORDS = {key: f"generated-{key}" for key in credentials.KEYS}
COMPONENT = "app.kubernetes.io/component"


def _external(mode: str) -> Manifest:
    """External brokers where the mode writes, disabled ones where it does not."""
    brokers = wiring.brokers_of(mode)
    kafka = {"type": "external", "external": {"address": "k1:9092,k2:9093"}}
    rabbit = {
        "type": "external",
        "external": {"address": "mq.example", "username": "u", "secretRef": {"name": "mq"}},
    }
    return {
        "mode": mode,
        "kafka": kafka if wiring.KAFKA in brokers else {"type": "disabled"},
        "rabbitmq": rabbit if wiring.RABBIT in brokers else {"type": "disabled"},
        "valkey": {
            "type": "external",
            "external": {"address": "kv.example:6380", "secretRef": {"name": "kv", "key": "pw"}},
        },
    }


def _specs() -> Iterator[Any]:
    for mode in wiring.MODES:
        yield pytest.param({"mode": mode}, id=f"{mode}-managed")
        yield pytest.param(_external(mode), id=f"{mode}-external")
    mixed = {"kafka": {"type": "external", "external": {"address": "k1:9092"}}}
    yield pytest.param(mixed, id="both-kafka-external-rest-managed")
    bare = {"grafana": {"enabled": False}, "networkPolicies": {"enabled": False}}
    yield pytest.param(bare, id="no-grafana-no-policies")
    scaled = {"api": {"autoscaling": {"enabled": True}}, "ingress": {"enabled": True}}
    yield pytest.param(scaled, id="autoscaling-ingress")


class Rendered:
    """The objects the operator builds for one spec, and how to find one's way among them."""

    def __init__(self, spec: Manifest, objects: list[Manifest] | None = None) -> None:
        self.ctx = Context(OWNER, parse_spec(spec), {"clima.json": "{}"}, PASSWORDS)
        self.objects = desired(self.ctx) if objects is None else objects

    def of(self, kind: str) -> list[Manifest]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def workloads(self) -> list[Manifest]:
        return self.of("Deployment") + self.of("StatefulSet")

    def workload(self, component: str) -> Manifest:
        (found,) = [w for w in self.workloads() if _labels(w)[COMPONENT] == component]
        return found

    def secret(self, name: str, key: str) -> str:
        """What the kubelet would read from a Secret: the pipeline's credentials as the
        reconcile read them, a recognisable stand-in for a user's Secret."""
        if name == credentials.secret_name(OWNER):
            return PASSWORDS[key]
        own = [o for o in self.of("Secret") if o["metadata"]["name"] == name]
        if own:  # a Secret the operator rendered (a store's config)
            return base64.b64decode(own[0]["data"][key]).decode()
        return f"pw-of-{name}-{key}"

    def files(self, component: str) -> dict[str, str]:
        """The rendered configuration files of a managed store."""
        name = OWNER.child(f"{component}-config")
        (found,) = [o for o in self.objects if o["metadata"]["name"] == name]
        if found["kind"] == "Secret":
            return {k: base64.b64decode(v).decode() for k, v in found["data"].items()}
        return dict(found["data"])

    def target(self, address: str) -> tuple[str, str, int]:
        """The component, container port name and number that `host:port` reaches through
        the operator's Service of that name."""
        host, _, number = address.rpartition(":")
        services = [s for s in self.of("Service") if s["metadata"]["name"] == host]
        assert services, f"{address}: no Service {host}"
        ports = [p for p in services[0]["spec"]["ports"] if p["port"] == int(number)]
        assert ports, f"{address}: Service {host} has no port {number}"
        workload = _selected(self, services[0])
        return _labels(workload)[COMPONENT], *_container_port(workload, ports[0]["targetPort"])


def _labels(workload: Manifest) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def _container(workload: Manifest) -> Manifest:
    container: Manifest = workload["spec"]["template"]["spec"]["containers"][0]
    return container


def _selected(rendered: Rendered, service: Manifest) -> Manifest:
    selector = service["spec"]["selector"].items()
    found = [w for w in rendered.workloads() if selector <= _labels(w).items()]
    assert len(found) == 1, f"Service {service['metadata']['name']} selects {len(found)} workloads"
    return found[0]


def _container_port(workload: Manifest, target: str | int) -> tuple[str, int]:
    declared = {p["name"]: p["containerPort"] for p in _container(workload)["ports"]}
    for name, number in declared.items():
        if target in (name, number):
            return name, number
    raise AssertionError(f"{workload['metadata']['name']} has no container port {target}")


def check_process(rendered: Rendered, workload: Manifest) -> dict[type[BaseSettings], Any]:
    """The process starts its settings from its pod's environment and listens exactly on the
    container ports, which its probes use."""
    where = workload["metadata"]["name"]
    container = _container(workload)
    args = tuple(container["args"])
    assert container["command"] == ["clima"], where
    assert args in SETTINGS, f"{where}: no settings class known for clima {' '.join(args)}"
    env = resolve(container["env"], rendered.secret)
    started = check_reads(where, SETTINGS[args], container["env"], env)
    listening: dict[str, int] = {}
    for settings in started:
        fields = LISTENS.get(type(settings), {})
        listening |= {name: getattr(settings, field) for name, field in fields.items()}
        if fields:
            assert settings.host == "0.0.0.0", f"{where} listens on loopback only"
    declared = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert declared == listening, f"{where}: containerPorts {declared}, settings {listening}"
    for probe in (container["livenessProbe"], container["readinessProbe"]):
        if "grpc" in probe:
            assert probe["grpc"]["port"] == listening["grpc"], f"{where}: gRPC probe"
        else:
            assert probe["httpGet"]["port"] == "http", f"{where}: HTTP probe"
    return {type(settings): settings for settings in started}


def check_services(rendered: Rendered) -> None:
    """Every Service selects one workload and targets ports its container declares."""
    for service in rendered.of("Service"):
        workload = _selected(rendered, service)
        for port in service["spec"]["ports"]:
            _container_port(workload, port["targetPort"])


class Edges:
    """Connections the processes make: (source component, target component, port)."""

    def __init__(self, rendered: Rendered) -> None:
        self.rendered = rendered
        self.found: list[tuple[str, str, int]] = []

    def managed(self, source: str, address: str, component: str, port_name: str) -> int:
        """`address` reaches `component`'s port `port_name` through its Service."""
        reached, name, number = self.rendered.target(address)
        assert (reached, name) == (component, port_name), f"{source} -> {address}"
        self.found.append((source, component, number))
        return number


def _check_kafka(rendered: Rendered, edges: Edges, source: str, access: KafkaAccess) -> None:
    """The process reaches the managed Kafka's listener as a user every broker accepts, with
    its password (the external one without a user)."""
    spec = rendered.ctx.spec.kafka
    if spec.type == "external":
        assert access.bootstrap == spec.external.address, source
        assert access.username is None, source
        return
    number = edges.managed(source, access.bootstrap, "kafka", "kafka")
    properties = rendered.files("kafka")["server.properties"]
    assert f"CLIENT://:{number}" in properties
    assert "CLIENT:SASL_PLAINTEXT" in properties
    jaas = f'user_{access.username}="{access.password}"'
    assert jaas in properties, source


def _check_external(rendered: Rendered, source: str, url: str, external: Any, port: int) -> None:
    """`url` is the spec's external address (`port` when it names none), with the password of
    the spec's secretRef."""
    parts, ref = urlsplit(url), external.secret_ref
    assert ref is not None
    host, _, number = external.address.partition(":")
    assert (parts.hostname, parts.port) == (host, int(number or port)), source
    assert parts.password == rendered.secret(ref.name, ref.key), source


def _check_rabbit(rendered: Rendered, edges: Edges, source: str, url: str | None) -> None:
    assert url is not None, f"{source} has no RabbitMQ URL"
    parts, spec = urlsplit(url), rendered.ctx.spec.rabbitmq
    address = f"{parts.hostname}:{parts.port}"
    if spec.type == "external":
        _check_external(rendered, source, url, spec.external, wiring.RABBITMQ_PORT)
        assert parts.username == spec.external.username, source
        return
    number = edges.managed(source, address, "rabbitmq", "amqp")
    config = rendered.files("rabbitmq")["rabbitmq.conf"]
    assert f"listeners.tcp.default = {number}\n" in config
    assert f"default_user = {parts.username}\n" in config, source
    (user,) = json.loads(rendered.files("rabbitmq")["definitions.json"])["users"]
    stored = base64.b64decode(user["password_hash"])
    assert user["name"] == parts.username, source
    assert stored[4:] == hashlib.sha256(stored[:4] + (parts.password or "").encode()).digest()


def _check_valkey(rendered: Rendered, edges: Edges, source: str, url: str) -> None:
    parts, spec = urlsplit(url), rendered.ctx.spec.valkey
    address = f"{parts.hostname}:{parts.port}"
    if spec.type == "external":
        _check_external(rendered, source, url, spec.external, wiring.VALKEY_PORT)
        return
    number = edges.managed(source, address, "valkey", "valkey")
    config = rendered.files("valkey")["valkey.conf"]
    assert f"port {number}\n" in config
    assert f'requirepass "{parts.password}"\n' in config, source


def _check_grafana(rendered: Rendered, edges: Edges, consumer_valkey: str | None) -> None:
    """Grafana's data source reads the Valkey the consumers write, with their password."""
    name = OWNER.child("grafana-datasources")
    (config,) = [c for c in rendered.of("ConfigMap") if c["metadata"]["name"] == name]
    (source,) = yaml.safe_load(config["data"]["clima-valkey.yaml"])["datasources"]
    env = resolve(_container(rendered.workload("grafana"))["env"], rendered.secret)
    variable = source["secureJsonData"]["password"].removeprefix("$__env{").removesuffix("}")
    url = f"redis://:{env[variable]}@{urlsplit(source['url']).netloc}/0"
    _check_valkey(rendered, edges, "grafana", url)
    assert consumer_valkey in (None, url), "Grafana reads another Valkey than the consumers"


def check_pipeline(rendered: Rendered) -> set[tuple[str, ...]]:
    """Every check above for one rendered pipeline; returns the processes it started."""
    spec = rendered.ctx.spec
    check_services(rendered)
    started: dict[str, dict[type[BaseSettings], Any]] = {}
    for workload in rendered.workloads():
        if _container(workload).get("command") == ["clima"]:
            started[_labels(workload)[COMPONENT]] = check_process(rendered, workload)
    edges = Edges(rendered)
    api, proxy = started["api"][ApiSettings], started["proxy"][ProxySettings]
    writer = started["writer"][WriterSettings]
    edges.managed("api", api.upstream, "proxy", "grpc")
    edges.managed("proxy", proxy.writer, "writer", "grpc")
    assert writer.mode == spec.mode
    valkey_url: str | None = None
    for broker in wiring.brokers_of(spec.mode):
        name = f"{broker}-consumer"
        consumer, store = started[name][ConsumerSettings], started[name][StoreSettings]
        assert store.stream_maxlen == spec.retention.stream_max_len, name
        _check_valkey(rendered, edges, name, store.valkey_url)
        assert valkey_url in (None, store.valkey_url), "the consumers write to different Valkeys"
        valkey_url = store.valkey_url
        if broker == wiring.KAFKA:
            _check_kafka(rendered, edges, "writer", writer.kafka)
            _check_kafka(rendered, edges, name, consumer.kafka)
            shared = ("kafka", "kafka_topic", "kafka_partitions")
        else:
            _check_rabbit(rendered, edges, "writer", writer.rabbitmq_url)
            _check_rabbit(rendered, edges, name, consumer.rabbitmq_url)
            shared = ("rabbitmq_url", "rabbit_queue")
        for field in shared:
            assert getattr(writer, field) == getattr(consumer, field), f"{name}: {field}"
    if spec.grafana.enabled:
        _check_grafana(rendered, edges, valkey_url)
    if spec.network_policies.enabled:
        check_policies(rendered, edges.found)
    return {tuple(_container(rendered.workload(c))["args"]) for c in started}


def check_policies(rendered: Rendered, edges: list[tuple[str, str, int]]) -> None:
    """Each connection found is admitted by the target's NetworkPolicy."""
    for source, target, number in edges:
        labels = _labels(rendered.workload(target)).items()
        source_labels = _labels(rendered.workload(source)).items()
        (policy,) = [
            p
            for p in rendered.of("NetworkPolicy")
            if p["spec"]["podSelector"]["matchLabels"].items() <= labels
        ]
        admitted = [
            rule
            for rule in policy["spec"].get("ingress", [])
            if {"protocol": "TCP", "port": number} in rule["ports"]
            and (
                "from" not in rule
                or any(
                    f["podSelector"]["matchLabels"].items() <= source_labels for f in rule["from"]
                )
            )
        ]
        assert admitted, f"NetworkPolicy of {target} refuses {source} on {number}"


@pytest.mark.parametrize("spec", list(_specs()))
def test_every_pod_starts_its_settings_and_reaches_its_services(spec: Manifest) -> None:
    """For each mode with managed, external and disabled brokers (and Grafana, policies,
    autoscaling on and off), every Clima pod's settings validate from its environment, read
    every variable it is given, listen on its containerPorts and probes, and connect to the
    Services and stores the operator made, with the passwords those were given."""
    rendered = Rendered(spec)
    processes = check_pipeline(rendered)
    consumers = {("consumer", broker) for broker in wiring.brokers_of(rendered.ctx.spec.mode)}
    assert processes == {("api",), ("proxy",), ("writer",), *consumers}


def _bound(model: type[BaseModel], field: str, name: str) -> int:
    """A field's `ge` or `le` bound."""
    (found,) = [getattr(b, name) for b in model.model_fields[field].metadata if hasattr(b, name)]
    return int(found)


_STREAM_MIN = _bound(RetentionSpec, "stream_max_len", "ge")
_STREAM_MAX = _bound(RetentionSpec, "stream_max_len", "le")
_STORE_MIN = _bound(StoreSettings, "stream_maxlen", "ge")
_STORE_REFUSES = pytest.mark.xfail(
    _STREAM_MIN < _STORE_MIN,
    strict=True,
    reason=f"the CRD accepts retention.streamMaxLen from {_STREAM_MIN}, the store's settings "
    f"only from {_STORE_MIN}: the consumers of such a pipeline would not start",
)


@pytest.mark.parametrize(
    "value", [pytest.param(_STREAM_MIN, marks=_STORE_REFUSES, id="minimum"), _STREAM_MAX]
)
def test_every_stream_length_the_crd_accepts_starts_the_consumers(value: int) -> None:
    """The bounds of retention.streamMaxLen in the CRD are values the consumers start with."""
    check_pipeline(Rendered({"retention": {"streamMaxLen": value}}))


def _env_item(rendered: Rendered, component: str, name: str) -> Manifest:
    (item,) = [e for e in _container(rendered.workload(component))["env"] if e["name"] == name]
    return item


def _mutated(change: Any) -> Rendered:
    rendered = Rendered({})
    rendered.objects = copy.deepcopy(rendered.objects)
    change(rendered)
    return rendered


def test_a_variable_no_settings_read_fails_the_check() -> None:
    """A misspelt variable in a builder is caught, naming it."""

    def misspell(rendered: Rendered) -> None:
        _env_item(rendered, "writer", wiring.KAFKA_BROKER_ENV.name)["name"] = "KAFKA_BROKERS"

    with pytest.raises(AssertionError, match="no settings class reads KAFKA_BROKERS"):
        check_pipeline(_mutated(misspell))


def test_a_container_port_the_process_does_not_listen_on_fails_the_check() -> None:
    """A containerPort that differs from the settings' port is caught."""

    def move(rendered: Rendered) -> None:
        _container(rendered.workload("proxy"))["ports"][1]["containerPort"] = 50053

    with pytest.raises(AssertionError, match="containerPorts"):
        check_pipeline(_mutated(move))


def test_an_address_on_the_wrong_port_fails_the_check() -> None:
    """An upstream pointing at the proxy's HTTP port instead of its gRPC port is caught."""

    def repoint(rendered: Rendered) -> None:
        item = _env_item(rendered, "api", wiring.UPSTREAM_ENV.name)
        item["value"] = f"demo-proxy:{wiring.PROXY_HTTP_PORT}"

    with pytest.raises(AssertionError, match="api -> demo-proxy"):
        check_pipeline(_mutated(repoint))


def test_a_password_listed_after_its_url_fails_the_check() -> None:
    """Kubernetes expands $(VAR) only from earlier variables; the wrong order is caught."""

    def reorder(rendered: Rendered) -> None:
        env = _container(rendered.workload("writer"))["env"]
        env.append(env.pop([e["name"] for e in env].index("RABBITMQ_PASSWORD")))

    with pytest.raises(AssertionError, match="refers to a later variable"):
        check_pipeline(_mutated(reorder))
