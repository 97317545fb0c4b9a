"""A container's environment as the kubelet hands it over, for tests that start a Clima
process's settings from what the operator rendered."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def resolve(env: Sequence[Mapping[str, Any]], secret: Callable[[str, str], str]) -> dict[str, str]:
    """A container's `env` as the kubelet hands it over: `secretKeyRef`s read through
    `secret(name, key)`, `$(VAR)` replaced when VAR is defined earlier in the list (and left
    as it is otherwise, as Kubernetes does)."""
    values: dict[str, str] = {}
    for item in env:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            values[item["name"]] = secret(ref["name"], ref["key"])
        else:
            values[item["name"]] = REFERENCE.sub(
                lambda found: values.get(found.group(1), found.group(0)), item["value"]
            )
    return values
