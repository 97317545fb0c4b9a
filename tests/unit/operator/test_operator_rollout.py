"""An upgraded operator re-renders pipelines one at a time, each Ready before the next."""

from __future__ import annotations

from typing import Any

import pytest

from clima_operator.children import placement
from clima_operator.reconciler import Outcome, Reconciler
from clima_operator.rollout import Rollout

IMAGE = "r.example/clima/clima:0.1.0"


def _operator(cluster: Any, events: Any, upgrades: Rollout | None = None) -> Reconciler:
    return Reconciler(cluster, events, default_image=IMAGE, now=lambda: "2025-01-01T00:00:00Z",
                      upgrades=upgrades or Rollout())  # fmt: skip


def _generations(cluster: Any, pipeline: str) -> dict[str, int]:
    return {
        name: obj["metadata"]["generation"]
        for (kind, _, name), obj in cluster.objects.items()
        if kind in ("Deployment", "StatefulSet") and name.startswith(f"{pipeline}-")
    }


def _ready(cluster: Any, reconciler: Reconciler, *names: str) -> None:
    """The controllers report every pod ready, and each pipeline's status says so."""
    cluster.mark_ready()
    for name in names:
        reconciler.reconcile("ns", name)
        status = cluster.child("ClimaPipeline", name)["status"]
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", ready


def _new_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    """A later operator version whose pods differ (here: one more spread constraint)."""
    original = placement.spread

    def spread(labels: dict[str, str]) -> list[dict[str, Any]]:
        extra = {
            "maxSkew": 2,
            "topologyKey": "example.com/rack",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": labels},
        }
        return [*original(labels), extra]  # fmt: skip

    monkeypatch.setattr(placement, "spread", spread)


def _upgraded(cluster: Any, events: Any, monkeypatch: pytest.MonkeyPatch) -> Reconciler:
    """Pipelines one and two, Ready under today's operator; then an operator that renders
    their pods differently."""
    for name in ("one", "two"):
        cluster.add_pipeline(name)
    before = _operator(cluster, events)
    for name in ("one", "two"):
        before.reconcile("ns", name)
    _ready(cluster, before, "one", "two")
    _new_rendering(monkeypatch)
    return _operator(cluster, events)


def test_pipelines_take_a_new_rendering_one_at_a_time(
    cluster: Any, events: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an upgrade, the first pipeline rolls; the second waits, untouched and told why,
    until the first is Ready again; then it rolls too."""
    after = _upgraded(cluster, events, monkeypatch)
    one, two = _generations(cluster, "one"), _generations(cluster, "two")
    assert after.reconcile("ns", "one") is Outcome.RECONCILED
    assert _generations(cluster, "one") != one, "the first pipeline did not roll"
    assert after.reconcile("ns", "two") is Outcome.RECONCILED
    assert _generations(cluster, "two") == two, "the second rolled while the first rolls"
    queued = [m for _, reason, m in events.posted if reason == "UpgradeQueued"]
    assert queued, events.posted
    assert "ns/one" in queued[-1]
    after.reconcile("ns", "two")
    assert len([r for r in events.reasons() if r == "UpgradeQueued"]) == 1, (
        "one Event, not one per pass"
    )

    _ready(cluster, after, "one")  # the first is Ready on its new pods: it lets go
    after.reconcile("ns", "one")
    assert after.upgrades.holder is None
    after.reconcile("ns", "two")
    assert _generations(cluster, "two") != two


def test_a_spec_change_is_never_held_back(
    cluster: Any, events: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pipeline whose spec changed applies at once, even while another one rolls."""
    after = _upgraded(cluster, events, monkeypatch)
    after.reconcile("ns", "one")
    cluster.set_spec("two", {"proxy": {"replicas": 3}})
    after.reconcile("ns", "two")
    assert cluster.child("Deployment", "two-proxy")["spec"]["replicas"] == 3


def test_a_holder_that_never_gets_ready_lets_go_after_the_hold() -> None:
    """A pipeline that cannot become Ready holds the others for HOLD_S at most; one that is
    deleted lets go at once."""
    now = [0.0]
    upgrades = Rollout(hold_s=100, clock=lambda: now[0])
    assert upgrades.admit(("ns", "a"), rerender=True, ready=False) is None
    assert upgrades.admit(("ns", "b"), rerender=True, ready=True) == ("ns", "a")
    assert upgrades.admit(("ns", "c"), rerender=False, ready=True) is None  # nothing to roll
    now[0] = 101
    assert upgrades.admit(("ns", "b"), rerender=True, ready=True) is None
    upgrades.forget(("ns", "b"))
    assert upgrades.admit(("ns", "a"), rerender=True, ready=False) is None
