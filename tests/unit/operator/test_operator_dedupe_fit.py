"""DedupeWindowFits: whether the managed Valkey holds W at the applied rate, from samples of
its applied counter and maxmemory; it warns and never changes Ready."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from clima_operator import dedupe_fit
from clima_operator.children import network
from clima_operator.dedupe_fit import Sample, Target, Watch, judge
from clima_operator.reconciler import Reconciler
from clima_operator.status import Observation, pipeline_status

MIB = 2**20
TARGET = Target(("demo-valkey-0",), 6379, "pw", window_s=86400, window="24h",
                memory_limit="512Mi")  # fmt: skip


def test_a_window_that_fits_says_what_it_needs() -> None:
    samples = [Sample(0, 1000, 384 * MIB), Sample(120, 2200, 384 * MIB)]  # 10 reports/s
    verdict = judge(samples, TARGET)
    assert verdict.fits is True
    assert verdict.reason == "Fits"
    need = dedupe_fit.needed_bytes(10, 86400)
    assert need == 10 * 86400 * 140 + 16 * MIB
    assert f"{need / MIB:,.0f} MiB" in verdict.message


def test_a_window_too_large_names_both_fields_and_what_would_fit() -> None:
    samples = [Sample(0, 0, 384 * MIB), Sample(100, 100_000, 384 * MIB)]  # 1,000/s
    verdict = judge(samples, TARGET)
    assert verdict.fits is False
    assert verdict.reason == "WindowTooLarge"
    assert "spec.valkey.managed.resources.limits.memory (now 512Mi)" in verdict.message
    need = dedupe_fit.needed_bytes(1000, 86400)
    assert f"at least {need / 0.75 / MIB:,.0f} MiB" in verdict.message
    hours = (384 * MIB - 16 * MIB) / (1000 * 140) / 3600
    assert f"spec.retention.dedupeWindow to at most {hours:,.1f}h" in verdict.message


def test_no_verdict_before_a_minute_of_samples_or_any_answer() -> None:
    assert judge([], TARGET).fits is None
    assert judge([Sample(0, 0, MIB), Sample(30, 9_000_000, MIB)], TARGET).fits is None


def test_the_rate_is_the_recent_one() -> None:
    """A burst long ago does not count: the rate spans the last RATE_SPAN_S."""
    old = Sample(0, 0, 384 * MIB)
    burst_end = Sample(60, 50_000_000, 384 * MIB)
    quiet = [Sample(60 + 60 * i, 50_000_000 + i, 384 * MIB) for i in range(1, 8)]
    assert judge([old, burst_end, *quiet], TARGET).fits is True
    assert judge([old, burst_end], TARGET).fits is False


def test_the_watch_samples_tracked_pipelines_and_starts_afresh_on_a_change() -> None:
    readings = iter([Sample(0, 0, 384 * MIB), Sample(100, 100_000, 384 * MIB),
                     Sample(200, 0, 384 * MIB)])  # fmt: skip
    asked: list[Target] = []

    def reader(target: Target) -> Sample | None:
        asked.append(target)
        return next(readings)

    watch = Watch(reader)
    key = ("ns", "demo")
    assert watch.verdict(key) is None
    watch.track(key, TARGET)
    watch.sample_once()
    watch.sample_once()
    verdict = watch.verdict(key)
    assert verdict is not None
    assert verdict.fits is False
    watch.track(key, TARGET)  # the same target keeps its samples
    assert watch.verdict(key) == verdict
    smaller = Target(**{**TARGET.__dict__, "window_s": 3600, "window": "1h"})
    watch.track(key, smaller)
    fresh = watch.verdict(key)
    assert fresh is not None
    assert fresh.fits is None
    watch.track(key, None)
    assert watch.verdict(key) is None
    assert asked == [TARGET, TARGET]


def test_the_condition_is_shown_and_ready_does_not_change(make_ctx: Any) -> None:
    ctx = make_ctx({"mode": "kafka"})
    base = Observation(ctx, 1, {}, False)
    warned = Observation(ctx, 1, {}, False,
                         dedupe=dedupe_fit.Verdict(False, "WindowTooLarge", "too big"))  # fmt: skip
    plain = pipeline_status(base, {}, "t")
    status = pipeline_status(warned, {}, "t")
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["DedupeWindowFits"]["status"] == "False"
    assert conditions["DedupeWindowFits"]["reason"] == "WindowTooLarge"
    ready = {c["type"]: c for c in plain["conditions"]}["Ready"]
    assert conditions["Ready"] == ready
    assert status["phase"] == plain["phase"]
    measuring = Observation(ctx, 1, {}, False,
                            dedupe=dedupe_fit.Verdict(None, "Measuring", "..."))  # fmt: skip
    assert "DedupeWindowFits" not in {
        c["type"] for c in pipeline_status(measuring, {}, "t")["conditions"]
    }


def test_valkey_admits_the_operators_namespace_when_known(make_ctx: Any) -> None:
    ctx = make_ctx({"mode": "kafka"})
    policy = next(p for p in network.build(replace(ctx, operator_namespace="clima-system"))
                  if p["metadata"]["name"] == "demo-valkey")  # fmt: skip
    sources = policy["spec"]["ingress"][0]["from"]
    selector = {"namespaceSelector": {"matchLabels": {network.NAMESPACE_LABEL: "clima-system"}}}
    assert selector in sources
    alone = next(p for p in network.build(ctx) if p["metadata"]["name"] == "demo-valkey")
    assert all("namespaceSelector" not in s for s in alone["spec"]["ingress"][0]["from"])


def test_the_reconciler_tracks_a_managed_valkey_and_reports_the_verdict(
    cluster: Any, events: Any
) -> None:
    watch = Watch(lambda target: None)
    cluster.add_pipeline(spec={"mode": "kafka", "image": "r.example/clima:1"})
    reconciler = Reconciler(cluster, events, fit=watch, operator_namespace="clima-system")
    reconciler.reconcile("ns", "demo")
    verdict = watch.verdict(("ns", "demo"))
    assert verdict is not None
    assert verdict.reason == "NotSampled"
    del cluster.objects[("ClimaPipeline", "ns", "demo")]
    reconciler.reconcile("ns", "demo")  # gone: no longer watched
    assert watch.verdict(("ns", "demo")) is None
