"""A small, typed door to the Kubernetes API for the handful of kinds the operator manages.

It speaks raw REST through the official client's authenticated connection pool (kubeconfig
or in-cluster service account), so manifests stay plain dicts and server-side apply is a
single PATCH with ``application/apply-patch+yaml``.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kubernetes
import urllib3

from clima_operator.crd import GROUP, PLURAL, VERSION
from clima_operator.errors import ClusterError, ConflictError, NotFoundError, RejectedError

logger = logging.getLogger(__name__)

FIELD_MANAGER = "clima-operator"
Manifest = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """Where a namespaced kind lives in the API."""

    api_version: str
    kind: str
    plural: str

    def path(self, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
        """The URL path of a collection (all namespaces when None), an object or a subresource."""
        root = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        parts = [root, *(["namespaces", namespace] if namespace else []), self.plural]
        parts += [name] if name else []
        parts += [sub] if sub else []
        return "/".join(parts)


PIPELINE = Kind(f"{GROUP}/{VERSION}", "ClimaPipeline", PLURAL)
DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments")
STATEFULSET = Kind("apps/v1", "StatefulSet", "statefulsets")
SERVICE = Kind("v1", "Service", "services")
CONFIGMAP = Kind("v1", "ConfigMap", "configmaps")
SECRET = Kind("v1", "Secret", "secrets")
INGRESS = Kind("networking.k8s.io/v1", "Ingress", "ingresses")
NETWORK_POLICY = Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies")
AUTOSCALER = Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
JOB = Kind("batch/v1", "Job", "jobs")  # a leaving broker's drain consumer
DISRUPTION_BUDGET = Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets")
EVENT = Kind("v1", "Event", "events")
POD = Kind("v1", "Pod", "pods")  # read only: the status follows what the pods do

#: Kinds of children created by server-side apply, and pruned when no longer wanted.
APPLIED_KINDS = (
    DEPLOYMENT,
    STATEFULSET,
    SERVICE,
    CONFIGMAP,
    INGRESS,
    AUTOSCALER,
    NETWORK_POLICY,
    JOB,
    DISRUPTION_BUDGET,
)
KINDS = {kind.kind: kind for kind in (PIPELINE, SECRET, *APPLIED_KINDS)}


def kind_of(manifest: Mapping[str, Any]) -> Kind:
    """The Kind of a manifest; only kinds the operator knows are accepted."""
    return KINDS[manifest["kind"]]


def _error(status: int, payload: bytes) -> ClusterError:
    try:
        message = str(json.loads(payload).get("message", ""))
    except ValueError:
        message = payload.decode(errors="replace")[:500]
    if status == 404:
        return NotFoundError(status, message)
    if status == 409:
        return ConflictError(status, message)
    if status in (400, 422):
        return RejectedError(status, message)
    return ClusterError(status, message)


def load_configuration() -> None:
    """Use the in-cluster service account when there is one, the kubeconfig otherwise."""
    config: Any = kubernetes.config  # the loaders carry no type annotations
    try:
        config.load_incluster_config()
        logger.info("Using the in-cluster service account")
    except config.ConfigException:
        config.load_kube_config()
        logger.info("Using the kubeconfig")


class KubeClient:
    """Blocking calls to the API server; every failure becomes a :class:`ClusterError`."""

    def __init__(self, api: kubernetes.client.ApiClient, timeout: float = 30.0) -> None:
        self._api = api
        self._timeout = timeout

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        request = self._api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response: Any = self._api.call_api(*request, _request_timeout=self._timeout)
            payload: bytes = response.read()
        except (urllib3.exceptions.HTTPError, OSError, kubernetes.client.ApiException) as exc:
            raise ClusterError(0, f"{method} {path}: {exc}") from exc
        if response.status >= 300:
            raise _error(response.status, payload)
        return json.loads(payload) if payload else None

    def get(self, kind: Kind, namespace: str, name: str) -> Manifest | None:
        """One object, or None when it does not exist."""
        try:
            found: Manifest = self._call("GET", kind.path(namespace, name))
        except NotFoundError:
            return None
        return found

    def list(self, kind: Kind, namespace: str | None, selector: str = "") -> list[Manifest]:
        """Objects of a kind matching a label selector, with apiVersion and kind filled in."""
        query = [("labelSelector", selector)] if selector else []
        found = self._call("GET", kind.path(namespace), query=query)
        items: list[Manifest] = found.get("items") or []
        return [{"apiVersion": kind.api_version, "kind": kind.kind, **item} for item in items]

    def apply(self, manifest: Manifest, sub: str | None = None) -> Manifest:
        """Server-side apply as ``clima-operator``, taking over conflicting fields."""
        meta = manifest["metadata"]
        path = kind_of(manifest).path(meta["namespace"], meta["name"], sub)
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        applied: Manifest = self._call(
            "PATCH", path, manifest, query, "application/apply-patch+yaml"
        )
        return applied

    def create(self, manifest: Manifest) -> Manifest:
        """Create an object; raises :class:`ConflictError` when it exists already."""
        path = kind_of(manifest).path(manifest["metadata"]["namespace"])
        created: Manifest = self._call("POST", path, manifest, [("fieldManager", FIELD_MANAGER)])
        return created

    def merge_patch(self, kind: Kind, namespace: str, name: str, patch: Manifest) -> Manifest:
        """A JSON merge patch of one object."""
        query = [("fieldManager", FIELD_MANAGER)]
        path = kind.path(namespace, name)
        patched: Manifest = self._call("PATCH", path, patch, query, "application/merge-patch+json")
        return patched

    def delete(self, kind: Kind, namespace: str, name: str, uid: str) -> None:
        """Delete one object if it is still the one seen (same uid); gone already is fine."""
        body = {"preconditions": {"uid": uid}, "propagationPolicy": "Background"}
        try:
            self._call("DELETE", kind.path(namespace, name), body)
        except (NotFoundError, ConflictError):
            context = {"namespace": namespace, "object": f"{kind.kind}/{name}"}
            logger.debug("Already gone or replaced", extra=context)

    def post_event(self, body: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        """Record a core/v1 Event about an object (shown by ``kubectl describe``)."""
        meta = body["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": body["apiVersion"],
                "kind": body["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "type": kind,
            "reason": reason,
            "message": message[:1024],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "reportingInstance": socket.gethostname(),
        }
        self._call("POST", EVENT.path(meta["namespace"]), event)
