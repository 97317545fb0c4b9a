"""The api: Deployment, Service (80 -> 8080), optional HPA and Ingress."""

from __future__ import annotations

from typing import Any

from clima import wiring
from clima_operator.children import proxy
from clima_operator.children._clima import Process, clima_deployment
from clima_operator.children._meta import Context, Manifest, metadata
from clima_operator.children._pods import env, http_probe, port, service

COMPONENT = "api"
HTTP_PORT = wiring.API_PORT


def process(ctx: Context) -> Process:
    """The api process; with autoscaling on, its replica count belongs to the HPA."""
    api = ctx.spec.api
    return Process(
        component=COMPONENT,
        settings=api,
        args=["api"],
        env=[
            env(wiring.UPSTREAM_ENV.name, f"{ctx.owner.child(proxy.COMPONENT)}:{proxy.GRPC_PORT}")
        ],
        ports=[port("http", HTTP_PORT)],
        liveness=http_probe("/healthz", "http"),
        readiness=http_probe("/readyz", "http", period=5),
        replicas=None if api.autoscaling.enabled else api.replicas,
    )


def autoscaler(ctx: Context) -> Manifest:
    """An autoscaling/v2 HPA on the api Deployment, targeting average CPU utilisation."""
    scaling = ctx.spec.api.autoscaling
    name = ctx.owner.child(COMPONENT)
    cpu_target = {
        "type": "Utilization",
        "averageUtilization": scaling.target_cpu_utilization_percentage,
    }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(ctx.owner, COMPONENT, name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": cpu_target}}],
        },
    }


def ingress(ctx: Context) -> Manifest:
    """An Ingress routing ``host``/``path`` to the api Service."""
    spec_in = ctx.spec.ingress
    backend = {"service": {"name": ctx.owner.child(COMPONENT), "port": {"name": "http"}}}
    rule: dict[str, Any] = {
        "http": {"paths": [{"path": spec_in.path, "pathType": "Prefix", "backend": backend}]}
    }
    spec: dict[str, Any] = {"rules": [rule]}
    if spec_in.host is not None:
        rule["host"] = spec_in.host
    if spec_in.class_name is not None:
        spec["ingressClassName"] = spec_in.class_name
    if spec_in.tls_secret_name is not None and spec_in.host is not None:
        spec["tls"] = [{"hosts": [spec_in.host], "secretName": spec_in.tls_secret_name}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata(ctx.owner, COMPONENT, ctx.owner.child(COMPONENT)),
        "spec": spec,
    }


def build(ctx: Context) -> list[Manifest]:
    """Every object of the api."""
    ports = [{"name": "http", "port": 80, "targetPort": "http"}]
    objects = [
        clima_deployment(ctx, process(ctx)),
        service(ctx.owner, COMPONENT, ctx.owner.child(COMPONENT), ports),
    ]
    if ctx.spec.api.autoscaling.enabled:
        objects.append(autoscaler(ctx))
    if ctx.spec.ingress.enabled:
        objects.append(ingress(ctx))
    return objects
