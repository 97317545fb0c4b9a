"""Shared pieces of the spec model: the base class, constrained types and CEL helpers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

_QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def _number_to_text(value: object) -> object:
    """Accept ``cpu: 1`` as well as ``cpu: "1"``, as Kubernetes does."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Quantity = Annotated[
    str,
    BeforeValidator(_number_to_text),
    StringConstraints(pattern=_QUANTITY, max_length=64),
    WithJsonSchema({"x-kubernetes-int-or-string": True, "pattern": _QUANTITY}),
]
Image = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^\S+$")]
DnsName = Annotated[
    str,
    StringConstraints(
        max_length=253, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ),
]
HostPort = Annotated[
    str, StringConstraints(max_length=512, pattern=r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
]
BootstrapServers = Annotated[
    str,
    StringConstraints(
        max_length=2048, pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}(,[A-Za-z0-9.-]+:[0-9]{1,5})*$"
    ),
]


def cel(rule: str, message: str, field_path: str, reason: str) -> dict[str, Any]:
    return {"rule": rule, "message": message, "fieldPath": field_path, "reason": reason}


def cel_rules(*rules: dict[str, Any]) -> dict[str, Any]:
    """The ``x-kubernetes-validations`` (CEL) of a model's schema."""
    return {"x-kubernetes-validations": list(rules)}


class SpecModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        validate_default=True,
        frozen=True,
        extra="ignore",
    )


class ResourceList(SpecModel):
    """An amount of CPU and memory."""

    cpu: Quantity | None = Field(None, description="CPU in cores or millicores, e.g. 500m.")
    memory: Quantity | None = Field(None, description="Memory in bytes with a suffix, e.g. 256Mi.")


class Resources(SpecModel):
    """Compute resources of each pod of a component, as in a container's resources."""

    requests: ResourceList | None = Field(
        None, description="What the scheduler reserves for each pod."
    )
    limits: ResourceList | None = Field(
        None, description="Upper bounds; a pod above its memory limit is killed."
    )


def default_resources(cpu: str, memory: str, memory_limit: str) -> Any:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


def given(**values: Any) -> Any:
    """A default written as the CRD shows it; pydantic validates it into the model."""
    return values


RESOURCES_HELP = "CPU and memory requests and limits of each pod."
