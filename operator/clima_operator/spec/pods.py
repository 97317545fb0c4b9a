"""Where and how a component's pods are scheduled, and what metadata they carry.

``spec.pod`` applies to every pod of the pipeline; ``spec.<component>.pod`` (and
``spec.<store>.managed.pod``) to one component's, merged over it key by key: maps are
merged, ``tolerations`` and ``affinity`` given on the component replace the pipeline's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, WithJsonSchema, field_validator

from clima_operator.spec._base import DnsName, SpecModel

# a Kubernetes label key (optional DNS prefix, then a name) and value
LabelKey = Annotated[
    str,
    StringConstraints(
        max_length=317,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
    ),
]
LabelValue = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
]
# what Clima itself sets on every pod, and selects them by: never taken from the spec
RESERVED_PREFIXES = ("app.kubernetes.io/", "clima.io/")
# core/v1 Affinity, passed through as Kubernetes validates it
Affinity = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "description": "core/v1 Affinity (nodeAffinity, podAffinity, podAntiAffinity).",
            "x-kubernetes-preserve-unknown-fields": True,
        }
    ),
]


class Toleration(SpecModel):
    """A core/v1 Toleration."""

    key: LabelKey | None = Field(None, description="Taint key; empty with Exists: every taint.")
    operator: Literal["Exists", "Equal"] = Field("Equal", description="Exists or Equal.")
    value: LabelValue | None = Field(None, description="Taint value, with Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect; empty: every effect."
    )
    toleration_seconds: int | None = Field(
        None, ge=0, description="With NoExecute: seconds the pod stays bound after the taint."
    )


def _reserved(keys: dict[str, str], field: str) -> dict[str, str]:
    for key in keys:
        if key.startswith(RESERVED_PREFIXES):
            raise ValueError(
                f"{field} key {key!r} is Clima's own (app.kubernetes.io/, clima.io/): choose "
                "another prefix"
            )
    return keys


class PodSettings(SpecModel):
    """Scheduling and metadata merged into every pod the operator builds for a component."""

    node_selector: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, description="Node labels a pod's node must have."
    )
    tolerations: list[Toleration] | None = Field(
        None, max_length=32, description="Taints the pods tolerate (e.g. a dedicated node pool)."
    )
    affinity: Affinity | None = Field(None, description="Node and pod (anti-)affinity rules.")
    priority_class_name: DnsName | None = Field(
        None, description="PriorityClass of the pods (e.g. to run before batch workloads)."
    )
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, description="Extra pod labels (app.kubernetes.io/ and clima.io/ "
        "keys are Clima's own and refused)."
    )  # fmt: skip
    annotations: dict[LabelKey, Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=dict, description="Extra pod annotations (clima.io/ keys refused)."
    )

    @field_validator("labels")
    @classmethod
    def _own_labels(cls, value: dict[str, str]) -> dict[str, str]:
        return _reserved(value, "labels")

    @field_validator("annotations")
    @classmethod
    def _own_annotations(cls, value: dict[str, str]) -> dict[str, str]:
        return _reserved(value, "annotations")

    def over(self, base: PodSettings) -> PodSettings:
        """These settings merged over ``base`` (the pipeline-wide ones)."""
        return PodSettings(
            node_selector={**base.node_selector, **self.node_selector},
            tolerations=self.tolerations if self.tolerations is not None else base.tolerations,
            affinity=self.affinity if self.affinity is not None else base.affinity,
            priority_class_name=self.priority_class_name or base.priority_class_name,
            labels={**base.labels, **self.labels},
            annotations={**base.annotations, **self.annotations},
        )


POD_HELP = (
    "Scheduling (nodeSelector, tolerations, affinity, priorityClassName) and extra labels and "
    "annotations of this component's pods, merged over spec.pod."
)
