"""Building blocks of pods and their controllers: security, probes, env, checksums.

Every pod the operator creates meets the "restricted" Pod Security Standard.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from clima_operator.children._meta import (
    CHECKSUM_ANNOTATION,
    Manifest,
    Owner,
    labels,
    metadata,
    selector_labels,
)
from clima_operator.spec import Resources, Storage

CLIMA_UID = 10001
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}  # noqa: S108 - an emptyDir, private to the pod


def checksum(inputs: Any) -> str:
    """A stable digest of a component's inputs; it changes exactly when an input changes."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def pod_security(uid: int) -> dict[str, Any]:
    """Pod-level security context: non-root, fixed ids, RuntimeDefault seccomp."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        # Give a volume to the group once, when its root is not yet the pod's: re-applying
        # it at every start makes RabbitMQ's .erlang.cookie group-readable, which Erlang
        # refuses (a real RabbitMQ pod crash-looped on it), and walks every Kafka segment.
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security(read_only_root: bool = True) -> dict[str, Any]:
    """Container-level security context: no escalation, no capabilities."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
    }


def resources(spec: Resources) -> dict[str, Any]:
    """A container's resources from the spec, leaving out what is unset."""
    out: dict[str, Any] = {}
    for part in ("requests", "limits"):
        values = getattr(spec, part)
        if values is not None:
            chosen = values.model_dump(exclude_none=True)
            if chosen:
                out[part] = chosen
    return out


def env(name: str, value: str) -> dict[str, Any]:
    """A literal environment variable."""
    return {"name": name, "value": value}


def field_env(name: str, path: str) -> dict[str, Any]:
    """An environment variable read from the pod's own fields (the downward API)."""
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def env_from_secret(name: str, secret: str, key: str) -> dict[str, Any]:
    """An environment variable read from a Secret key."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def http_probe(path: str, port: str, period: int = 10, delay: int = 0) -> dict[str, Any]:
    """An HTTP GET probe against a named port."""
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "initialDelaySeconds": delay,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }


def grpc_probe(port: int, period: int = 10) -> dict[str, Any]:
    """A probe calling the standard grpc.health.v1 service."""
    return {"grpc": {"port": port}, "periodSeconds": period, "timeoutSeconds": 3}


def tcp_probe(port: str, period: int = 10, delay: int = 0) -> dict[str, Any]:
    """A probe that only opens a TCP connection."""
    return {"tcpSocket": {"port": port}, "periodSeconds": period, "initialDelaySeconds": delay}


def exec_probe(command: list[str], period: int = 10, timeout: int = 5) -> dict[str, Any]:
    """A probe running a command inside the container."""
    return {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": timeout}


def port(name: str, number: int) -> dict[str, Any]:
    """A named TCP container port."""
    return {"name": name, "containerPort": number, "protocol": "TCP"}


def pod_template(
    owner: Owner,
    component: str,
    containers: list[dict[str, Any]],
    *,
    inputs: Any,
    uid: int,
    volumes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A pod template whose checksum annotation digests ``inputs``."""
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        # No Docker-link variables: the kubelet would give every pod CLIMA_WRITER_PORT=
        # tcp://<ip>:50051 for the Service clima-writer, which the writer reads as its
        # CLIMA_WRITER_PORT setting (and likewise for every <pipeline>-<component>).
        "enableServiceLinks": False,
        "securityContext": pod_security(uid),
        "containers": containers,
        "volumes": [{"name": "tmp", "emptyDir": {}}, *(volumes or [])],
    }
    return {
        "metadata": {
            "labels": labels(owner, component),
            "annotations": {CHECKSUM_ANNOTATION: checksum(inputs)},
        },
        "spec": spec,
    }


def deployment(
    owner: Owner, component: str, name: str, replicas: int | None, template: dict[str, Any]
) -> Manifest:
    """A Deployment; ``replicas`` None leaves the count to an autoscaler."""
    spec: dict[str, Any] = {
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": selector_labels(owner, component)},
        "template": template,
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(owner, component, name),
        "spec": spec,
    }


def statefulset(
    owner: Owner,
    component: str,
    name: str,
    template: dict[str, Any],
    storage: Storage,
    *,
    replicas: int = 1,
) -> Manifest:
    """A StatefulSet with a ``data`` claim per pod and a headless Service of its name; its
    pods start together (a replicated store needs its peers to become ready)."""
    claim: dict[str, Any] = {
        "metadata": {"name": "data", "labels": selector_labels(owner, component)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": storage.size}},
        },
    }
    if storage.storage_class_name is not None:
        claim["spec"]["storageClassName"] = storage.storage_class_name
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(owner, component, name),
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector_labels(owner, component)},
            "template": template,
            "volumeClaimTemplates": [claim],
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain" if storage.retain_on_delete else "Delete",
                "whenScaled": "Retain",
            },
        },
    }


def service(
    owner: Owner,
    component: str,
    name: str,
    ports: list[dict[str, Any]],
    *,
    headless: bool = False,
    peers: bool = False,
) -> Manifest:
    """A Service selecting one component's pods; ``peers`` (headless only) publishes every
    pod's DNS name before it is ready, so the members of a replicated store find each other
    while they start."""
    spec: dict[str, Any] = {
        "selector": selector_labels(owner, component),
        "ports": [{"protocol": "TCP", **item} for item in ports],
    }
    if headless:
        spec["clusterIP"] = "None"
        if peers:
            spec["publishNotReadyAddresses"] = True
    else:
        spec["type"] = "ClusterIP"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(owner, component, name),
        "spec": spec,
    }
