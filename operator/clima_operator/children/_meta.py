"""Names, labels and owner references shared by every child of a ClimaPipeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clima_operator.crd import GROUP, KIND, VERSION
from clima_operator.spec import PipelineSpec

Manifest = dict[str, Any]

MANAGED_BY = "clima-operator"
PIPELINE_LABEL = f"{GROUP}/pipeline"
COMPONENT_LABEL = "app.kubernetes.io/component"
CHECKSUM_ANNOTATION = f"{GROUP}/config-checksum"
#: On a pipeline: the Clima image it runs while its spec.image is empty (see the reconciler).
IMAGE_ANNOTATION = f"{GROUP}/image"
#: On a Deployment or StatefulSet: the digest of the pod template it was rendered with.
TEMPLATE_ANNOTATION = f"{GROUP}/template-digest"
#: The kinds of children that carry a pod template.
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


@dataclass(frozen=True)
class Owner:
    """The ClimaPipeline the children belong to."""

    name: str
    namespace: str
    uid: str

    def child(self, suffix: str) -> str:
        """The deterministic name of a child: ``<pipeline>-<suffix>``."""
        return f"{self.name}-{suffix}"

    def reference(self) -> dict[str, Any]:
        """An owner reference making the pipeline the controller of a child (for GC)."""
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


@dataclass(frozen=True)
class Passwords:
    """The passwords a replicated store's members accept, and the one they give one another
    (a replica to its primary, a Sentinel to the nodes and to its peers), at one step of a
    password rotation: both the old and the new are accepted while the members roll from one
    to the other, so a member that restarted early still replicates from one that did not."""

    accepted: tuple[str, ...]
    outgoing: str

    @classmethod
    def single(cls, password: str) -> Passwords:
        """No rotation under way: one password, accepted and given."""
        return cls((password,), password)


@dataclass(frozen=True)
class KafkaUsers:
    """The SASL users every managed Kafka broker accepts, oldest first (name, password), and
    the one brokers and clients give, at one step of a password rotation (see
    ``kafka_auth``)."""

    users: tuple[tuple[str, str], ...]
    outgoing: str

    @property
    def password(self) -> str:
        """The outgoing user's password."""
        return dict(self.users)[self.outgoing]

    def passwords(self) -> Passwords:
        """The step as passwords alone."""
        return Passwords(tuple(password for _, password in self.users), self.password)


@dataclass(frozen=True)
class Context:
    """Everything a builder needs: who owns the children, the validated spec, shipped files
    and the pipeline's generated passwords (by key of the credentials Secret, decoded; empty
    when the builders render without a cluster, and then no store configuration is made)."""

    owner: Owner
    spec: PipelineSpec
    dashboards: Mapping[str, str] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: The managed Valkey's step of a password rotation (see ``valkey_rotation.next_passwords``);
    #: None renders the credentials Secret's password alone.
    valkey_passwords: Passwords | None = field(default=None, repr=False)
    #: The managed Kafka's step of a password rotation (see ``kafka_auth.next_users``);
    #: None renders the credentials Secret's password alone.
    kafka_users: KafkaUsers | None = field(default=None, repr=False)
    #: The namespace the operator runs in, when it runs in the cluster: Valkey admits it
    #: (the operator samples Valkey's memory and applied rate for ``DedupeWindowFits``).
    operator_namespace: str | None = None


def selector_labels(owner: Owner, component: str) -> dict[str, str]:
    """Labels that select one component's pods; never changes for the life of a child."""
    return {
        "app.kubernetes.io/name": "clima",
        "app.kubernetes.io/instance": owner.name,
        COMPONENT_LABEL: component,
    }


def labels(owner: Owner, component: str) -> dict[str, str]:
    """All labels of a child and of its pods."""
    return {
        **selector_labels(owner, component),
        "app.kubernetes.io/part-of": "clima",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        PIPELINE_LABEL: owner.name,
    }


def metadata(
    owner: Owner, component: str, name: str, annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Metadata of a child: name, namespace, labels and the controller owner reference."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels(owner, component),
        "ownerReferences": [owner.reference()],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta
