"""The chart's life on the real control plane, as a user lives it: pushed to the OCI registry
on loopback, installed from ``oci://127.0.0.1:5000/charts/clima``, a pipeline switched on and
changed with ``helm upgrade``, ``helm test``, ``helm uninstall``.

kwok marks pods Ready but runs no container. So the operator also runs for real, out of the
cluster, configured from the installed Deployment (its environment, the dashboards of its
ConfigMap) and authenticated as the chart's ServiceAccount: the pipeline reaching Ready proves
the chart's RBAC is enough. The tests run in file order and share one release.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_e2e_support import (
    CHART,
    CRD_NAME,
    OUT,
    PYTHON,
    STORAGE_CLASS,
    Helm,
    Kubectl,
    OperatorProcess,
    container_env,
    eventually,
    run,
    static_volumes,
    token_kubeconfig,
    write_dashboards,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

RELEASE = "clima"
PIPELINE = "clima"  # the fullname: the release name contains the chart name
VERSION = "0.1.0"


def _values() -> dict[str, Any]:
    """Install values: the image from the loopback registry, the operator serving the release
    namespace (the default of an empty operator.watchNamespaces), and the managed backends'
    claims on this suite's static volumes."""

    def managed(size: str) -> dict[str, Any]:
        return {
            "type": "managed",
            "managed": {"storage": {"size": size, "storageClassName": STORAGE_CLASS}},
        }

    return {
        "image": {"registry": "127.0.0.1:5000"},
        "operator": {"logFormat": "text"},
        "pipeline": {
            "spec": {"kafka": managed("5Gi"), "rabbitmq": managed("2Gi"), "valkey": managed("1Gi")}
        },
    }


@pytest.fixture(scope="module")
def namespace(make_namespace: Callable[[str], str]) -> str:
    return make_namespace("clima-chart-e2e")


@pytest.fixture(scope="module")
def k(kubectl: Kubectl, namespace: str) -> Kubectl:
    return kubectl.in_namespace(namespace)


@pytest.fixture(scope="module")
def helm(env: dict[str, str], namespace: str) -> Helm:
    return Helm(env, namespace)


@pytest.fixture(scope="module")
def volumes(kubectl: Kubectl) -> Iterator[Callable[[int], None]]:
    with static_volumes(kubectl) as ensure_free:
        yield ensure_free


@pytest.fixture(scope="module")
def values_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("values") / "values.yaml"
    path.write_text(yaml.safe_dump(_values()))
    return path


@pytest.fixture(scope="module")
def installed(
    helm: Helm,
    k: Kubectl,
    pushed: str,
    values_file: Path,
    namespace: str,
    adopt_crd: Callable[[str, str], None],
) -> Iterator[str]:
    """`helm install` from the registry; on the way out, a safety net if a test failed early."""
    adopt_crd(RELEASE, namespace)
    done = helm.run(
        "install",
        RELEASE,
        pushed,
        "--version",
        VERSION,
        "--plain-http",
        "-f",
        str(values_file),
        "--wait",
        "--timeout",
        "3m",
    )
    yield done.stdout
    if helm.run("status", RELEASE, check=False).returncode == 0:
        helm.run("uninstall", RELEASE, "--no-hooks", "--wait", "--timeout", "2m", check=False)
    if k.get("climapipeline", PIPELINE) is not None:  # never leave a namespace stuck
        k.run(
            "patch",
            "climapipeline",
            PIPELINE,
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
            check=False,
        )


@pytest.fixture(scope="module")
def operator(
    installed: str, k: Kubectl, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The real operator with the installed Deployment's settings and ServiceAccount."""
    work = tmp_path_factory.mktemp("operator")
    deployment = k.json("get", "deployment", "clima-operator")
    pod = deployment["spec"]["template"]["spec"]
    settings = container_env(pod["containers"][0])
    configmap = k.json("get", "configmap", "clima-dashboards")
    settings["CLIMA_OPERATOR_DASHBOARDS_DIR"] = str(write_dashboards(configmap, work / "boards"))
    kubeconfig = token_kubeconfig(k, namespace, pod["serviceAccountName"], work / "kubeconfig")
    OUT.mkdir(exist_ok=True)
    process = OperatorProcess(
        {**k.env, "KUBECONFIG": str(kubeconfig)}, settings, OUT / "chart-e2e-operator.log"
    )
    process.start()
    yield process
    process.stop()


def _ready_now(k: Kubectl) -> bool:
    body = k.json("get", "climapipeline", PIPELINE)
    conditions: list[dict[str, Any]] = body.get("status", {}).get("conditions", [])
    ready = next((c for c in conditions if c["type"] == "Ready"), {})
    return bool(
        ready.get("status") == "True"
        and ready.get("observedGeneration") == body["metadata"]["generation"]
    )


def _upgrade(helm: Helm, pushed: str, *sets: str) -> None:
    helm.run(
        "upgrade",
        RELEASE,
        pushed,
        "--version",
        VERSION,
        "--plain-http",
        "--reuse-values",
        *sets,
        "--wait",
        "--timeout",
        "3m",
    )


def test_chart_is_in_the_registry(pushed: str, registry: str, helm: Helm) -> None:
    """The pushed chart is listed by the registry and readable by helm over OCI."""
    with urllib.request.urlopen(f"http://{registry}/v2/charts/clima/tags/list") as response:
        assert VERSION in json.load(response)["tags"]
    shown = yaml.safe_load(
        helm.run("show", "chart", pushed, "--version", VERSION, "--plain-http").stdout
    )
    assert (shown["name"], shown["version"], shown["appVersion"]) == ("clima", VERSION, VERSION)


def test_install_from_oci_brings_up_the_operator(installed: str, k: Kubectl, helm: Helm) -> None:
    """`helm install oci://...` deploys the release; the operator Deployment becomes Available
    (kwok), the CRD is the release's and kept on uninstall, NOTES say what to do next."""
    metadata = json.loads(helm.run("get", "metadata", RELEASE, "-o", "json").stdout)
    assert (metadata["status"], metadata["chart"], metadata["version"]) == (
        "deployed",
        "clima",
        VERSION,
    )
    deployment = k.json("get", "deployment", "clima-operator")
    available = {c["type"]: c["status"] for c in deployment["status"]["conditions"]}
    assert available["Available"] == "True"
    assert deployment["status"]["readyReplicas"] == 1
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "127.0.0.1:5000/clima/clima:0.1.0"
    crd = k.json("get", "crd", CRD_NAME)
    annotations = crd["metadata"]["annotations"]
    assert annotations["helm.sh/resource-policy"] == "keep"
    assert annotations["meta.helm.sh/release-name"] == RELEASE
    assert "kubectl -n" in installed
    assert "wait --for=condition=Ready climapipeline/" in installed
    assert k.get("role", "clima-operator") is not None
    assert k.get("climapipeline", PIPELINE) is None  # pipeline.enabled defaults to false


def test_pipeline_from_values_reaches_ready_under_the_charts_rbac(
    operator: OperatorProcess,
    helm: Helm,
    k: Kubectl,
    pushed: str,
    volumes: Callable[[int], None],
) -> None:
    """`helm upgrade --set pipeline.enabled=true` creates the ClimaPipeline; the operator,
    holding only the chart's permissions, brings it to Ready with the chart's image,
    dashboards and NetworkPolicies, and is never refused anything by the API server."""
    volumes(3)
    _upgrade(helm, pushed, "--set", "pipeline.enabled=true")
    k.run("wait", "--for=condition=Ready", f"climapipeline/{PIPELINE}", "--timeout=180s")
    eventually(lambda: _ready_now(k), timeout=60)
    api = k.json("get", "deployment", f"{PIPELINE}-api")
    assert api["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "127.0.0.1:5000/clima/clima:0.1.0"
    )
    boards = k.json("get", "configmap", f"{PIPELINE}-grafana-dashboards")["data"]
    shipped = k.json("get", "configmap", "clima-dashboards")["data"]
    assert shipped
    for name, text in shipped.items():
        assert boards[name] == text
    policies = k.json("get", "networkpolicies", "-l", f"clima.io/pipeline={PIPELINE}")["items"]
    assert {p["metadata"]["name"] for p in policies} >= {f"{PIPELINE}-api", f"{PIPELINE}-valkey"}
    assert operator.forbidden_lines() == []


def test_upgrade_with_changed_values_changes_the_pipeline(
    operator: OperatorProcess, helm: Helm, k: Kubectl, pushed: str
) -> None:
    """`helm upgrade` of mode and replicas reaches the CR and, through the operator, the
    children: the writer targets Kafka only, RabbitMQ and its consumer go, proxy scales."""
    before = k.json("get", "climapipeline", PIPELINE)["metadata"]["generation"]
    _upgrade(
        helm, pushed, "--set", "pipeline.spec.mode=kafka", "--set", "pipeline.spec.proxy.replicas=2"
    )
    body = k.json("get", "climapipeline", PIPELINE)
    assert body["spec"]["mode"] == "kafka"
    assert body["spec"]["proxy"]["replicas"] == 2
    assert body["metadata"]["generation"] > before
    eventually(lambda: _ready_now(k), timeout=180)
    writer = k.json("get", "deployment", f"{PIPELINE}-writer")
    assert (
        container_env(writer["spec"]["template"]["spec"]["containers"][0])["WRITER_TARGET"]
        == "kafka"
    )
    assert k.json("get", "deployment", f"{PIPELINE}-proxy")["spec"]["replicas"] == 2
    eventually(lambda: k.get("deployment", f"{PIPELINE}-rabbit-consumer") is None, timeout=60)
    eventually(lambda: k.get("statefulset", f"{PIPELINE}-rabbitmq") is None, timeout=60)
    assert operator.forbidden_lines() == []


def test_helm_test_creates_the_smoke_pod(
    operator: OperatorProcess, helm: Helm, k: Kubectl, env: dict[str, str]
) -> None:
    """`helm test` creates its pod (admitted under the restricted standard) running the shipped
    smoke script with the release's URLs. Under kwok that pod never runs, so `helm test`
    cannot pass here: it must time out, not pass. The script itself runs for real against the
    live operator's metrics endpoint."""
    done = helm.run("test", RELEASE, "--timeout", "20s", check=False)
    assert done.returncode != 0, "helm test passed although no container runs under kwok"
    pod = k.json("get", "pod", "clima-test")
    (container,) = pod["spec"]["containers"]
    script = (CHART / "files" / "scripts" / "smoke_test.py").read_text()
    assert container["command"][:2] == ["python", "-c"]
    assert container["command"][2].strip() == script.strip()
    urls = container_env(container)
    assert urls["CLIMA_TEST_API_URL"] == f"http://{PIPELINE}-api.{k.namespace}.svc:80"
    k.run("delete", "pod", "clima-test", "--wait=false")  # a failed test pod is kept on purpose
    local = run(
        [str(PYTHON), "-c", container["command"][2]],
        {
            **env,
            "CLIMA_TEST_METRICS_URL": operator.url(operator.metrics_port, "/metrics"),
            "CLIMA_TEST_TIMEOUT": "20",
        },
    )
    assert "PASS" in local.stdout


def _hooks(helm: Helm, event: str) -> list[dict[str, Any]]:
    text = helm.run("get", "hooks", RELEASE).stdout
    return [
        doc
        for doc in yaml.safe_load_all(text)
        if doc and event in doc["metadata"].get("annotations", {}).get("helm.sh/hook", "")
    ]


def _leftovers(k: Kubectl) -> list[str]:
    """Every namespaced object still in the namespace, except what any namespace has."""
    kinds = k.run("api-resources", "--verbs=list", "--namespaced", "-o", "name").stdout.split()
    kinds = [kind for kind in kinds if kind not in ("events", "events.events.k8s.io")]
    items = k.json("get", ",".join(kinds), "--ignore-not-found")["items"]
    defaults = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}
    found = [(item["kind"], item["metadata"]["name"]) for item in items]
    return [f"{kind}/{name}" for kind, name in found if (kind, name) not in defaults]


def test_uninstall_leaves_nothing_but_the_crd_and_the_data(
    operator: OperatorProcess,
    helm: Helm,
    k: Kubectl,
    kubectl: Kubectl,
    env: dict[str, str],
    namespace: str,
    tmp_path: Path,
) -> None:
    """The pre-delete cleanup deletes the pipeline while the operator still runs (its script
    run for real, out of the cluster, as the hook's ServiceAccount, because kwok runs no Job);
    then `helm uninstall` removes the rest: no namespaced object and no cluster role of the
    release is left but the stores' volumes (storage.retainOnDelete defaults to true), the
    CRD stays, and the operator exits cleanly. The documented removal of the volumes then
    leaves the namespace empty."""
    hooks = _hooks(helm, "pre-delete")
    job = next(doc for doc in hooks if doc["kind"] == "Job")
    access = [doc for doc in hooks if doc["kind"] != "Job"]
    k.run(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": access})
    )
    account = job["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = token_kubeconfig(k, namespace, account, tmp_path / "kubeconfig")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    cleanup = run(
        [str(PYTHON), "-c", container["command"][2]],
        {**env, **container_env(container), "KUBECONFIG": str(kubeconfig)},
        timeout=300,
    )
    assert "is gone" in cleanup.stdout, cleanup.stdout + cleanup.stderr
    # from here its permissions go while this out-of-cluster operator still runs (in the
    # cluster its pod goes with them): refusals after this mark are expected
    before_uninstall = operator.log_size()
    helm.run("uninstall", RELEASE, "--wait", "--timeout", "3m")
    claims = {
        f"PersistentVolumeClaim/data-{PIPELINE}-{store}-0"
        for store in ("kafka", "rabbitmq", "valkey")
    }
    eventually(lambda: set(_leftovers(k)) == claims, timeout=120, interval=2)
    # docs/operator.md, "Uninstalling": what removes the data too
    k.run("delete", "pvc", "-l", f"app.kubernetes.io/instance={PIPELINE}", "--wait=true")
    eventually(lambda: _leftovers(k) == [], timeout=60, interval=2)
    release_label = f"app.kubernetes.io/instance={RELEASE}"
    for kind in ("clusterroles", "clusterrolebindings"):
        names = [
            item["metadata"]["name"]
            for item in kubectl.json("get", kind, "-l", release_label)["items"]
            if item["metadata"]["name"].startswith(f"{namespace}-")
        ]
        assert names == [], f"{kind} left: {names}"
    crd = kubectl.json("get", "crd", CRD_NAME)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert operator.forbidden_lines(upto=before_uninstall) == []
    assert operator.stop() == 0
