"""NetworkPolicies: which pods each selects, who may connect to them and on which port."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clima_operator.children import Context, desired

Build = Callable[..., Context]

ANYWHERE = None


def _pods(component: str) -> dict[str, Any]:
    """The selector of one component's pods of the pipeline "demo"."""
    return {
        "matchLabels": {
            "app.kubernetes.io/name": "clima",
            "app.kubernetes.io/instance": "demo",
            "app.kubernetes.io/component": component,
        }
    }


def _policies(ctx: Context) -> dict[str, dict[str, Any]]:
    found = [m for m in desired(ctx) if m["kind"] == "NetworkPolicy"]
    return {m["metadata"]["name"].removeprefix("demo-"): m for m in found}


def _admitted(policy: dict[str, Any]) -> dict[int, list[str] | None]:
    """Port -> components admitted to it (None: from anywhere)."""
    out: dict[int, list[str] | None] = {}
    for rule in policy["spec"].get("ingress", []):
        (port,) = rule["ports"]
        assert port["protocol"] == "TCP"
        sources = rule.get("from")
        if sources is None:
            out[port["port"]] = ANYWHERE
            continue
        out[port["port"]] = [
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in sources
        ]
        for peer in sources:
            assert set(peer) == {"podSelector"}  # same namespace, no namespaceSelector or ipBlock
            assert peer["podSelector"] == _pods(
                peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
            )
    return out


def test_default_spec_gets_one_policy_per_component(make_ctx: Build) -> None:
    """Mode both with managed backends and Grafana: every component's pods are selected."""
    ctx = make_ctx()
    policies = _policies(ctx)
    assert set(policies) == {
        "api", "proxy", "writer", "kafka-consumer", "rabbit-consumer",
        "kafka", "rabbitmq", "valkey", "grafana",
    }  # fmt: skip
    for component, policy in policies.items():
        assert policy["apiVersion"] == "networking.k8s.io/v1"
        assert policy["spec"]["podSelector"] == _pods(component)
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        (ref,) = policy["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["uid"], ref["controller"]) == (
            "ClimaPipeline",
            ctx.owner.uid,
            True,
        )
        assert policy["metadata"]["labels"]["clima.io/pipeline"] == "demo"


def test_each_component_admits_exactly_its_callers(make_ctx: Build) -> None:
    """The api and Grafana from anywhere, the proxy's gRPC from the api, the writer from the
    proxy, brokers from the writer and their consumer, Valkey from consumers and Grafana."""
    admitted = {name: _admitted(policy) for name, policy in _policies(make_ctx()).items()}
    assert admitted == {
        "api": {8080: ANYWHERE},
        "proxy": {8081: ANYWHERE, 50052: ["api"]},
        "writer": {50051: ["proxy"]},
        "kafka-consumer": {},
        "rabbit-consumer": {},
        "kafka": {9092: ["writer", "kafka-consumer"]},
        "rabbitmq": {5672: ["writer", "rabbit-consumer"]},
        "valkey": {6379: ["kafka-consumer", "rabbit-consumer", "grafana"]},
        "grafana": {3000: ANYWHERE},
    }


def test_consumers_admit_nobody(make_ctx: Build) -> None:
    """Nothing calls the consumers: their policies select them, restrict ingress and list no
    rule (left out, not an empty list the API server would drop)."""
    policies = _policies(make_ctx())
    for name in ("kafka-consumer", "rabbit-consumer"):
        assert policies[name]["spec"]["policyTypes"] == ["Ingress"]
        assert "ingress" not in policies[name]["spec"]


def test_ports_match_the_containers(make_ctx: Build) -> None:
    """Every admitted port is a port the selected pods' container really listens on."""
    ctx = make_ctx()
    workloads = {
        m["metadata"]["name"].removeprefix("demo-"): m
        for m in desired(ctx)
        if m["kind"] in ("Deployment", "StatefulSet")
    }
    for component, policy in _policies(ctx).items():
        (container,) = workloads[component]["spec"]["template"]["spec"]["containers"]
        listening = {port["containerPort"] for port in container["ports"]}
        assert set(_admitted(policy)) <= listening, component


def test_kafka_mode_without_grafana_narrows_valkey(make_ctx: Build) -> None:
    """Only the components that exist are admitted: no RabbitMQ side, no Grafana reader."""
    ctx = make_ctx(
        {"mode": "kafka", "rabbitmq": {"type": "disabled"}, "grafana": {"enabled": False}}
    )
    admitted = {name: _admitted(policy) for name, policy in _policies(ctx).items()}
    assert set(admitted) == {"api", "proxy", "writer", "kafka-consumer", "kafka", "valkey"}
    assert admitted["valkey"] == {6379: ["kafka-consumer"]}


def test_external_backends_get_no_policy(make_ctx: Build) -> None:
    """Brokers and Valkey the operator does not run are not selected by any policy."""
    secret = {"name": "s"}
    ctx = make_ctx(
        {
            "kafka": {"type": "external", "external": {"address": "k:9092"}},
            "rabbitmq": {"type": "external", "external": {"address": "mq", "secretRef": secret}},
            "valkey": {"type": "external", "external": {"address": "v", "secretRef": secret}},
        }
    )
    assert not {"kafka", "rabbitmq", "valkey"} & set(_policies(ctx))


def test_disabled_creates_none(make_ctx: Build) -> None:
    """spec.networkPolicies.enabled false: no NetworkPolicy at all (existing ones are pruned)."""
    assert _policies(make_ctx({"networkPolicies": {"enabled": False}})) == {}


def test_enabled_by_default(make_ctx: Build) -> None:
    """An empty spec means NetworkPolicies on."""
    assert make_ctx().spec.network_policies.enabled is True
