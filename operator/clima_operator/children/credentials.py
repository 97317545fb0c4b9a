"""The pipeline's generated passwords: one Secret, created once and never regenerated.

Passwords are random (``secrets.token_urlsafe``), so they are safe inside URLs. If a Secret
named ``<pipeline>-credentials`` exists already (made by the operator earlier, or by a person
who wants chosen passwords), its keys are kept and only missing keys are added.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from clima_operator.children._meta import (
    CHECKSUM_ANNOTATION,
    WORKLOAD_KINDS,
    Context,
    Manifest,
    Owner,
    metadata,
)

SUFFIX = "credentials"
# Names of keys in the Secret, not passwords.
RABBITMQ_PASSWORD = "rabbitmq-password"  # noqa: S105
VALKEY_PASSWORD = "valkey-password"  # noqa: S105
GRAFANA_ADMIN_PASSWORD = "grafana-admin-password"  # noqa: S105
KAFKA_PASSWORD = "kafka-password"  # noqa: S105
# the key of the pods' configuration checksums (see `seal`)
CHECKSUM_KEY = "checksum-key"
# what the nodes of a RabbitMQ cluster share to talk to each other
ERLANG_COOKIE = "rabbitmq-erlang-cookie"
KEYS = (
    RABBITMQ_PASSWORD,
    VALKEY_PASSWORD,
    GRAFANA_ADMIN_PASSWORD,
    CHECKSUM_KEY,
    ERLANG_COOKIE,
    KAFKA_PASSWORD,
)


def _token() -> str:
    return secrets.token_urlsafe(24)


def secret_name(owner: Owner) -> str:
    """Name of the credentials Secret."""
    return owner.child(SUFFIX)


def _encoded(keys: tuple[str, ...], token: Callable[[], str]) -> dict[str, str]:
    return {key: base64.b64encode(token().encode()).decode() for key in keys}


def new_secret(owner: Owner, token: Callable[[], str] = _token) -> Manifest:
    """A fresh credentials Secret with a new random value for every key."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(owner, SUFFIX, secret_name(owner)),
        "type": "Opaque",
        "data": _encoded(KEYS, token),
    }


def missing_keys(live: Mapping[str, Any]) -> tuple[str, ...]:
    """Keys an existing credentials Secret lacks."""
    present = live.get("data") or {}
    return tuple(key for key in KEYS if key not in present)


def decoded(live: Mapping[str, Any]) -> dict[str, str]:
    """The values of a credentials Secret as read from the API (the operator renders the
    managed RabbitMQ's and Valkey's configuration files with them)."""
    data = live.get("data") or {}
    return {key: base64.b64decode(value).decode() for key, value in data.items() if key in KEYS}


def completion_patch(missing: tuple[str, ...], token: Callable[[], str] = _token) -> Manifest:
    """A merge patch adding values for the missing keys only."""
    return {"data": _encoded(missing, token)}


def referenced(owner: Owner, pod_spec: Mapping[str, Any]) -> list[str]:
    """The keys of the credentials Secret that a pod (template) reads in its environment."""
    name = secret_name(owner)
    keys = set()
    for container in [*pod_spec.get("initContainers", []), *pod_spec.get("containers", [])]:
        for item in container.get("env") or []:
            ref = (item.get("valueFrom") or {}).get("secretKeyRef") or {}
            if ref.get("name") == name:
                keys.add(str(ref["key"]))
    return sorted(keys)


def seal(ctx: Context, manifests: list[Manifest]) -> list[Manifest]:
    """Keys every pod template's configuration checksum with the pipeline's secret
    ``checksum-key`` (HMAC-SHA256), in place, over the plain digest and the values of the
    credentials the pod reads from its environment: a password rotated in the Secret (which
    a ``secretKeyRef`` does not bring into a running container) rolls every pod that uses it.
    Published on a pod, a plain digest of rendered files that hold passwords would let anyone
    who may read pods test password guesses against it; keyed, it still changes exactly when
    the inputs change."""
    key = ctx.credentials.get(CHECKSUM_KEY) or f"pipeline:{ctx.owner.uid}"
    for manifest in manifests:
        if manifest.get("kind") not in WORKLOAD_KINDS:
            continue
        template = manifest["spec"]["template"]
        annotations = template["metadata"].get("annotations") or {}
        plain = annotations.get(CHECKSUM_ANNOTATION)
        if plain is None:
            continue
        used = referenced(ctx.owner, template.get("spec") or {})
        if used:  # a pod that reads no credential keeps its digest
            values = {name: ctx.credentials.get(name) for name in used}
            plain = f"{plain}\n{json.dumps(values, sort_keys=True)}"
        digest = hmac.new(key.encode(), plain.encode(), hashlib.sha256).hexdigest()
        annotations[CHECKSUM_ANNOTATION] = digest
    return manifests
