"""Every pod template the operator builds passes the real PodSecurity admission, "restricted".

Deployments and StatefulSets are only warned about by PodSecurity; it refuses Pods. So each
template the builders produce, for specs that between them use every component, is sent as
a bare Pod through a server-side dry run in the e2e namespace, which enforces the
restricted standard. A deliberately non-compliant Pod must be refused there first.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from clima_e2e_support import SAMPLE, Kubectl

from clima_operator.children import Context, Owner, desired
from clima_operator.children import drain as drain_job
from clima_operator.spec import parse_spec

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

OPERATOR_IMAGE = "127.0.0.1:5000/clima/clima:0.1.0"
EXTERNAL_SECRET = {"name": "clima-external"}
SPECS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "sample": yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))["spec"],
    "external": {
        "mode": "random",
        "kafka": {"type": "external", "external": {"address": "kafka:9092"}},
        "rabbitmq": {
            "type": "external",
            "external": {"address": "mq", "secretRef": EXTERNAL_SECRET},
        },
        "valkey": {"type": "external", "external": {"address": "v", "secretRef": EXTERNAL_SECRET}},
        "grafana": {"enabled": False},
    },
}
EVERY_COMPONENT = {
    "api", "proxy", "writer", "kafka-consumer", "rabbit-consumer",
    "kafka", "rabbitmq", "valkey", "grafana", "kafka-consumer-drain", "rabbit-consumer-drain",
}  # fmt: skip


def _pods(spec: dict[str, Any], namespace: str) -> dict[str, dict[str, Any]]:
    """Each workload's pod template of a spec, as a bare Pod named after its component."""
    ctx = Context(
        Owner("clima", namespace, "00000000-0000-0000-0000-000000000001"),
        parse_spec(spec, OPERATOR_IMAGE),  # a spec without image runs the operator's own
    )
    pods = {}
    jobs = [drain_job.build(ctx, broker) for broker, used in
            (("kafka", ctx.spec.uses_kafka), ("rabbit", ctx.spec.uses_rabbit)) if used]  # fmt: skip
    for manifest in [*desired(ctx), *jobs]:
        if manifest["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        template = manifest["spec"]["template"]
        component = template["metadata"]["labels"]["app.kubernetes.io/component"]
        component += "-drain" if manifest["kind"] == "Job" else ""
        spec = dict(template["spec"])
        for claim in manifest["spec"].get("volumeClaimTemplates", []):
            # what the StatefulSet controller adds for each claim template of pod 0
            name = claim["metadata"]["name"]
            source = {"claimName": f"{name}-{manifest['metadata']['name']}-0"}
            spec["volumes"] = [*spec["volumes"], {"name": name, "persistentVolumeClaim": source}]
        pods[component] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"pss-{component}", "labels": template["metadata"]["labels"]},
            "spec": spec,
        }
    return pods


def _dry_run(k: Kubectl, pod: dict[str, Any]) -> Any:
    return k.run("create", "--dry-run=server", "-f", "-", stdin=json.dumps(pod), check=False)


def test_namespace_refuses_a_non_compliant_pod(ns_kubectl: Kubectl) -> None:
    """The control: the e2e namespace enforces "restricted", so a root-capable pod is refused."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pss-control"},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
    }
    done = _dry_run(ns_kubectl, pod)
    assert done.returncode != 0
    assert 'violates PodSecurity "restricted' in done.stderr, done.stderr


def test_specs_cover_every_component(namespace: str) -> None:
    """The specs below build a pod template for every component the operator can run."""
    built = {component for spec in SPECS.values() for component in _pods(spec, namespace)}
    assert built == EVERY_COMPONENT


@pytest.mark.parametrize("variant", sorted(SPECS))
def test_every_pod_template_is_admitted(ns_kubectl: Kubectl, namespace: str, variant: str) -> None:
    """Each pod template of the spec is admitted as a Pod under "restricted", with no warning."""
    refused = {}
    for component, pod in _pods(SPECS[variant], namespace).items():
        done = _dry_run(ns_kubectl, pod)
        if done.returncode != 0 or "Warning" in done.stderr:
            refused[component] = done.stderr.strip()
    assert refused == {}
