"""An upgraded operator re-renders pipelines one at a time, each Ready before the next.

A new operator version may render a pipeline's pods differently (a new default, a new
probe) although nobody changed the pipeline. Applied everywhere at once, that would roll
every pipeline it serves together. Each Deployment and StatefulSet therefore carries a
digest of the pod template it was rendered with (``clima.io/template-digest``); a pass that
would change one while the pipeline's own spec is unchanged (``status.observedGeneration``
is the generation) is a re-render, and only one pipeline at a time may take one: the
others wait, untouched, until it is Ready again (or ``HOLD_S`` has passed, so that a
pipeline that cannot become Ready does not hold the rest forever). Changes to a spec are
never held back, and a pipeline's first pass never waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clima_operator.children import Manifest
from clima_operator.children._meta import TEMPLATE_ANNOTATION
from clima_operator.children._pods import checksum

HOLD_S = 900.0
_WORKLOADS = ("Deployment", "StatefulSet")  # a drain Job is created once, never re-rendered

#: (namespace, name) of a pipeline
PipelineKey = tuple[str, str]


def template_digest(manifest: Manifest) -> str:
    """A digest of the pod template as the operator rendered it."""
    return checksum(manifest["spec"]["template"])[:32]


def stamp(manifests: list[Manifest]) -> None:
    """Writes each workload's template digest into its own (not its pods') annotations."""
    for manifest in manifests:
        if manifest["kind"] in _WORKLOADS:
            annotations = manifest["metadata"].setdefault("annotations", {})
            annotations[TEMPLATE_ANNOTATION] = template_digest(manifest)


def rerendered(manifests: list[Manifest], live: Mapping[tuple[str, str], Manifest]) -> list[str]:
    """The existing workloads whose pod template this pass would change."""
    changed = []
    for manifest in manifests:
        if manifest["kind"] not in _WORKLOADS:
            continue
        found = live.get((manifest["kind"], manifest["metadata"]["name"]))
        if found is None:
            continue
        was = (found["metadata"].get("annotations") or {}).get(TEMPLATE_ANNOTATION)
        if was != manifest["metadata"]["annotations"][TEMPLATE_ANNOTATION]:
            changed.append(f"{manifest['kind']} {manifest['metadata']['name']}")
    return changed


@dataclass
class Rollout:
    """Which pipeline may take a re-render now (one operator process serves them all)."""

    hold_s: float = HOLD_S
    clock: Callable[[], float] = time.monotonic
    _holder: PipelineKey | None = None
    _since: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, key: PipelineKey, rerender: bool, ready: bool) -> PipelineKey | None:
        """None when `key` may go on; else the pipeline it waits for. `rerender`: this pass
        would re-render a workload; `ready`: the pipeline's Ready condition is True."""
        with self._lock:
            now = self.clock()
            if self._holder == key:
                if not rerender and ready:
                    self._holder = None
                return None
            if not rerender:
                return None
            if self._holder is None or now - self._since > self.hold_s:
                self._holder, self._since = key, now
                return None
            return self._holder

    def forget(self, key: PipelineKey) -> None:
        """The pipeline is gone: it holds nothing any more."""
        with self._lock:
            if self._holder == key:
                self._holder = None

    @property
    def holder(self) -> PipelineKey | None:
        """The pipeline re-rendering now, if any."""
        return self._holder


def waiting_message(holder: PipelineKey, changed: list[str]) -> str:
    """What a held-back pipeline's Event says."""
    shown = ", ".join(changed[:3]) + (" …" if len(changed) > 3 else "")
    return (
        f"The operator renders {shown} differently since its upgrade; this pipeline rolls "
        f"after {holder[0]}/{holder[1]} is Ready again (one pipeline at a time)"
    )


def is_ready(body: Mapping[str, Any]) -> bool:
    """Whether the pipeline's last status says Ready=True."""
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
