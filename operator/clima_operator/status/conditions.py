"""Summary conditions (Ready, Progressing, Degraded), phase and lastTransitionTime keeping."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clima_operator.status.readiness import ComponentState

READY, PROGRESSING, DEGRADED = "Ready", "Progressing", "Degraded"
#: The reason of Ready and Progressing (and the phase) when draining a broker the mode left
#: is all that is left to do.
DRAINING = "Draining"


@dataclass(frozen=True)
class Condition:
    """A condition before it gets its timestamps."""

    type: str
    status: bool
    reason: str
    message: str


def _list(states: Iterable[ComponentState], limit: int = 3) -> str:
    items = [f"{state.condition} ({state.reason}: {state.message})" for state in states]
    more = f"; and {len(items) - limit} more" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def _drains(states: Iterable[ComponentState]) -> str:
    return "; ".join(state.message for state in states)


def _ready(states: Sequence[ComponentState], suspended: bool, failure: str | None) -> Condition:
    waiting = [state for state in states if not state.ready]
    if failure is not None:
        return Condition(READY, False, "ReconcileFailed", failure)
    if suspended:
        done = len(states) - len(waiting)
        message = (
            f"Reconciliation is suspended (spec.suspend is true): children are neither updated "
            f"nor repaired; {done}/{len(states)} components ready. Set spec.suspend to false "
            "to resume."
        )
        return Condition(READY, not waiting, "Suspended", message)
    if waiting and all(state.draining for state in waiting):
        return Condition(READY, False, DRAINING, _drains(waiting))
    if waiting:
        return Condition(READY, False, "ComponentsNotReady", "Waiting for " + _list(waiting))
    return Condition(READY, True, "AllComponentsReady", f"All {len(states)} components are ready")


def _progressing(states: Sequence[ComponentState], suspended: bool) -> Condition:
    moving = [state for state in states if state.progressing]
    if suspended:
        return Condition(PROGRESSING, False, "Suspended", "Reconciliation is suspended")
    if moving and all(state.draining for state in moving):
        return Condition(PROGRESSING, True, DRAINING, _drains(moving))
    if moving:
        return Condition(PROGRESSING, True, "RollingOut", _list(moving))
    return Condition(PROGRESSING, False, "Reconciled", "Every child matches the spec")


def _degraded(states: Sequence[ComponentState], failure: str | None) -> Condition:
    broken = [state for state in states if state.failed]
    if failure is not None:
        return Condition(DEGRADED, True, "ReconcileFailed", failure)
    if broken:
        return Condition(DEGRADED, True, broken[0].reason, _list(broken))
    return Condition(DEGRADED, False, "AsExpected", "No component reports a failure")


def summarize(
    states: Sequence[ComponentState], suspended: bool, failure: str | None = None
) -> list[Condition]:
    """Ready, Progressing, Degraded, then one condition per component."""
    own = [Condition(s.condition, s.ready, s.reason, s.message) for s in states]
    return [
        _ready(states, suspended, failure),
        _progressing(states, suspended),
        _degraded(states, failure),
        *own,
    ]


def invalid(field_message: str) -> list[Condition]:
    """Conditions of a pipeline whose spec cannot be reconciled."""
    message = f"Invalid spec: {field_message}. Fix it with kubectl edit; children are unchanged."
    return [
        Condition(READY, False, "InvalidSpec", message),
        Condition(PROGRESSING, False, "InvalidSpec", message),
        Condition(DEGRADED, True, "InvalidSpec", message),
    ]


def phase(conditions: Sequence[Condition]) -> str:
    """A one-word summary: Invalid, Suspended, Degraded, Ready, Draining, Progressing or
    Pending."""
    by_type = {condition.type: condition for condition in conditions}
    ready, degraded = by_type[READY], by_type[DEGRADED]
    if ready.reason == "InvalidSpec":
        return "Invalid"
    if ready.reason == "Suspended":
        return "Suspended"
    if degraded.status:
        return "Degraded"
    if ready.status:
        return "Ready"
    if ready.reason == DRAINING:
        return DRAINING
    return "Progressing" if by_type[PROGRESSING].status else "Pending"


def stamp(
    conditions: Sequence[Condition],
    previous: Iterable[Mapping[str, Any]],
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """API conditions; lastTransitionTime moves only when a condition's status changes."""
    before = {item.get("type"): item for item in previous}
    out = []
    for condition in conditions:
        status = "True" if condition.status else "False"
        old = before.get(condition.type) or {}
        since = old.get("lastTransitionTime") if old.get("status") == status else None
        out.append(
            {
                "type": condition.type,
                "status": status,
                "reason": condition.reason,
                "message": condition.message,
                "lastTransitionTime": since or now,
                "observedGeneration": generation,
            }
        )
    return out
