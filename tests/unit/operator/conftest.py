"""Fixtures of the operator's unit tests: spec contexts and an in-memory API server."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from clima_operator import kube
from clima_operator.children import Context, Owner
from clima_operator.errors import ConflictError, RejectedError
from clima_operator.spec import parse_spec

Manifest = dict[str, Any]
Key = tuple[str, str, str]  # kind, namespace, name
#: The credentials a reconcile would read from the Secret (fixed, for the builders' tests).
PASSWORDS = {
    "rabbitmq-password": "rabbit-pw",
    "valkey-password": "valkey-pw",
    "grafana-admin-password": "grafana-pw",
    "kafka-password": "kafka-pw",
}


def _content(obj: Manifest) -> Manifest:
    """What an apply can change: everything but server-owned metadata and status."""
    meta = {
        k: v
        for k, v in obj["metadata"].items()
        if k in ("labels", "annotations", "ownerReferences")
    }
    rest = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    return {"metadata": meta, **rest}


class FakeCluster:
    """Stores objects like the API server would, enough for the reconciler's calls."""

    def __init__(self) -> None:
        self.objects: dict[Key, Manifest] = {}
        self.writes: list[tuple[str, str, str]] = []  # (verb, kind, name)
        self.reject: dict[tuple[str, str], str] = {}
        self._versions = itertools.count(1)
        self._uids = itertools.count(1)

    def _bump(self, obj: Manifest, spec_changed: bool) -> None:
        meta = obj["metadata"]
        meta["resourceVersion"] = str(next(self._versions))
        if spec_changed and obj["kind"] not in ("ConfigMap", "Secret", "Service"):
            meta["generation"] = int(meta.get("generation", 0)) + 1

    def add_pipeline(self, name: str = "demo", spec: Manifest | None = None) -> Manifest:
        body = {
            "apiVersion": "clima.io/v1alpha1",
            "kind": "ClimaPipeline",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1},
            "spec": spec or {},
        }
        self.objects[("ClimaPipeline", "ns", name)] = body
        return body

    def add_secret(self, name: str, data: dict[str, str], allowed: str | None = None) -> None:
        """A Secret of the namespace, made by a person; ``allowed``: its
        ``clima.io/allowed-pipelines`` annotation."""
        annotations = {} if allowed is None else {"clima.io/allowed-pipelines": allowed}
        self.objects[("Secret", "ns", name)] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": "ns", "annotations": annotations},
            "data": data,
        }

    def set_spec(self, name: str, spec: Manifest) -> None:
        body = self.objects[("ClimaPipeline", "ns", name)]
        body["spec"] = spec
        body["metadata"]["generation"] += 1

    def get(self, kind: kube.Kind, namespace: str, name: str) -> Manifest | None:
        found = self.objects.get((kind.kind, namespace, name))
        return copy.deepcopy(found) if found else None

    def list(self, kind: kube.Kind, namespace: str | None, selector: str = "") -> list[Manifest]:
        label, _, value = selector.partition("=")
        return [
            copy.deepcopy(obj)
            for (k, ns, _), obj in self.objects.items()
            if k == kind.kind
            and ns == namespace
            and obj["metadata"].get("labels", {}).get(label) == value
        ]

    def apply(self, manifest: Manifest, sub: str | None = None) -> Manifest:
        meta = manifest["metadata"]
        key = (manifest["kind"], meta["namespace"], meta["name"])
        if (key[0], key[2]) in self.reject:
            raise RejectedError(422, self.reject[(key[0], key[2])])
        if sub == "status":
            self.objects[key]["status"] = copy.deepcopy(manifest["status"])
            self.writes.append(("status", key[0], key[2]))
            return copy.deepcopy(self.objects[key])
        old = self.objects.get(key)
        if old is not None and _content(old) == _content(manifest):
            return copy.deepcopy(old)
        new = copy.deepcopy(manifest)
        new["metadata"]["uid"] = old["metadata"]["uid"] if old else f"child-{next(self._uids)}"
        new["metadata"]["generation"] = old["metadata"].get("generation", 0) if old else 0
        if old is not None and "status" in old:
            new["status"] = old["status"]
        self._bump(new, spec_changed=True)
        self.objects[key] = new
        self.writes.append(("apply", key[0], key[2]))
        return copy.deepcopy(new)

    def create(self, manifest: Manifest) -> Manifest:
        meta = manifest["metadata"]
        key = (manifest["kind"], meta["namespace"], meta["name"])
        if (key[0], key[2]) in self.reject:
            raise RejectedError(422, self.reject[(key[0], key[2])])
        if key in self.objects:
            raise ConflictError(409, "already exists")
        new = copy.deepcopy(manifest)
        new["metadata"]["uid"] = f"child-{next(self._uids)}"
        self._bump(new, spec_changed=True)
        self.objects[key] = new
        self.writes.append(("create", key[0], key[2]))
        return copy.deepcopy(new)

    def merge_patch(self, kind: kube.Kind, namespace: str, name: str, patch: Manifest) -> Manifest:
        obj = self.objects[(kind.kind, namespace, name)]
        for field, value in patch.items():
            obj.setdefault(field, {}).update(value)
        self._bump(obj, spec_changed=False)
        self.writes.append(("patch", kind.kind, name))
        return copy.deepcopy(obj)

    def delete(self, kind: kube.Kind, namespace: str, name: str, uid: str) -> None:
        obj = self.objects.get((kind.kind, namespace, name))
        if obj is not None and obj["metadata"]["uid"] == uid:
            del self.objects[(kind.kind, namespace, name)]
            self.writes.append(("delete", kind.kind, name))

    def child(self, kind: str, name: str) -> Manifest:
        return self.objects[(kind, "ns", name)]

    def mark_ready(self) -> None:
        """Play the controllers: every Deployment and StatefulSet reports all pods ready."""
        for (kind, _, _), obj in self.objects.items():
            if kind in ("Deployment", "StatefulSet"):
                replicas = obj["spec"].get("replicas", 1)
                obj["status"] = {
                    "observedGeneration": obj["metadata"]["generation"],
                    "replicas": replicas,
                    "readyReplicas": replicas,
                    "updatedReplicas": replicas,
                    "availableReplicas": replicas,
                    "currentRevision": "r1",
                    "updateRevision": "r1",
                }


@pytest.fixture
def owner() -> Owner:
    return Owner(name="demo", namespace="ns", uid="0b0e6c1e-5a57-4b7a-9d0f-1a2b3c4d5e6f")


@pytest.fixture
def make_ctx(owner: Owner) -> Callable[..., Context]:
    """Build a Context from a raw (camelCase) spec, as the API server would send it."""

    def build(
        spec: Manifest | None = None,
        dashboards: dict[str, str] | None = None,
        credentials: dict[str, str] | None = None,
    ) -> Context:
        secrets = PASSWORDS if credentials is None else credentials
        return Context(owner, parse_spec(spec or {}), dashboards or {}, secrets)

    return build


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


class Events:
    """Collects the Events the reconciler posts."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str]] = []

    def __call__(self, body: Any, kind: str, reason: str, message: str) -> None:
        self.posted.append((kind, reason, message))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.posted]


@pytest.fixture
def events() -> Events:
    return Events()
