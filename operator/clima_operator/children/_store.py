"""What the managed Kafka, RabbitMQ and Valkey share: one container with a ``data`` volume
and a read-only ``config`` volume of files the operator renders, in a StatefulSet behind a
headless Service of the same name.

The container's command is given explicitly and its configuration is the rendered file, so
the same manifest runs the upstream images (apache/kafka, rabbitmq, valkey/valkey) and
images built otherwise that only put the same programs on PATH; no image's entry point or
environment conventions are relied on.
"""

from __future__ import annotations

import base64
from typing import Any

from clima_operator.children._meta import COMPONENT_LABEL, Context, Manifest, metadata
from clima_operator.children._pods import (
    TMP_MOUNT,
    container_security,
    pod_template,
    port,
    resources,
    service,
    statefulset,
)
from clima_operator.children._quantity import quantity_bytes
from clima_operator.spec import ManagedKafka, ManagedRabbitmq, ManagedValkey

Managed = ManagedKafka | ManagedRabbitmq | ManagedValkey
NamedPorts = list[tuple[str, int]]
#: a replicated store pod's own name (the downward API), from which it derives its identity
POD_NAME_ENV = "CLIMA_POD_NAME"


def pod_dns(ctx: Context, component: str, pod: str) -> str:
    """The stable DNS name of a store's pod behind the headless Service of its name (``pod``
    may be a shell or variable expansion)."""
    return f"{pod}.{ctx.owner.child(component)}.{ctx.owner.namespace}.svc"


def store_container(
    ctx: Context,
    component: str,
    managed: Managed,
    *,
    variables: list[dict[str, Any]],
    ports: NamedPorts,
    probes: tuple[dict[str, Any], dict[str, Any]],
    data_dir: str,
    command: list[str],
    config_dir: str,
    read_only_root: bool = True,
) -> dict[str, Any]:
    """The store's container; ``probes`` is (readiness, liveness); the rendered configuration
    is mounted read-only at ``config_dir``."""
    readiness, liveness = probes
    container: dict[str, Any] = {
        "name": component,
        "image": managed.image,
        "imagePullPolicy": ctx.spec.image_pull_policy,
        "command": command,
    }
    container |= {
        "env": variables,
        "ports": [port(name, number) for name, number in ports],
        "readinessProbe": readiness,
        "livenessProbe": liveness,
        "resources": resources(managed.resources),
        "securityContext": container_security(read_only_root=read_only_root),
        "volumeMounts": [
            {"name": "data", "mountPath": data_dir},
            {"name": "config", "mountPath": config_dir, "readOnly": True},
            TMP_MOUNT,
        ],
    }
    return container


def config_volume(kind: str, name: str) -> dict[str, Any]:
    """The ``config`` volume: the ConfigMap or Secret (``kind``) of the rendered files."""
    if kind == "Secret":
        return {"name": "config", "secret": {"secretName": name}}
    return {"name": "config", "configMap": {"name": name}}


def config_object(ctx: Context, component: str, kind: str, files: dict[str, str]) -> Manifest:
    """``<pipeline>-<component>-config``: a ConfigMap, or a Secret when a file holds a
    password (its values base64-encoded in ``data``, which server-side apply compares)."""
    name = ctx.owner.child(f"{component}-config")
    meta = metadata(ctx.owner, component, name)
    if kind == "Secret":
        data = {key: base64.b64encode(text.encode()).decode() for key, text in files.items()}
        return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
                "data": data}  # fmt: skip
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": files}


def store_objects(
    ctx: Context,
    component: str,
    managed: Managed,
    main: dict[str, Any],
    *,
    inputs: Any,
    uid: int,
    ports: NamedPorts,
    config: Manifest | None,
    config_kind: str = "ConfigMap",
    replicas: int = 1,
    sidecars: list[dict[str, Any]] | None = None,
) -> list[Manifest]:
    """The configuration object (when it could be rendered), the StatefulSet of ``main``
    with ``replicas`` pods (its pod template digests ``inputs``, which include the rendered
    files) and its headless Service."""
    name = ctx.owner.child(component)
    volume = config_volume(config_kind, ctx.owner.child(f"{component}-config"))
    containers = [main, *(sidecars or [])]
    template = pod_template(ctx.owner, component, containers, inputs=inputs, uid=uid,
                            volumes=[volume])  # fmt: skip
    service_ports = [{"name": n, "port": number, "targetPort": n} for n, number in ports]
    return [
        *([config] if config is not None else []),
        statefulset(ctx.owner, component, name, template, managed.storage, replicas=replicas),
        service(ctx.owner, component, name, service_ports, headless=True, peers=replicas > 1),
    ]


#: Stores whose member count cannot change in place, and why.
#: each store's title and spec field, by component
STORE_FIELDS = {"kafka": ("Kafka", "spec.kafka"), "rabbitmq": ("RabbitMQ", "spec.rabbitmq"),
                "valkey": ("Valkey", "spec.valkey")}  # fmt: skip
#: the stores whose member count cannot change in place, and why
FIXED_MEMBERS = {
    "kafka": "its KRaft controller quorum is static",
    "rabbitmq": "its queues' type is chosen when they are created",
}


def refused_change(manifest: Manifest, before: Manifest | None) -> str | None:
    """Why ``manifest`` must not replace ``before`` (None when it may): a store whose member
    count is fixed keeps the count it runs, with the way to another one."""
    if before is None or manifest.get("kind") != "StatefulSet":
        return None
    component = manifest["metadata"].get("labels", {}).get(COMPONENT_LABEL, "")
    reason = FIXED_MEMBERS.get(component)
    have = (before.get("spec") or {}).get("replicas")
    want = manifest["spec"].get("replicas")
    if reason is None or have is None or have == want:
        return None
    title, field = STORE_FIELDS[component]
    name = manifest["metadata"]["name"]
    return (
        f"{field}.managed.replicas is {want}, but {title} runs {have} nodes and the count "
        f"cannot change in place ({reason}). Set it back to {have}; or move to a new {title}: "
        f"change spec.mode so that it leaves {title} (the operator drains it and removes it), "
        f"delete the claims data-{name}-*, then set the replicas and the mode back"
    )


def _claims(statefulset: Manifest) -> dict[str, dict[str, Any]]:
    templates = (statefulset.get("spec") or {}).get("volumeClaimTemplates") or []
    return {t["metadata"]["name"]: t.get("spec") or {} for t in templates}


def _size(claim: dict[str, Any]) -> str:
    return str(((claim.get("resources") or {}).get("requests") or {}).get("storage", ""))


def kept_volumes(manifest: Manifest, before: Manifest | None) -> str | None:
    """A StatefulSet cannot change its claim templates in place (the API server refuses the
    whole update): ``manifest`` keeps the size and class of the volumes ``before`` was made
    with, in place, so every other change still applies. Returns what was kept and the way
    to grow the volumes by hand; None when nothing had to be kept."""
    if before is None or manifest.get("kind") != "StatefulSet":
        return None
    live = _claims(before)
    wanted: list[str] = []
    for name, claim in _claims(manifest).items():
        had = live.get(name)
        if had is None:
            continue
        size, was = _size(claim), _size(had)
        same = size == was or (
            quantity_bytes(size) is not None and quantity_bytes(size) == quantity_bytes(was)
        )
        if not same:
            claim["resources"]["requests"]["storage"] = was
            wanted.append(f"size {size} (the volumes have {was})")
        asked, made = claim.get("storageClassName"), had.get("storageClassName")
        if asked != made:
            wanted.append(
                f"storage class {asked or 'default'} (the volumes have {made or 'the default'})"
            )
            if made is None:
                claim.pop("storageClassName", None)
            else:
                claim["storageClassName"] = made
    if not wanted:
        return None
    component = manifest["metadata"].get("labels", {}).get(COMPONENT_LABEL, "")
    title, field = STORE_FIELDS.get(component, (component, f"spec.{component}"))
    name, namespace = manifest["metadata"]["name"], manifest["metadata"].get("namespace", "")
    return (
        f"{field}.managed.storage asks for {' and '.join(wanted)}: a StatefulSet cannot change "
        f"its volumes in place, so {title} keeps them as they are. To grow them, where the "
        f"StorageClass allows volume expansion: kubectl -n {namespace} patch pvc "
        f'data-{name}-<ordinal> -p \'{{"spec":{{"resources":{{"requests":'
        f'{{"storage":"<size>"}}}}}}}}\' for every pod, then kubectl -n {namespace} delete '
        f"statefulset {name} --cascade=orphan (the pods keep running; the operator makes the "
        f"StatefulSet again with the new size). A new class needs a new {title}: leave it by a "
        f"mode change (it drains), delete the claims data-{name}-*, and come back"
    )
