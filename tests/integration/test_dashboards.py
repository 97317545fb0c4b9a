"""Every dashboard panel, run against real Valkey after real traffic, shows what was sent."""

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import valkey
from confluent_kafka import Producer

from clima.contract import MUNICIPALITIES, WEATHERS
from clima.local import LocalPipeline
from clima.view import (
    PanelData,
    SeriesData,
    TableData,
    TimeRange,
    ValuesData,
    load_dashboard,
    run_dashboard,
    run_panel,
)

pytestmark = pytest.mark.integration
INTERVAL_S = 2  # short averages intervals, so a few seconds of traffic span several
WAVES, SINGLES, BATCH = 3, 8, 8  # 48 reports, 12 per municipality: tables must cut to 10
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Sent:
    """One accepted report as the test knows it."""

    id: str
    slug: str
    temperature: float
    humidity: float
    weather: str


def _body(k: int) -> tuple[dict[str, object], Sent]:
    """Report number k: values unique per report, codes or names alternating."""
    m, w = MUNICIPALITIES[k % 4], WEATHERS[(k % 7) % 4]
    temperature, humidity = 10 + k * 0.5, float((k * 3) % 101)
    body: dict[str, object] = {
        "municipality": m.code if k % 2 else m.name,
        "temperature": temperature,
        "humidity": humidity,
        "weather": w.code if k % 3 else w.key,
    }
    return body, Sent("", m.slug, temperature, humidity, w.name)


def _send_waves(api: str) -> list[Sent]:
    """Posts singles then a batch, wave after wave, INTERVAL_S apart; returns them in order."""
    sent: list[Sent] = []
    with httpx.Client(base_url=api, timeout=30) as client:
        for wave in range(WAVES):
            if wave:
                time.sleep(INTERVAL_S)
            for _ in range(SINGLES):
                body, known = _body(len(sent))
                answer = client.post("/clima", json=body)
                assert answer.status_code == 202, answer.text
                sent.append(replace(known, id=answer.json()["id"]))
            pairs = [_body(len(sent) + i) for i in range(BATCH)]
            answer = client.post("/clima/batch", json=[body for body, _ in pairs])
            assert answer.status_code == 202, answer.text
            for id_, (_, known) in zip(answer.json()["ids"], pairs, strict=True):
                sent.append(replace(known, id=id_))
    return sent


def _publish_garbage(broker: str, topic: str) -> None:
    """Puts one message that is no report on the Kafka topic: a dead letter to count."""
    producer = Producer({"bootstrap.servers": broker, "acks": "all"})
    producer.produce(topic, b"not a clima.v1.ReportBatch", key=b"garbage")
    assert producer.flush(30) == 0


def _stats(store: "valkey.Valkey") -> dict[str, int]:
    return {k: int(v) for k, v in store.hgetall("clima:stats").items()}


def _wait_for(predicate: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


@pytest.fixture
def traffic(
    pipeline_factory: Callable[[str], LocalPipeline],
    store: "valkey.Valkey",
    infra: dict[str, str],
    names: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> list[Sent]:
    """Known reports sent through the real pipeline in both mode, plus one dead letter, applied."""
    monkeypatch.setenv("CLIMA_INTERVAL_S", str(INTERVAL_S))
    pipeline = pipeline_factory("both")
    sent = _send_waves(pipeline.api_url)
    _publish_garbage(infra["KAFKA_BROKER"], names["CLIMA_KAFKA_TOPIC"])
    final = {"applied": len(sent), "duplicates": len(sent), "dead_letters": 1}
    _wait_for(lambda: _stats(store) == final)
    time.sleep(1)  # anything stray would arrive now
    assert _stats(store) == final
    return sent


def _event_ms(store: "valkey.Valkey") -> dict[str, int]:
    """Event time of every report, read from the streams' `ts` field (set by the api)."""
    times = {}
    for m in MUNICIPALITIES:
        for _, fields in store.xrange(f"clima:{m.slug}"):
            at = datetime.fromisoformat(fields["ts"])
            times[fields["id"]] = (at - EPOCH) // timedelta(milliseconds=1)
    return times


def _expected_intervals(sent: list[Sent], event_ms: dict[str, int]) -> dict[int, list[Sent]]:
    """Reports per interval start (s), grouped the way the store's script groups them."""
    groups: dict[int, list[Sent]] = defaultdict(list)
    for report in sent:
        start = math.floor(event_ms[report.id] / 1000 / INTERVAL_S) * INTERVAL_S
        groups[start].append(report)
    return dict(sorted(groups.items()))


def _series(data: PanelData | None) -> dict[str, list[tuple[int, float]]]:
    assert isinstance(data, SeriesData)
    return data.series


def test_every_panel_shows_what_was_sent(traffic: list[Sent], store: "valkey.Valkey") -> None:
    """Counts, last-10 tables, per-interval means and counts, and totals equal the traffic."""
    board = load_dashboard()
    shown = {r.panel.title: r.data for r in run_dashboard(store, board)}

    counts = Counter(r.weather for r in traffic)
    assert shown["Reports per weather condition"] == ValuesData(
        {w.name: float(counts[w.name]) for w in WEATHERS if counts[w.name]}
    )
    assert len(counts) == 4, "the traffic covers every condition"

    event_ms = _event_ms(store)
    assert set(event_ms) == {r.id for r in traffic}
    for m in MUNICIPALITIES:
        table = shown[f"Last 10 reports — {m.name}"]
        assert isinstance(table, TableData)
        assert table.columns == ("Event time (UTC)", "Temperature (°C)", "Humidity (%)", "Weather")
        newest_first = [r for r in traffic if r.slug == m.slug][::-1][:10]
        assert [row[1:] for row in table.rows] == [
            (r.temperature, r.humidity, r.weather) for r in newest_first
        ]
        times = [row[0] for row in table.rows]
        assert times == sorted(times, reverse=True)
        assert [datetime.fromisoformat(str(t)) for t in times] == [
            EPOCH + timedelta(milliseconds=event_ms[r.id]) for r in newest_first
        ]

    intervals = _expected_intervals(traffic, event_ms)
    assert len(intervals) >= WAVES - 1, "traffic should span several intervals"
    temperature = _series(shown["Average temperature"])["Average temperature"]
    humidity = _series(shown["Average humidity"])["Average humidity"]
    applied = _series(shown["Reports applied per interval"])["Reports applied"]
    assert [t for t, _ in temperature] == [start * 1000 for start in intervals]
    for (_, mean_t), (_, mean_h), (_, count), group in zip(
        temperature, humidity, applied, intervals.values(), strict=True
    ):
        assert mean_t == pytest.approx(sum(r.temperature for r in group) / len(group), abs=1e-4)
        assert mean_h == pytest.approx(sum(r.humidity for r in group) / len(group), abs=1e-4)
        assert count == len(group)
    assert [t for t, _ in humidity] == [t for t, _ in applied] == [t for t, _ in temperature]

    n = float(len(traffic))
    assert shown["Pipeline totals"] == ValuesData(
        {"Reports applied": n, "Duplicates": n, "Dead letters": 1.0}
    )


def test_dashboard_time_range_keeps_recent_data(
    traffic: list[Sent], store: "valkey.Valkey"
) -> None:
    """With Grafana's default range (last 15 min) every panel shows what the whole store holds."""
    board = load_dashboard()
    whole = [r.data for r in run_dashboard(store, board)]
    recent = [r.data for r in run_dashboard(store, board, TimeRange.last(board.span_s))]
    assert recent == whole
    long_ago = TimeRange.last(board.span_s, now_ms=1_000_000)
    averages = run_panel(store, board.panel("Average temperature"), long_ago)
    assert averages.data == SeriesData({}), "entries outside the range are not drawn"
    assert averages.commands == ("XRANGE clima:averages 100000-0 1000000-0",)


def test_panels_on_an_empty_store_show_no_data(store: "valkey.Valkey") -> None:
    """Before any report every panel answers, empty, instead of failing."""
    for result in run_dashboard(store, load_dashboard()):
        assert result.data in (None, TableData((), ()), ValuesData({}), SeriesData({}))
