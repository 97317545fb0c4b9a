"""The readiness of one component, read from its live Deployment or StatefulSet and its pods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clima_operator.children import ComponentRef
from clima_operator.status.pods import Pod, first_problem

Live = Mapping[str, Any]


@dataclass(frozen=True)
class ComponentState:
    """What the ``<Component>Ready`` condition says, plus whether it is moving or broken."""

    condition: str
    ready: bool
    reason: str
    message: str
    progressing: bool = False
    failed: bool = False
    draining: bool = False  # a broker the mode left, still being drained


def _pods_hint(obj: Live) -> str:
    selector = (obj.get("spec") or {}).get("selector", {}).get("matchLabels", {})
    labels = ",".join(f"{key}={value}" for key, value in sorted(selector.items()))
    return f"see kubectl describe pods -l {labels}"


def _conditions(obj: Live) -> dict[str, Mapping[str, Any]]:
    items = (obj.get("status") or {}).get("conditions") or []
    return {item.get("type", ""): item for item in items}


def _counts(obj: Live, *fields: str) -> list[int]:
    status = obj.get("status") or {}
    return [int(status.get(name) or 0) for name in fields]


def _stale(ref: ComponentRef, obj: Live) -> ComponentState | None:
    generation = int(obj.get("metadata", {}).get("generation") or 0)
    (observed,) = _counts(obj, "observedGeneration")
    if observed >= generation:
        return None
    message = f"{ref.kind} {ref.name}: the controller has not yet picked up the latest change"
    return ComponentState(ref.condition, False, "Updating", message, progressing=True)


def _deployment_failure(ref: ComponentRef, obj: Live) -> ComponentState | None:
    conditions = _conditions(obj)
    progress, replica = conditions.get("Progressing", {}), conditions.get("ReplicaFailure", {})
    if progress.get("reason") == "ProgressDeadlineExceeded":
        reason, detail = "ProgressDeadlineExceeded", progress.get("message", "")
    elif replica.get("status") == "True":
        reason, detail = "ReplicaFailure", replica.get("message", "")
    else:
        return None
    message = f"Deployment {ref.name} is stuck: {detail}; {_pods_hint(obj)}"
    return ComponentState(ref.condition, False, reason, message, failed=True)


def deployment_state(ref: ComponentRef, obj: Live) -> ComponentState:
    """Ready when every desired pod runs the current template and is available."""
    problem = _deployment_failure(ref, obj) or _stale(ref, obj)
    if problem is not None:
        return problem
    desired = max(int((obj.get("spec") or {}).get("replicas", 1)), ref.min_ready)
    total, updated, available = _counts(obj, "replicas", "updatedReplicas", "availableReplicas")
    if desired == 0 and total == 0:
        return ComponentState(ref.condition, True, "ScaledToZero", f"{ref.name} has 0 replicas")
    if updated < desired or total > updated or available < desired:
        message = (
            f"Deployment {ref.name}: {available}/{desired} pods available, {updated}/{desired} "
            f"on the current template; follow with kubectl rollout status deployment/{ref.name}"
        )
        return ComponentState(ref.condition, False, "RollingOut", message, progressing=True)
    message = f"Deployment {ref.name}: {available}/{desired} pods available"
    return ComponentState(ref.condition, True, "Available", message)


def deployment_settled(obj: Live) -> bool:
    """Whether every pod of a Deployment runs its latest template and is available."""
    generation = int(obj.get("metadata", {}).get("generation") or 0)
    desired = int((obj.get("spec") or {}).get("replicas", 1))
    observed, total, updated, available = _counts(
        obj, "observedGeneration", "replicas", "updatedReplicas", "availableReplicas"
    )
    return (
        observed >= generation
        and updated >= desired
        and available >= desired
        and (total <= updated)
    )


def statefulset_settled(obj: Live) -> bool:
    """Whether every pod of a StatefulSet is ready on the revision its latest change made."""
    generation = int(obj.get("metadata", {}).get("generation") or 0)
    desired = int((obj.get("spec") or {}).get("replicas", 1))
    observed, ready, updated = _counts(
        obj, "observedGeneration", "readyReplicas", "updatedReplicas"
    )
    status = obj.get("status") or {}
    return (
        observed >= generation
        and ready >= desired
        and updated >= desired
        and status.get("currentRevision") == status.get("updateRevision")
    )


def statefulset_state(ref: ComponentRef, obj: Live) -> ComponentState:
    """Ready when the pod is ready and runs the current revision."""
    problem = _stale(ref, obj)
    if problem is not None:
        return problem
    desired = int((obj.get("spec") or {}).get("replicas", 1))
    ready, updated = _counts(obj, "readyReplicas", "updatedReplicas")
    status = obj.get("status") or {}
    if ready < desired:
        message = (
            f"StatefulSet {ref.name}: {ready}/{desired} pods ready; a Pending pod may be waiting "
            f"for its PersistentVolumeClaim (kubectl get pvc), {_pods_hint(obj)}"
        )
        return ComponentState(ref.condition, False, "Starting", message, progressing=True)
    if updated < desired or status.get("currentRevision") != status.get("updateRevision"):
        message = f"StatefulSet {ref.name}: rolling out revision {status.get('updateRevision')}"
        return ComponentState(ref.condition, False, "RollingOut", message, progressing=True)
    if desired == 1:
        message = (
            f"StatefulSet {ref.name}: pod ready; it is the only replica, so one pod and one "
            "disk hold all its data (a lost disk loses it; see docs/guarantees.md)"
        )
    else:
        message = f"StatefulSet {ref.name}: {ready}/{desired} pods ready"
    return ComponentState(ref.condition, True, "Available", message)


def pods_state(ref: ComponentRef, pods: Sequence[Pod], now: datetime) -> ComponentState | None:
    """A failed state when one of the component's pods fails for a lasting reason."""
    problem = first_problem(pods, now)
    if problem is None:
        return None
    return ComponentState(ref.condition, False, problem.reason, problem.message, failed=True)


def assess(
    ref: ComponentRef,
    obj: Live | None,
    suspended: bool,
    rejection: str | None = None,
    *,
    pods: Sequence[Pod] = (),
    now: datetime | None = None,
) -> ComponentState:
    """The state of one component from its live object (None when it does not exist) and
    the pods its selector picks; a failing pod outranks what the controller reports."""
    if ref.external is not None:
        message = f"Using the external {ref.title} at {ref.external}; its health is not checked"
        return ComponentState(ref.condition, True, "External", message)
    if rejection is not None:
        message = f"{ref.kind} {ref.name} is not applied: {rejection}"
        return ComponentState(ref.condition, False, "ApplyFailed", message, failed=True)
    if obj is None:
        later = "is not recreated while spec.suspend is true" if suspended else "is being created"
        message = f"{ref.kind} {ref.name} does not exist; it {later}"
        return ComponentState(ref.condition, False, "Missing", message, progressing=not suspended)
    failing = pods_state(ref, pods, now or datetime.now(UTC))
    if failing is not None:
        return failing
    if ref.kind == "StatefulSet":
        return statefulset_state(ref, obj)
    return deployment_state(ref, obj)
