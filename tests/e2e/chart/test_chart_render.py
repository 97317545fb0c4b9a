"""The chart as files: lint, schema, what it renders, and the real API server's verdict on it.

No kubeconform here (no schema download): ``kubectl apply --dry-run=server`` sends every
rendered object through the real 1.36 API server, its OpenAPI validation with strict field
checking, the installed ClimaPipeline CRD (with its CEL rules) and Pod Security admission.
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_e2e_support import (
    CHART,
    CHART_SH,
    CRD_NAME,
    ROOT,
    Helm,
    Kubectl,
    find,
    packaged_files,
    run,
    sets,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

CRD_FILE = CHART / "files" / "crds" / "climapipelines.clima.io.yaml"
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))

# Value sets rendered and validated by the API server, each with what it must produce.
VARIANTS: dict[str, dict[str, str]] = {
    "defaults": {},
    "pipeline": {
        "pipeline.enabled": "true",
        "pipeline.spec.mode": "kafka",
        "pipeline.spec.rabbitmq.type": "disabled",
    },
    "one-namespace": {"pipeline.enabled": "true", "operator.watchNamespaces[0]": "{ns}"},
    "minimal": {
        "crds.enabled": "false",
        "dashboards.enabled": "false",
        "operator.metrics.enabled": "false",
        "rbac.create": "false",
        "serviceAccount.create": "false",
        "serviceAccount.name": "default",
    },
    "private-registry": {
        "image.registry": "zot.example.com:5000",
        "image.digest": "sha256:" + "a" * 64,
        "imagePullSecrets[0].name": "zot",
    },
}


@pytest.fixture(scope="module")
def namespace(make_namespace: Any) -> str:
    """A restricted namespace for server-side dry runs."""
    name: str = make_namespace("clima-chart-render")
    return name


@pytest.fixture(scope="module")
def helm(env: dict[str, str], namespace: str) -> Helm:
    return Helm(env, namespace)


@pytest.fixture(scope="module")
def crd(kubectl: Kubectl) -> None:
    """The CRD must be served for the dry runs of ClimaPipelines (apply never removes it)."""
    if kubectl.get("crd", CRD_NAME) is None:
        kubectl.run("apply", "--server-side", "-f", str(CRD_FILE))
    kubectl.run("wait", "--for=condition=Established", f"crd/{CRD_NAME}")


def test_lint_is_clean(env: dict[str, str]) -> None:
    """`chart.sh lint` (schema current, helm lint --strict of three value sets) passes quietly."""
    done = run([str(CHART_SH), "lint"], env)
    output = done.stdout + done.stderr
    assert "0 chart(s) failed" in output
    assert "[WARNING]" not in output
    assert "[ERROR]" not in output


def test_values_schema_matches_the_crd(env: dict[str, str]) -> None:
    """pipeline.spec of values.schema.json is what `chart.sh schema` derives from the CRD now."""
    run([str(CHART_SH), "schema", "--check"], env)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rendered_objects_pass_the_api_server(
    variant: str, helm: Helm, kubectl: Kubectl, namespace: str, crd: None
) -> None:
    """Every object the chart renders (hooks and tests too) is accepted by a server dry run,
    with strict field validation and no Pod Security warning."""
    values = {key: value.format(ns=namespace) for key, value in VARIANTS[variant].items()}
    manifest = helm.run("template", "clima", str(CHART), *sets(values)).stdout
    done = kubectl.in_namespace(namespace).run(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=clima-chart-e2e",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        stdin=manifest,
    )
    assert "PodSecurity" not in done.stderr, done.stderr
    assert "Warning" not in done.stderr, done.stderr


def test_crd_is_the_operator_file_kept_on_uninstall(helm: Helm) -> None:
    """The rendered CRD is files/crds/ verbatim, plus the release labels and the keep policy."""
    objects = helm.template()
    rendered = find(objects, "CustomResourceDefinition")
    source = yaml.safe_load(CRD_FILE.read_text())
    assert rendered["spec"] == source["spec"]
    assert rendered["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert rendered["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    without = helm.template("--set", "crds.enabled=false")
    assert not [o for o in without if o["kind"] == "CustomResourceDefinition"]


def test_operator_deployment_runs_clima_operator_safely(helm: Helm, namespace: str) -> None:
    """One Recreate replica of `clima-operator`, restricted security, probes on kopf's
    liveness port, a metrics port, and every setting passed as its CLIMA_OPERATOR_ variable."""
    objects = helm.template("--set", f"operator.watchNamespaces[0]={namespace}")
    deployment = find(objects, "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert container["command"] == ["clima-operator"]
    assert container["image"] == "127.0.0.1:5000/clima/clima:0.1.0"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"healthz": 8080, "metrics": 9090}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    env = {e["name"]: e.get("value") or e["valueFrom"] for e in container["env"]}
    assert env == {
        "CLIMA_OPERATOR_POD_NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
        "CLIMA_OPERATOR_DEFAULT_IMAGE": "127.0.0.1:5000/clima/clima:0.1.0",
        "CLIMA_OPERATOR_NAMESPACES": namespace,
        "CLIMA_OPERATOR_RECONCILE_INTERVAL": "30",
        "CLIMA_OPERATOR_REQUEST_TIMEOUT": "30",
        "CLIMA_OPERATOR_LIVENESS_PORT": "8080",
        "CLIMA_OPERATOR_METRICS_PORT": "9090",
        "CLIMA_OPERATOR_BIND_ADDRESS": "0.0.0.0",
        "CLIMA_OPERATOR_DASHBOARDS_DIR": "/etc/clima-operator/dashboards",
        "CLIMA_OPERATOR_LOG_FORMAT": "json",
        "CLIMA_OPERATOR_LOG_LEVEL": "INFO",
    }
    assert not [o for o in objects if o["kind"] == "ClimaPipeline"]


def _verbs(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    return {
        (g, r): set(rule["verbs"])
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }


def test_default_rbac_is_a_role_in_the_release_namespace(helm: Helm, namespace: str) -> None:
    """Without watchNamespaces the operator serves the release namespace only: its rules are a
    Role there (no wildcard, Secrets only by name); the ClusterRole only reads CRDs and
    namespaces, so nothing grants Secrets or children cluster-wide."""
    objects = helm.template()
    (role,) = [
        o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == "clima-operator"
    ]
    assert role["metadata"]["namespace"] == namespace
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
    verbs = _verbs(role["rules"])
    assert verbs[("", "secrets")] == {"get", "create", "patch"}
    assert verbs[("clima.io", "climapipelines/status")] == {"patch"}
    assert verbs[("networking.k8s.io", "networkpolicies")] == {"list", "create", "patch", "delete"}
    cluster_role = find(objects, "ClusterRole")
    assert _verbs(cluster_role["rules"]) == {
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
        ("", "namespaces"): {"list", "watch"},
    }
    env = {e["name"]: e.get("value") for e in find(objects, "Deployment")["spec"]["template"][
        "spec"]["containers"][0]["env"]}  # fmt: skip
    assert env["CLIMA_OPERATOR_NAMESPACES"] == namespace


def test_watch_namespaces_get_a_role_each(helm: Helm, namespace: str) -> None:
    """Each namespace of watchNamespaces gets the same Role and a RoleBinding to the operator's
    ServiceAccount of the release namespace; the operator is told exactly that list."""
    objects = helm.template("--set", "operator.watchNamespaces={team-a,team-b}")
    roles = [
        o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == "clima-operator"
    ]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert roles[0]["rules"] == roles[1]["rules"]
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "clima-operator", "namespace": namespace}
        ]
    container = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CLIMA_OPERATOR_NAMESPACES"] == "team-a,team-b"


def test_pipeline_values_map_one_to_one_onto_the_spec(helm: Helm) -> None:
    """pipeline.spec becomes the ClimaPipeline's spec unchanged; image defaults to image.*."""
    values = {
        "pipeline.enabled": "true",
        "pipeline.name": "weather",
        "pipeline.spec.mode": "random",
        "pipeline.spec.writer.replicas": "3",
        "pipeline.spec.retention.streamMaxLen": "500",
        "image.registry": "127.0.0.1:5000",
        "image.tag": "dev",
    }
    pipeline = find(helm.template(*sets(values)), "ClimaPipeline")
    assert pipeline["metadata"]["name"] == "weather"
    spec = pipeline["spec"]
    assert spec["mode"] == "random"
    assert spec["writer"] == {"replicas": 3}
    assert spec["retention"] == {"streamMaxLen": 500}
    assert spec["image"] == "127.0.0.1:5000/clima/clima:dev"
    own_image = helm.template(*sets({**values, "pipeline.spec.image": "elsewhere/clima:1"}))
    assert find(own_image, "ClimaPipeline")["spec"]["image"] == "elsewhere/clima:1"


def test_dashboards_ship_as_a_configmap_mounted_into_the_operator(helm: Helm) -> None:
    """Each dashboards/*.json is a key of the ConfigMap, byte for byte, and the operator pod
    mounts it where CLIMA_OPERATOR_DASHBOARDS_DIR points, restarting when it changes."""
    assert DASHBOARDS, "dashboards/ has no JSON file"
    objects = helm.template()
    configmap = find(objects, "ConfigMap", "clima-dashboards")
    assert configmap["data"] == {path.name: path.read_text() for path in DASHBOARDS}
    pod = find(objects, "Deployment")["spec"]["template"]
    assert "checksum/dashboards" in pod["metadata"]["annotations"]
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "dashboards")
    assert volume["configMap"]["name"] == "clima-dashboards"
    extra = helm.template("--set-string", "dashboards.labels.grafana_dashboard=1")
    assert (
        find(extra, "ConfigMap", "clima-dashboards")["metadata"]["labels"]["grafana_dashboard"]
        == "1"
    )


def test_test_pod_and_cleanup_job_run_the_shipped_scripts(helm: Helm, namespace: str) -> None:
    """`helm test` runs files/scripts/smoke_test.py against the operator's metrics Service and
    the pipeline's api; the pre-delete Job runs delete_pipeline.py with a Role limited to the
    chart's pipeline."""
    objects = helm.template("--set", "pipeline.enabled=true")
    test_pod = find(objects, "Pod", "clima-test")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = test_pod["spec"]["containers"]
    script = (CHART / "files" / "scripts" / "smoke_test.py").read_text()
    assert container["command"][:2] == ["python", "-c"]
    assert container["command"][2].strip() == script.strip()
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CLIMA_TEST_API_URL"] == f"http://clima-api.{namespace}.svc:80"
    assert env["CLIMA_TEST_METRICS_URL"] == f"http://clima-metrics.{namespace}.svc:9090/metrics"
    job = find(objects, "Job", "clima-cleanup")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
    (cleanup,) = job["spec"]["template"]["spec"]["containers"]
    cleanup_script = (CHART / "files" / "scripts" / "delete_pipeline.py").read_text()
    assert cleanup["command"][2].strip() == cleanup_script.strip()
    role = find(objects, "Role", "clima-cleanup")
    assert role["rules"] == [
        {
            "apiGroups": ["clima.io"],
            "resources": ["climapipelines"],
            "resourceNames": ["clima"],
            "verbs": ["get", "delete"],
        }
    ]


WRONG_VALUES = [
    ({"image.pullPolicy": "Sometimes"}, "at '/image/pullPolicy'"),
    ({"operator.reconcileInterval": "0"}, "at '/operator/reconcileInterval'"),
    ({"operator.logFormat": "xml"}, "at '/operator/logFormat'"),
    ({"operator.watchNamespaces": "{a,a}"}, "at '/operator/watchNamespaces'"),
    ({"operator.replicas": "2"}, "additional properties 'replicas' not allowed"),
    ({"pipeline.spec.mode": "fast"}, "at '/pipeline/spec/mode'"),
    ({"pipeline.spec.api.replicas": "-1"}, "at '/pipeline/spec/api/replicas'"),
    ({"pipeline.spec.moed": "kafka"}, "at '/pipeline/spec': additional properties 'moed'"),
    ({"pipeline.spec.valkey.type": "disabled"}, "at '/pipeline/spec/valkey/type'"),
    ({"pipeline.name": "9lives"}, "at '/pipeline/name'"),
    ({"image.digest": "latest"}, "at '/image/digest'"),
]


@pytest.mark.parametrize(("values", "message"), WRONG_VALUES)
def test_schema_refuses_wrong_values_naming_the_field(
    helm: Helm, values: dict[str, str], message: str
) -> None:
    """A value of the wrong type, range or name stops helm before rendering, naming its path."""
    done = helm.run("template", "clima", str(CHART), *sets(values), check=False)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


CONTRADICTIONS = [
    (
        {"pipeline.enabled": "true", "pipeline.spec.rabbitmq.type": "disabled"},
        'pipeline.spec.rabbitmq.type is disabled, but pipeline.spec.mode "both"',
    ),
    (
        {"pipeline.enabled": "true", "operator.watchNamespaces[0]": "elsewhere"},
        "operator.watchNamespaces serves only elsewhere",
    ),
    ({"serviceAccount.create": "false"}, "serviceAccount.create=false needs serviceAccount.name"),
    (
        {
            "pipeline.enabled": "true",
            "pipeline.spec.api.autoscaling.enabled": "true",
            "pipeline.spec.api.autoscaling.minReplicas": "6",
        },
        "minReplicas must not exceed maxReplicas",
    ),
    (
        {"pipeline.enabled": "true", "fullnameOverride": "a" * 41},
        "must start with a letter",
    ),
]


@pytest.mark.parametrize(("values", "message"), CONTRADICTIONS)
def test_contradictory_values_fail_with_a_reason(
    helm: Helm, values: dict[str, str], message: str
) -> None:
    """Values that are each valid but cannot work together stop helm with an explanation."""
    done = helm.run("template", "clima", str(CHART), *sets(values), check=False)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


def test_package_holds_real_dashboard_files(env: dict[str, str], tmp_path: Path) -> None:
    """`chart.sh package` resolves files/dashboards (a link to dashboards/) into regular files
    equal to the sources, next to the CRD, the scripts and the schema."""
    tgz = Path(run([str(CHART_SH), "package", str(tmp_path)], env).stdout.strip())
    assert tgz.name == "clima-0.1.0.tgz"
    entries = packaged_files(tgz)
    for needed in (
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "templates/NOTES.txt",
        "files/crds/climapipelines.clima.io.yaml",
        "files/scripts/smoke_test.py",
        "files/scripts/delete_pipeline.py",
        "templates/tests/test-pipeline.yaml",
    ):
        assert f"clima/{needed}" in entries, needed
    with tarfile.open(tgz) as archive:
        for path in DASHBOARDS:
            member = entries[f"clima/files/dashboards/{path.name}"]
            assert member.isfile()
            extracted = archive.extractfile(member)
            assert extracted is not None
            assert extracted.read() == path.read_bytes()
