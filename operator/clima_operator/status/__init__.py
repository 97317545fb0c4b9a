"""The status of a ClimaPipeline, derived from its live children on every reconcile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clima import wiring
from clima_operator.children import ComponentRef, Context, Manifest, components
from clima_operator.dedupe_fit import CONDITION as DEDUPE_CONDITION
from clima_operator.dedupe_fit import Verdict
from clima_operator.drain import Drain
from clima_operator.status.conditions import Condition, invalid, phase, stamp, summarize
from clima_operator.status.pods import selected
from clima_operator.status.readiness import ComponentState, assess, pods_state

__all__ = ["ComponentState", "Observation", "endpoints", "invalid_status", "pipeline_status"]

ChildKey = tuple[str, str]  # (kind, name)


def endpoints(ctx: Context) -> dict[str, str]:
    """Where the pipeline answers, inside the cluster and through the Ingress."""
    base = f"{ctx.owner.namespace}.svc"
    found = {
        "api": f"http://{ctx.owner.child('api')}.{base}:80",
        "proxy": f"http://{ctx.owner.child('proxy')}.{base}:{wiring.PROXY_HTTP_PORT}",
    }
    if ctx.spec.grafana.enabled:
        found["grafana"] = f"http://{ctx.owner.child('grafana')}.{base}:80"
    ingress = ctx.spec.ingress
    if ingress.enabled and ingress.host is not None:
        scheme = "https" if ingress.tls_secret_name else "http"
        found["ingress"] = f"{scheme}://{ingress.host}{ingress.path}"
    return found


@dataclass(frozen=True)
class Observation:
    """What one reconcile saw: the live children, their pods and what went wrong, if anything."""

    ctx: Context
    generation: int
    live: Mapping[ChildKey, Manifest]
    suspended: bool
    failure: str | None = None
    rejected: Mapping[ChildKey, str] = field(default_factory=dict)
    pods: Sequence[Manifest] = ()
    drains: Sequence[Drain] = ()  # brokers the mode left that are still being drained
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # judges pods' timestamps
    dedupe: Verdict | None = None  # whether Valkey holds the dedupe window (None: not watched)


def _selector(obj: Manifest | None) -> dict[str, str]:
    return dict(((obj or {}).get("spec") or {}).get("selector", {}).get("matchLabels") or {})


def component_states(observation: Observation) -> list[ComponentState]:
    """One state per component the spec asks for."""
    states = []
    for ref in components(observation.ctx):
        key = (ref.kind, ref.name)
        obj = observation.live.get(key)
        states.append(
            assess(
                ref,
                obj,
                observation.suspended,
                observation.rejected.get(key),
                pods=selected(observation.pods, _selector(obj)),
                now=observation.at,
            )
        )
    states.extend(drain_state(item, observation) for item in observation.drains)
    return states


def drain_state(item: Drain, observation: Observation) -> ComponentState:
    """``<Broker>Draining``: the stage of a leaving broker's drain, or its Job's failing pod."""
    pods = selected(observation.pods, _selector(item.job)) if item.job is not None else []
    broker = item.broker
    failing = pods_state(
        ComponentRef(broker.condition, broker.title, "Job", ""), pods, observation.at
    )
    if failing is not None:
        return failing
    return ComponentState(
        broker.condition, False, item.stage.value, item.message, progressing=True, draining=True
    )


def pipeline_status(
    observation: Observation, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """The full ``status`` of a pipeline whose spec is valid."""
    states = component_states(observation)
    summary = summarize(states, observation.suspended, observation.failure)
    verdict = observation.dedupe
    if verdict is not None and verdict.fits is not None:  # advice: it never changes Ready
        summary.append(Condition(DEDUPE_CONDITION, verdict.fits, verdict.reason, verdict.message))
    return {
        "observedGeneration": observation.generation,
        "phase": phase(summary),
        "conditions": stamp(summary, previous.get("conditions") or [], observation.generation, now),
        "image": observation.ctx.spec.image,
        "endpoints": endpoints(observation.ctx),
    }


def invalid_status(
    message: str, generation: int, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """The ``status`` of a pipeline whose spec cannot be reconciled (children untouched)."""
    summary = invalid(message)
    return {
        "observedGeneration": generation,
        "phase": phase(summary),
        "conditions": stamp(summary, previous.get("conditions") or [], generation, now),
        **({"image": previous["image"]} if previous.get("image") else {}),
        "endpoints": previous.get("endpoints") or {},
    }
