"""Where a password rotation of a managed store stands: the step its live config Secret was
rendered at, whether the workloads that use it have rolled onto that step, and so the step
to render now (see ``children.valkey_rotation`` and ``children.kafka_auth``)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Protocol

from clima_operator import kube
from clima_operator.children import (
    Context,
    KafkaUsers,
    Manifest,
    Owner,
    Passwords,
    consumers,
    credentials,
    kafka,
    kafka_auth,
    valkey,
    valkey_rotation,
    writer,
)
from clima_operator.status.readiness import deployment_settled, statefulset_settled

ChildKey = tuple[str, str]


class Reader(Protocol):
    """The one API call this needs."""

    def get(self, kind: kube.Kind, namespace: str, name: str) -> Manifest | None: ...


def valkey_step(
    cluster: Reader, ctx: Context, live: Mapping[ChildKey, Manifest]
) -> tuple[Passwords | None, str | None]:
    """The managed Valkey's step (None: not managed, or no password yet), and the Event
    message when it advances: it does once the StatefulSet runs the step before."""
    desired = ctx.credentials.get(credentials.VALKEY_PASSWORD)
    if ctx.spec.valkey.type != "managed" or desired is None:
        return None, None
    files = _config_files(cluster, ctx.owner, valkey.COMPONENT)
    previous = None if files is None else valkey_rotation.recorded_passwords(files)
    rolled = _settled(live, ctx.owner, ((kube.STATEFULSET, valkey.COMPONENT),))
    replicas = ctx.spec.valkey.managed.replicas
    step = valkey_rotation.next_passwords(desired, previous, replicas, rolled)
    advanced = previous is not None and step != previous
    return step, valkey_rotation.step_message(step) if advanced else None


def kafka_step(
    cluster: Reader, ctx: Context, live: Mapping[ChildKey, Manifest]
) -> tuple[KafkaUsers | None, str | None]:
    """The managed Kafka's users, and the Event message when they advance: they do once
    Kafka and the clients that give its user (the writer, the Kafka consumer) run the step
    before."""
    desired = ctx.credentials.get(credentials.KAFKA_PASSWORD)
    if ctx.spec.kafka.type != "managed" or desired is None:
        return None, None
    files = _config_files(cluster, ctx.owner, kafka.COMPONENT)
    previous = None if files is None else kafka_auth.recorded_users(files)
    users = ((kube.STATEFULSET, kafka.COMPONENT), (kube.DEPLOYMENT, writer.COMPONENT),
             (kube.DEPLOYMENT, consumers.KAFKA_COMPONENT))  # fmt: skip
    rolled = _settled(live, ctx.owner, users)
    step = kafka_auth.next_users(desired, previous, ctx.spec.kafka.managed.replicas, rolled)
    advanced = previous is not None and step != previous
    return step, kafka_auth.step_message(step) if advanced else None


def _config_files(cluster: Reader, owner: Owner, component: str) -> dict[str, str] | None:
    """The decoded files of a store's live config Secret, when the pipeline owns it."""
    config = cluster.get(kube.SECRET, owner.namespace, owner.child(f"{component}-config"))
    refs = (config or {}).get("metadata", {}).get("ownerReferences") or []
    if config is None or not any(r.get("uid") == owner.uid and r.get("controller") for r in refs):
        return None
    return _decoded(config)


def _settled(
    live: Mapping[ChildKey, Manifest], owner: Owner, workloads: tuple[tuple[kube.Kind, str], ...]
) -> bool:
    """Whether each of the pipeline's `workloads` that exists runs its latest change on every
    pod, ready."""
    for kind, component in workloads:
        obj = live.get((kind.kind, owner.child(component)))
        if obj is None:
            continue
        settled = statefulset_settled if kind is kube.STATEFULSET else deployment_settled
        if not settled(obj):
            return False
    return True


def _decoded(secret: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's values, decoded (those that are text)."""
    values: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(value).decode()
        except (ValueError, UnicodeDecodeError):
            continue
    return values
