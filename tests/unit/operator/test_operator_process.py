"""The process edges: settings, API client, kopf wiring, metrics and dashboards loading."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import kopf
import pytest

from clima_operator import kube, metrics
from clima_operator.errors import ClusterError, ConflictError, NotFoundError, RejectedError
from clima_operator.handlers.children import owning_pipeline
from clima_operator.main import build_registry, kopf_settings, load_dashboards
from clima_operator.reconciler import Reconciler
from clima_operator.resync import Resync
from clima_operator.settings import OperatorSettings


def test_settings_read_the_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLIMA_OPERATOR_* variables configure the process; no namespaces means cluster-wide."""
    assert OperatorSettings().clusterwide
    monkeypatch.setenv("CLIMA_OPERATOR_NAMESPACES", "team-a, team-b,team-a")
    monkeypatch.setenv("CLIMA_OPERATOR_LIVENESS_PORT", "8181")
    monkeypatch.setenv("CLIMA_OPERATOR_RECONCILE_INTERVAL", "5")
    settings = OperatorSettings()
    assert settings.namespaces == ["team-a", "team-b"]
    assert not settings.clusterwide
    assert settings.liveness_endpoint == "http://0.0.0.0:8181/healthz"
    assert settings.reconcile_interval == 5


def test_settings_accept_the_singular_namespace_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLIMA_OPERATOR_NAMESPACE of earlier releases still scopes the operator to one namespace."""
    monkeypatch.setenv("CLIMA_OPERATOR_NAMESPACE", "team-a")
    assert OperatorSettings().namespaces == ["team-a"]


def test_settings_refuse_a_bad_namespace_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A namespace that is not a DNS label stops start-up with the variable named."""
    monkeypatch.setenv("CLIMA_OPERATOR_NAMESPACES", "team-a,Team_B")
    with pytest.raises(ValueError, match="CLIMA_OPERATOR_NAMESPACES: 'Team_B'"):
        OperatorSettings()


def test_paths_of_kinds() -> None:
    """Core and grouped kinds map onto their REST paths, namespaced or across namespaces."""
    assert kube.PIPELINE.path(None) == "/apis/clima.io/v1alpha1/climapipelines"
    assert kube.SECRET.path("ns", "x") == "/api/v1/namespaces/ns/secrets/x"
    assert kube.DEPLOYMENT.path("ns") == "/apis/apps/v1/namespaces/ns/deployments"
    assert kube.PIPELINE.path("ns", "p", "status") == (
        "/apis/clima.io/v1alpha1/namespaces/ns/climapipelines/p/status"
    )


class _Response:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self._body = json.dumps(body).encode() if body is not None else b""

    def read(self) -> bytes:
        return self._body


class _FakeApi:
    """Stands in for kubernetes.client.ApiClient, recording requests."""

    def __init__(self, status: int, body: Any) -> None:
        self.response = _Response(status, body)
        self.requests: list[dict[str, Any]] = []

    def param_serialize(self, **request: Any) -> tuple[Any, ...]:
        self.requests.append(request)
        return (request["method"], request["resource_path"])

    def call_api(self, *args: Any, **kwargs: Any) -> _Response:
        return self.response


def test_apply_is_server_side_apply() -> None:
    """apply PATCHes apply-patch+yaml as field manager clima-operator, forcing conflicts."""
    api = _FakeApi(200, {"kind": "Service"})
    client = kube.KubeClient(api)  # type: ignore[arg-type]
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"}}
    assert client.apply(manifest) == {"kind": "Service"}
    (request,) = api.requests
    assert request["method"] == "PATCH"
    assert request["header_params"]["Content-Type"] == "application/apply-patch+yaml"
    assert ("fieldManager", "clima-operator") in request["query_params"]
    assert ("force", "true") in request["query_params"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, NotFoundError), (409, ConflictError), (422, RejectedError), (500, ClusterError)],
)
def test_http_errors_become_typed(status: int, error: type[Exception]) -> None:
    """Error answers become the matching ClusterError subclass with the server's message."""
    client = kube.KubeClient(_FakeApi(status, {"message": "nope"}))  # type: ignore[arg-type]
    with pytest.raises(error, match="nope"):
        client.create({"kind": "Secret", "metadata": {"name": "s", "namespace": "n"}})


def test_get_of_missing_object_is_none() -> None:
    """get answers None for 404 instead of raising."""
    client = kube.KubeClient(_FakeApi(404, {"message": "not found"}))  # type: ignore[arg-type]
    assert client.get(kube.SECRET, "n", "s") is None


def test_list_fills_in_kind() -> None:
    """Listed items carry apiVersion and kind, which list responses leave out."""
    api = _FakeApi(200, {"items": [{"metadata": {"name": "a"}}]})
    items = kube.KubeClient(api).list(kube.DEPLOYMENT, "n", "x=y")  # type: ignore[arg-type]
    assert items == [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}}]
    assert ("labelSelector", "x=y") in api.requests[0]["query_params"]


def test_owning_pipeline() -> None:
    """Only a controller reference to a clima.io ClimaPipeline counts as the owner."""
    ref = {
        "apiVersion": "clima.io/v1alpha1",
        "kind": "ClimaPipeline",
        "name": "p",
        "controller": True,
    }
    assert owning_pipeline({"metadata": {"ownerReferences": [ref]}}) == "p"
    other = {**ref, "apiVersion": "example.com/v1"}
    assert owning_pipeline({"metadata": {"ownerReferences": [other]}}) is None
    assert owning_pipeline({"metadata": {}}) is None


def test_registry_has_the_handlers_and_needs_no_finalizer() -> None:
    """Change handlers and child watches are registered; nothing makes kopf add a finalizer."""
    reconciler = Reconciler(cluster=None, events=lambda *a: None)  # type: ignore[arg-type]
    registry = build_registry(reconciler)
    changing = registry._changing.get_all_handlers()
    assert {handler.reason for handler in changing} >= {"create", "update"}
    assert any(handler.initial for handler in changing)  # resume: once per object at start
    assert not any(handler.requires_finalizer for handler in changing)
    assert registry._spawning.get_all_handlers() == []  # kopf timers/daemons add finalizers
    watched = {h.selector.any_name for h in registry._watching.get_all_handlers()}
    assert watched == {"deployments", "statefulsets", "jobs", "pods"}


def test_resync_passes_over_every_pipeline() -> None:
    """The periodic pass reconciles each listed pipeline; one failure does not stop the rest."""
    seen: list[tuple[str, str]] = []

    def reconcile(namespace: str, name: str) -> None:
        seen.append((namespace, name))
        if name == "a":
            raise ClusterError(500, "boom")

    resync = Resync(lambda: [("ns", "a"), ("ns", "b")], reconcile, interval=0.05)
    resync.run_once()
    assert seen == [("ns", "a"), ("ns", "b")]
    resync.start()
    deadline = time.monotonic() + 5
    while len(seen) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    resync.stop()
    assert len(seen) >= 4


def test_resync_survives_listing_errors() -> None:
    """A failed listing is logged and the pass simply ends."""

    def broken() -> list[tuple[str, str]]:
        raise ClusterError(0, "connection refused")

    Resync(broken, lambda ns, name: None, interval=1).run_once()


def test_events_are_core_events_about_the_pipeline() -> None:
    """post_event creates a core/v1 Event whose involvedObject is the pipeline."""
    api = _FakeApi(201, {})
    body = {"apiVersion": "clima.io/v1alpha1", "kind": "ClimaPipeline",
            "metadata": {"name": "p", "namespace": "n", "uid": "u"}}  # fmt: skip
    kube.KubeClient(api).post_event(body, "Normal", "Created", "Deployment p-api")  # type: ignore[arg-type]
    (request,) = api.requests
    assert (request["method"], request["resource_path"]) == ("POST", "/api/v1/namespaces/n/events")
    event = request["body"]
    assert event["involvedObject"] == {"apiVersion": "clima.io/v1alpha1", "kind": "ClimaPipeline",
                                       "name": "p", "namespace": "n", "uid": "u"}  # fmt: skip
    assert (event["type"], event["reason"]) == ("Normal", "Created")
    assert event["source"] == {"component": "clima-operator"}


def test_kopf_settings_use_our_annotations() -> None:
    """kopf keeps its bookkeeping under clima.io annotations and posts no log events."""
    settings = kopf_settings()
    assert settings.posting.loggers is False
    storage = settings.persistence.diffbase_storage
    assert (storage.prefix, storage.key) == ("clima.io", "last-handled-configuration")


def test_watches_ask_the_server_for_the_operators_objects_only() -> None:
    """Pods, Deployments, StatefulSets and Jobs are watched with a server-side label
    selector."""
    selectors = kopf_settings().watching.label_selectors
    managed = ["app.kubernetes.io/managed-by=clima-operator"]
    watched = (("", "pods"), ("apps", "deployments"), ("apps", "statefulsets"), ("batch", "jobs"))
    for group, plural in watched:
        assert selectors.collect(kopf.Resource(group, "v1", plural)) == managed
    assert selectors.collect(kopf.Resource("clima.io", "v1alpha1", "climapipelines")) == []


def test_dashboards_are_loaded_by_file_name(tmp_path: Path) -> None:
    """Every JSON file of the dashboards folder is shipped under its file name."""
    (tmp_path / "b.json").write_text('{"uid": "b"}', encoding="utf-8")
    (tmp_path / "notes.txt").write_text("skip", encoding="utf-8")
    assert load_dashboards(tmp_path) == {"b.json": '{"uid": "b"}'}
    assert load_dashboards(None) == {}


def test_metrics_count_and_time() -> None:
    """A pass is counted with its outcome and timed; an exception counts as a failure."""
    passes = metrics.RECONCILES.labels(trigger="test", outcome="invalid")
    failures = metrics.FAILURES.labels(reason="invalid_spec")
    before = (passes._value.get(), failures._value.get())
    with metrics.measured("test") as outcome:
        outcome.value = "invalid"
    assert (passes._value.get(), failures._value.get()) == (before[0] + 1, before[1] + 1)
    errors = metrics.FAILURES.labels(reason="api_error")
    count = errors._value.get()
    with pytest.raises(RuntimeError), metrics.measured("test"):
        raise RuntimeError
    assert errors._value.get() == count + 1
