"""The Deployment shape shared by every process of the Clima image (``clima <subcommand>``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import (
    CLIMA_UID,
    TMP_MOUNT,
    container_security,
    deployment,
    pod_template,
    resources,
)
from clima_operator.spec import ComponentSpec


@dataclass(frozen=True)
class Process:
    """One Clima process: what it runs, its inputs and how Kubernetes checks it."""

    component: str
    settings: ComponentSpec
    args: list[str]
    env: list[dict[str, Any]]
    ports: list[dict[str, Any]]
    liveness: dict[str, Any]
    readiness: dict[str, Any]
    replicas: int | None = None
    extra_inputs: dict[str, Any] = field(default_factory=dict)
    #: (volume, mount) pairs beyond /tmp: the CA bundles of external stores' TLS
    volumes: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    @property
    def inputs(self) -> dict[str, Any]:
        """What the pod-template checksum digests: arguments, environment, extra config."""
        return {"args": self.args, "env": self.env, **self.extra_inputs}


def container(ctx: Context, process: Process) -> dict[str, Any]:
    """The single container of a Clima process."""
    return {
        "name": process.component,
        "image": process.settings.image or ctx.spec.image,
        "imagePullPolicy": ctx.spec.image_pull_policy,
        "command": ["clima"],
        "args": process.args,
        "env": process.env,
        "ports": process.ports,
        "livenessProbe": process.liveness,
        "readinessProbe": process.readiness,
        "resources": resources(process.settings.resources),
        "securityContext": container_security(),
        "volumeMounts": [TMP_MOUNT, *(mount for _, mount in process.volumes)],
    }


def clima_deployment(ctx: Context, process: Process) -> Manifest:
    """The Deployment ``<pipeline>-<component>`` running one Clima process."""
    template = pod_template(
        ctx.owner,
        process.component,
        [container(ctx, process)],
        inputs=process.inputs,
        uid=CLIMA_UID,
        volumes=[volume for volume, _ in process.volumes],
    )
    return deployment(
        ctx.owner,
        process.component,
        ctx.owner.child(process.component),
        process.replicas,
        template,
    )
