"""NetworkPolicies that admit only the connections a pipeline's components make to each other.

Each policy selects the pods of one component and lists, per port, which components of the
same pipeline may connect (or anyone, for the entry points). A pod selected by an Ingress
policy refuses every connection no policy admits, so the consumers, which nothing calls, get
a policy admitting nobody. Only ingress is restricted: outgoing connections (DNS, external
brokers, Grafana's plugin download) stay open. Kubelet probes come from the node, which
network plugins admit regardless of policy. Valkey also admits the operator's namespace, when
the operator runs in the cluster: it samples Valkey's memory and applied rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clima.wiring import KAFKA_PORT, RABBITMQ_PORT, VALKEY_PORT
from clima_operator.children import api, consumers, grafana, kafka, proxy, rabbitmq, valkey, writer
from clima_operator.children._meta import Context, Manifest, metadata, selector_labels

ANYONE: tuple[str, ...] | None = None
#: the label Kubernetes puts on every namespace, with its name
NAMESPACE_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Admission:
    """Connections to ``port`` admitted from the pods of ``sources`` (None: from anywhere)
    and from every pod of ``namespaces``."""

    port: int
    sources: tuple[str, ...] | None
    namespaces: tuple[str, ...] = ()


def _rule(ctx: Context, admission: Admission) -> dict[str, Any]:
    rule: dict[str, Any] = {"ports": [{"protocol": "TCP", "port": admission.port}]}
    if admission.sources is not None:
        rule["from"] = [
            {"podSelector": {"matchLabels": selector_labels(ctx.owner, source)}}
            for source in admission.sources
        ] + [
            {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}}}
            for namespace in admission.namespaces
        ]
    return rule


def policy(ctx: Context, component: str, admissions: list[Admission]) -> Manifest:
    """The NetworkPolicy ``<pipeline>-<component>``; no admissions means no connection at all.

    That case leaves ``ingress`` out rather than sending ``[]``: the API server drops an empty
    list, and applying one anyway would rewrite the object on every pass.
    """
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": selector_labels(ctx.owner, component)},
        "policyTypes": ["Ingress"],
    }
    if admissions:
        spec["ingress"] = [_rule(ctx, admission) for admission in admissions]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(ctx.owner, component, ctx.owner.child(component)),
        "spec": spec,
    }


def _consumers(ctx: Context) -> list[str]:
    wanted = [(ctx.spec.uses_kafka, consumers.KAFKA_COMPONENT)]
    wanted.append((ctx.spec.uses_rabbit, consumers.RABBIT_COMPONENT))
    return [component for used, component in wanted if used]


def _valkey_readers(ctx: Context) -> tuple[str, ...]:
    readers = _consumers(ctx)
    if ctx.spec.grafana.enabled:
        readers.append(grafana.COMPONENT)
    return tuple(readers)


def admissions(ctx: Context) -> dict[str, list[Admission]]:
    """What each component of the spec admits, by component name."""
    spec = ctx.spec
    wanted: dict[str, list[Admission]] = {
        api.COMPONENT: [Admission(api.HTTP_PORT, ANYONE)],
        proxy.COMPONENT: [
            Admission(proxy.HTTP_PORT, ANYONE),
            Admission(proxy.GRPC_PORT, (api.COMPONENT,)),
        ],
        writer.COMPONENT: [Admission(writer.GRPC_PORT, (proxy.COMPONENT,))],
    }
    for component in _consumers(ctx):
        wanted[component] = []
    if spec.uses_kafka and spec.kafka.type == "managed":
        sources = (writer.COMPONENT, consumers.KAFKA_COMPONENT)
        wanted[kafka.COMPONENT] = [Admission(KAFKA_PORT, sources)]
        if spec.kafka.managed.replicas > 1:  # replication and the controller quorum
            peers = (kafka.COMPONENT,)
            wanted[kafka.COMPONENT] += [Admission(KAFKA_PORT, peers),
                                        Admission(kafka.CONTROLLER_PORT, peers)]  # fmt: skip
    if spec.uses_rabbit and spec.rabbitmq.type == "managed":
        sources = (writer.COMPONENT, consumers.RABBIT_COMPONENT)
        wanted[rabbitmq.COMPONENT] = [Admission(RABBITMQ_PORT, sources)]
        if spec.rabbitmq.managed.replicas > 1:  # Erlang distribution between the nodes
            peers = (rabbitmq.COMPONENT,)
            wanted[rabbitmq.COMPONENT] += [Admission(number, peers)
                                           for number in rabbitmq.CLUSTER_PORTS]  # fmt: skip
    if spec.valkey.type == "managed":
        readers = _valkey_readers(ctx)
        operator = (ctx.operator_namespace,) if ctx.operator_namespace else ()
        wanted[valkey.COMPONENT] = [Admission(VALKEY_PORT, readers, operator)]
        if spec.valkey.managed.replicas > 1:  # replication, Sentinels, and who asks them
            peers = (valkey.COMPONENT,)
            wanted[valkey.COMPONENT] += [
                Admission(VALKEY_PORT, peers),
                Admission(valkey.SENTINEL_PORT, (*readers, valkey.COMPONENT)),
            ]
    if spec.grafana.enabled:
        wanted[grafana.COMPONENT] = [Admission(grafana.HTTP_PORT, ANYONE)]
    return wanted


def build(ctx: Context) -> list[Manifest]:
    """One NetworkPolicy per component, when ``spec.networkPolicies.enabled``."""
    if not ctx.spec.network_policies.enabled:
        return []
    return [policy(ctx, component, rules) for component, rules in admissions(ctx).items()]
