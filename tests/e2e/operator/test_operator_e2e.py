"""The operator against the real local API server, driven the way a user would: kubectl.

Every test starts from ``samples/pipeline.yaml`` applied and Ready (re-applying it undoes
what an earlier test patched). The pipeline is deleted by the last test.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from typing import Any

import pytest
import yaml
from clima_e2e_support import (
    OUT,
    RECONCILE_INTERVAL,
    SAMPLE,
    Kubectl,
    OperatorProcess,
    StaticVolumes,
    eventually,
)

# The first test may build and start the cluster (a cold build takes up to 30 minutes).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

NAME = "clima"
CHILD_KINDS = (
    "deployments,statefulsets,services,configmaps,secrets,hpa,ingresses,networkpolicies,pdb"
)
SELECTOR = f"clima.io/pipeline={NAME}"
DEPLOYMENTS = ["api", "proxy", "writer", "kafka-consumer", "rabbit-consumer", "grafana"]
COMPONENTS = [*DEPLOYMENTS, "kafka", "rabbitmq", "valkey"]


def _pipeline(k: Kubectl) -> dict[str, Any]:
    return k.json("get", "climapipeline", NAME)


def _condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    conditions = body.get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == kind), {})


def _ready_now(k: Kubectl) -> bool:
    """Ready=True for the current generation."""
    body = _pipeline(k)
    ready = _condition(body, "Ready")
    generation = body["metadata"]["generation"]
    return ready.get("status") == "True" and ready.get("observedGeneration") == generation


def _claims_of_sample() -> int:
    """The claims the sample's managed stores make: one per replica of each."""
    spec = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))["spec"]
    return sum(
        int(spec.get(store, {}).get("managed", {}).get("replicas", 1))
        for store in ("kafka", "rabbitmq", "valkey")
    )


def _apply_sample(k: Kubectl, volumes: StaticVolumes | None) -> float:
    """Apply the sample and wait for Ready; returns the seconds it took."""
    if volumes is not None:
        volumes.ensure_free(_claims_of_sample())
    started = time.monotonic()
    k.run("apply", "-f", str(SAMPLE))
    k.run("wait", "--for=condition=Ready", f"climapipeline/{NAME}", "--timeout=120s")
    eventually(lambda: _ready_now(k), timeout=60)
    return time.monotonic() - started


def _children(k: Kubectl) -> dict[tuple[str, str], dict[str, Any]]:
    items = k.json("get", CHILD_KINDS, "-l", SELECTOR)["items"]
    return {(item["kind"], item["metadata"]["name"]): item for item in items}


def _env(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _revision(deployment: dict[str, Any]) -> str:
    return str(deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"])


@pytest.fixture
def sample(
    ns_kubectl: Kubectl, volumes: StaticVolumes | None, operator: OperatorProcess
) -> Kubectl:
    """The sample pipeline, applied and Ready."""
    _apply_sample(ns_kubectl, volumes)
    return ns_kubectl


def test_apply_to_ready(
    ns_kubectl: Kubectl, volumes: StaticVolumes | None, operator: OperatorProcess
) -> None:
    """kubectl apply of the sample reaches Ready within kubectl wait's 120 s; prints the time."""
    ns_kubectl.run("delete", "climapipeline", NAME, "--ignore-not-found", "--wait=true")
    seconds = _apply_sample(ns_kubectl, volumes)
    OUT.mkdir(exist_ok=True)
    (OUT / "operator-e2e-apply-to-ready.txt").write_text(f"{seconds:.1f}\n", encoding="utf-8")
    print(f"\napply -> Ready: {seconds:.1f} s")
    assert seconds < 120


def test_children_carry_the_spec_values(sample: Kubectl) -> None:
    """Every child exists, is owned by the pipeline and has the sample's values."""
    children = _children(sample)
    body = _pipeline(sample)
    uid = body["metadata"]["uid"]
    assert not body["metadata"].get("finalizers")  # deletable even with the operator down
    for name in DEPLOYMENTS:
        assert ("Deployment", f"{NAME}-{name}") in children
    for name in ("kafka", "rabbitmq", "valkey"):
        assert ("StatefulSet", f"{NAME}-{name}") in children
    for name in ("api", "proxy", "writer", "kafka", "rabbitmq", "valkey", "grafana"):
        assert ("Service", f"{NAME}-{name}") in children
    for obj in children.values():
        (ref,) = obj["metadata"]["ownerReferences"]
        assert ref["uid"] == uid
        assert ref["controller"] is True
    assert children[("Deployment", f"{NAME}-proxy")]["spec"]["replicas"] == 2
    assert _env(children[("Deployment", f"{NAME}-writer")])["WRITER_TARGET"] == "both"
    api = children[("Deployment", f"{NAME}-api")]["spec"]["template"]["spec"]["containers"][0]
    assert api["resources"]["requests"] == {"cpu": "200m", "memory": "128Mi"}
    hpa = children[("HorizontalPodAutoscaler", f"{NAME}-api")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 5)
    assert children[("Ingress", f"{NAME}-api")]["spec"]["rules"][0]["host"] == "clima.local"
    kafka = children[("StatefulSet", f"{NAME}-kafka")]["spec"]["volumeClaimTemplates"][0]
    assert kafka["spec"]["resources"]["requests"]["storage"] == "5Gi"
    secret = children[("Secret", f"{NAME}-credentials")]["data"]
    passwords = {base64.b64decode(value).decode() for value in secret.values()}
    assert set(secret) == {"rabbitmq-password", "valkey-password", "grafana-admin-password",
                           "checksum-key", "rabbitmq-erlang-cookie", "kafka-password"}  # fmt: skip
    assert len(passwords) == len(secret)
    assert not passwords & {"admin", "guest", "clima", "password"}


def test_pods_become_ready(sample: Kubectl) -> None:
    """kwok runs every pod of the pipeline to Ready under the restricted Pod Security level."""
    labels = f"app.kubernetes.io/instance={NAME}"
    sample.run("wait", "--for=condition=Ready", "pod", "-l", labels, "--timeout=90s")
    pods = sample.json("get", "pods", "-l", labels)["items"]
    per_component: dict[str, int] = {}
    for pod in pods:
        component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
        per_component[component] = per_component.get(component, 0) + 1
    assert per_component["proxy"] == 2
    assert per_component["api"] >= 2  # the HPA's minimum
    for component in ("writer", "kafka-consumer", "rabbit-consumer"):
        assert per_component[component] == 1
    for store in ("kafka", "rabbitmq", "valkey"):  # the sample's replicas of each store
        assert per_component[store] == 3, store


def test_no_child_was_refused_a_pod(sample: Kubectl) -> None:
    """Under the restricted Pod Security level every Deployment and StatefulSet has all its
    pods, and no controller recorded a FailedCreate (a refused pod) in the namespace."""
    workloads = sample.json("get", "deployments,statefulsets", "-l", SELECTOR)["items"]
    assert len(workloads) == len(COMPONENTS)
    for workload in workloads:
        wanted = workload["spec"].get("replicas", 1)
        assert workload["status"].get("replicas") == wanted, workload["metadata"]["name"]
    refused = sample.json("get", "events", "--field-selector", "reason=FailedCreate")["items"]
    assert [event["message"] for event in refused] == []


def _policies(k: Kubectl) -> dict[str, dict[str, Any]]:
    items = k.json("get", "networkpolicies", "-l", SELECTOR)["items"]
    return {item["metadata"]["name"].removeprefix(f"{NAME}-"): item for item in items}


def _selected_components(k: Kubectl, selector: dict[str, Any]) -> set[str]:
    labels = ",".join(f"{key}={value}" for key, value in selector["matchLabels"].items())
    pods = k.json("get", "pods", "-l", labels)["items"]
    return {pod["metadata"]["labels"]["app.kubernetes.io/component"] for pod in pods}


def test_network_policies_select_the_live_pods(sample: Kubectl) -> None:
    """One NetworkPolicy per component, owned by the pipeline; its podSelector and every
    source selector pick exactly the live pods of the component they name."""
    policies = _policies(sample)
    assert set(policies) == set(COMPONENTS)
    uid = _pipeline(sample)["metadata"]["uid"]
    for component, policy in policies.items():
        (ref,) = policy["metadata"]["ownerReferences"]
        assert (ref["uid"], ref["controller"]) == (uid, True)
        assert _selected_components(sample, policy["spec"]["podSelector"]) == {component}
        for rule in policy["spec"].get("ingress") or []:
            for peer in rule.get("from", []):
                source = peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                assert _selected_components(sample, peer["podSelector"]) == {source}
    writer = policies["writer"]["spec"]["ingress"]
    assert [rule["ports"] for rule in writer] == [[{"port": 50051, "protocol": "TCP"}]]


def test_network_policies_follow_the_spec_switch(sample: Kubectl) -> None:
    """spec.networkPolicies.enabled false deletes the pipeline's NetworkPolicies; true brings
    them back."""
    switch = '{"spec":{"networkPolicies":{"enabled":%s}}}'
    sample.run("patch", "climapipeline", NAME, "--type=merge", "-p", switch % "false")
    try:
        eventually(lambda: _policies(sample) == {}, timeout=30)
    finally:
        sample.run("patch", "climapipeline", NAME, "--type=merge", "-p", switch % "true")
    eventually(lambda: set(_policies(sample)) == set(COMPONENTS), timeout=30)


def test_get_describe_and_explain(sample: Kubectl) -> None:
    """kubectl get shows the columns, describe the conditions and events, explain the docs."""
    table = sample.run("get", "cp", NAME).stdout
    assert table.split("\n")[0].split() == ["NAME", "MODE", "READY", "PHASE", "AGE"]
    assert table.split("\n")[1].split()[:4] == [NAME, "both", "True", "Ready"]
    described = sample.run("describe", "climapipeline", NAME).stdout
    for text in ("Conditions:", "AllComponentsReady", "WriterReady", "Events:", "Created"):
        assert text in described
    explained = sample.run("explain", "climapipeline.spec.mode").stdout
    assert "Where the writer sends reports" in explained


def test_mode_change_rolls_only_the_writer(sample: Kubectl) -> None:
    """Changing the mode updates the writer's env and rolls the writer alone."""
    before = _children(sample)
    sample.run("patch", "climapipeline", NAME, "--type=merge", "-p", '{"spec":{"mode":"random"}}')

    def writer_switched() -> bool:
        writer = sample.json("get", "deployment", f"{NAME}-writer")
        return _env(writer)["WRITER_TARGET"] == "random"

    eventually(writer_switched, timeout=30)
    eventually(lambda: _ready_now(sample), timeout=90)
    sample.run("rollout", "status", f"deployment/{NAME}-writer", "--timeout=60s")
    after = _children(sample)
    for name in DEPLOYMENTS:
        key = ("Deployment", f"{NAME}-{name}")
        rolled = _revision(after[key]) != _revision(before[key])
        assert rolled == (name == "writer"), f"{name} rolled={rolled}"
    for name in ("kafka", "rabbitmq", "valkey"):
        key = ("StatefulSet", f"{NAME}-{name}")
        assert after[key]["metadata"]["generation"] == before[key]["metadata"]["generation"]
    assert _pipeline(sample)["spec"]["mode"] == "random"


def test_replicas_scale(sample: Kubectl) -> None:
    """Changing a component's replicas scales its Deployment and the pipeline stays Ready."""
    patch = {"spec": {"proxy": {"replicas": 3}}}
    sample.run("patch", "climapipeline", NAME, "--type=merge", "-p", json.dumps(patch))

    def scaled() -> bool:
        proxy = sample.json("get", "deployment", f"{NAME}-proxy")
        return proxy["spec"]["replicas"] == 3 and proxy["status"].get("readyReplicas") == 3

    eventually(scaled, timeout=60)
    eventually(lambda: _ready_now(sample), timeout=60)


def test_deleted_deployment_comes_back(sample: Kubectl) -> None:
    """A child Deployment deleted by hand is recreated and the pipeline returns to Ready."""
    old = sample.json("get", "deployment", f"{NAME}-proxy")["metadata"]["uid"]
    sample.run("delete", "deployment", f"{NAME}-proxy", "--wait=true")

    def recreated() -> bool:
        new = sample.get("deployment", f"{NAME}-proxy")
        return new is not None and new["metadata"]["uid"] != old

    eventually(recreated, timeout=RECONCILE_INTERVAL * 3)
    eventually(lambda: _ready_now(sample), timeout=90)


def test_suspend_is_honoured(sample: Kubectl) -> None:
    """Suspended: status says so and a deleted child stays deleted; unsuspended: it returns."""
    sample.run("patch", "climapipeline", NAME, "--type=merge", "-p", '{"spec":{"suspend":true}}')

    def suspended() -> bool:
        body = _pipeline(sample)
        return body["status"]["phase"] == "Suspended" and (
            _condition(body, "Ready")["reason"] == "Suspended"
        )

    eventually(suspended, timeout=30)
    sample.run("delete", "deployment", f"{NAME}-writer", "--wait=true")
    time.sleep(RECONCILE_INTERVAL * 2 + 2)
    assert sample.get("deployment", f"{NAME}-writer") is None
    assert _condition(_pipeline(sample), "WriterReady")["reason"] == "Missing"
    sample.run("patch", "climapipeline", NAME, "--type=merge", "-p", '{"spec":{"suspend":false}}')
    eventually(lambda: sample.get("deployment", f"{NAME}-writer"), timeout=30)
    eventually(lambda: _ready_now(sample), timeout=90)


def _versions(k: Kubectl) -> dict[tuple[str, str], str]:
    return {key: obj["metadata"]["resourceVersion"] for key, obj in _children(k).items()}


def test_restart_changes_nothing(sample: Kubectl, operator: OperatorProcess) -> None:
    """Restarting the operator neither duplicates nor rewrites any child."""
    time.sleep(RECONCILE_INTERVAL + 2)  # let any write caused by the last test settle
    before = _versions(sample)
    assert operator.stop() == 0
    operator.start()
    time.sleep(RECONCILE_INTERVAL * 2 + 2)  # resume pass, then at least one timer pass
    after = _versions(sample)
    assert after == before
    assert _ready_now(sample)


def test_metrics_and_liveness(sample: Kubectl, operator: OperatorProcess) -> None:
    """The liveness endpoint answers and the metrics count and time reconciles."""
    with urllib.request.urlopen(operator.url(operator.liveness_port, "/healthz")) as answer:
        assert answer.status == 200
    with urllib.request.urlopen(operator.url(operator.metrics_port, "/metrics")) as answer:
        text = answer.read().decode()
    assert "clima_operator_reconciles_total{" in text
    assert "clima_operator_reconcile_duration_seconds_bucket" in text
    assert "clima_operator_reconcile_failures_total" in text


INVALID = [
    ({"mode": "carrier-pigeon"}, "spec.mode"),
    ({"writer": {"replicas": -1}}, "spec.writer.replicas"),
    ({"kafka": {"type": "external"}}, "spec.kafka.external.address"),
    ({"rabbitmq": {"type": "external", "external": {"address": "mq"}}},
     "spec.rabbitmq.external.secretRef"),
    ({"api": {"autoscaling": {"minReplicas": 9, "maxReplicas": 3}}},
     "spec.api.autoscaling.minReplicas"),
    ({"mode": "kafka", "kafka": {"type": "disabled"}}, "spec.kafka.type"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "field"), INVALID)
def test_invalid_specs_are_refused(
    ns_kubectl: Kubectl, crd: None, spec: dict[str, Any], field: str
) -> None:
    """The API server refuses an invalid spec at kubectl apply, naming the field."""
    body = {"apiVersion": "clima.io/v1alpha1", "kind": "ClimaPipeline",
            "metadata": {"name": "invalid"}, "spec": spec}  # fmt: skip
    done = ns_kubectl.run("apply", "-f", "-", stdin=json.dumps(body), check=False)
    assert done.returncode != 0
    assert field in done.stderr, done.stderr
    assert ns_kubectl.get("climapipeline", "invalid") is None


def test_kafka_partitions_can_be_raised_but_never_lowered(ns_kubectl: Kubectl, crd: None) -> None:
    """The API server's transition rule refuses a lower spec.kafka.partitions, naming it, and
    takes a higher one."""
    body = {"apiVersion": "clima.io/v1alpha1", "kind": "ClimaPipeline",
            "metadata": {"name": "partitions"}, "spec": {"kafka": {"partitions": 4}}}  # fmt: skip
    ns_kubectl.run("apply", "-f", "-", stdin=json.dumps(body))
    try:
        lower = json.dumps({"spec": {"kafka": {"partitions": 2}}})
        done = ns_kubectl.run(
            "patch", "climapipeline", "partitions", "--type=merge", "-p", lower, check=False
        )
        assert done.returncode != 0
        assert "spec.kafka.partitions cannot be lowered" in done.stderr, done.stderr
        higher = json.dumps({"spec": {"kafka": {"partitions": 8}}})
        ns_kubectl.run("patch", "climapipeline", "partitions", "--type=merge", "-p", higher)
        assert ns_kubectl.get("climapipeline", "partitions")["spec"]["kafka"]["partitions"] == 8
    finally:
        ns_kubectl.run("delete", "climapipeline", "partitions", "--wait=false", check=False)


def test_long_name_is_refused(ns_kubectl: Kubectl, crd: None) -> None:
    """A name too long for the children's names is refused, naming metadata.name."""
    body = {"apiVersion": "clima.io/v1alpha1", "kind": "ClimaPipeline",
            "metadata": {"name": "x" * 41}, "spec": {}}  # fmt: skip
    done = ns_kubectl.run("apply", "-f", "-", stdin=json.dumps(body), check=False)
    assert done.returncode != 0
    assert "metadata.name" in done.stderr, done.stderr


def test_deleting_the_pipeline_removes_children(sample: Kubectl, operator: OperatorProcess) -> None:
    """Deleting the ClimaPipeline, even with the operator stopped, garbage-collects every child
    but keeps the stores' volumes (storage.retainOnDelete defaults to true): a pipeline
    deleted by mistake loses no report."""
    claims = f"app.kubernetes.io/instance={NAME}"
    before = {item["metadata"]["name"] for item in sample.json("get", "pvc", "-l", claims)["items"]}
    assert before, "the sample's stores have claims"
    assert operator.stop() == 0
    try:
        sample.run("delete", "climapipeline", NAME, "--wait=true", "--timeout=60s")
        eventually(lambda: not _children(sample), timeout=90)
        after = {
            item["metadata"]["name"] for item in sample.json("get", "pvc", "-l", claims)["items"]
        }
        assert after == before
        sample.run("delete", "pvc", "-l", claims, "--wait=true", "--timeout=60s")
    finally:
        operator.start()
