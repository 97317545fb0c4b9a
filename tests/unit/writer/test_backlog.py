"""The writer's bounded backlog: refuse past the bound, never on a stale figure, say why."""

import logging
from collections.abc import AsyncIterator

import grpc
import pytest
from clima_unit_support import sample_reports
from prometheus_client import REGISTRY
from pydantic import ValidationError

from clima.common.kafka import kafka_backlog
from clima.common.limits import InFlight
from clima.common.upstream import Upstream
from clima.contract import ReportBatch, add_writer_service
from clima.contract.outcome import REFUSED, outcome_of
from clima.writer._backlog import Backlog
from clima.writer._core import Writer
from clima.writer.errors import BacklogFullError, BrokerRefusedError
from clima.writer.server import ReportWriterService
from clima.writer.settings import WriterSettings


class FakePublisher:
    """A healthy broker that records what it was asked to publish."""

    healthy = True
    problem = ""

    def __init__(self) -> None:
        self.published: list[list[tuple[bytes, bytes]]] = []

    async def publish(self, messages: list[tuple[bytes, bytes]]) -> None:
        self.published.append(messages)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_over_the_bound_refuses_naming_broker_figure_and_bound() -> None:
    """A fresh figure over the bound refuses; at the bound, or under it, accepts."""
    backlog = Backlog(bound=1000, stale_s=10, clock=Clock())
    backlog.record("kafka", 1000)
    assert backlog.refusal(["kafka", "rabbit"]) is None
    backlog.record("rabbit", 1001)
    why = backlog.refusal(["kafka", "rabbit"])
    assert why is not None
    assert "rabbit holds 1001 messages not yet applied" in why
    assert "bound of 1000" in why
    assert backlog.refusal(["kafka"]) is None


def test_a_stale_figure_never_refuses() -> None:
    """When measuring stops working, the last figure refuses only until it is stale_s old."""
    clock = Clock()
    backlog = Backlog(bound=10, stale_s=5, clock=clock)
    backlog.record("kafka", 50)
    backlog.failed("kafka", "no answer in 5s")
    clock.now += 5
    assert backlog.refusal(["kafka"]) is not None
    clock.now += 0.1
    assert backlog.refusal(["kafka"]) is None
    assert backlog.figure("kafka") is None


def test_no_figure_and_no_bound_never_refuse() -> None:
    """Nothing measured yet accepts; bound 0 accepts whatever the figure."""
    assert Backlog(bound=10, stale_s=5).refusal(["kafka"]) is None
    unbounded = Backlog(bound=0, stale_s=5)
    unbounded.record("kafka", 10**9)
    assert unbounded.refusal(["kafka"]) is None


def test_crossing_the_bound_is_logged_once_each_way(caplog: pytest.LogCaptureFixture) -> None:
    """The log says when refusing starts and ends, not once per figure."""
    backlog = Backlog(bound=10, stale_s=5)
    with caplog.at_level(logging.INFO, logger="clima.writer._backlog"):
        for figure in (5, 11, 12, 13, 9, 8):
            backlog.record("kafka", figure)
    texts = [r.getMessage() for r in caplog.records]
    assert texts == [
        "backlog: kafka holds 11 messages not yet applied, over the bound of 10: refusing new "
        "reports for it until the consumers catch up",
        "backlog: kafka down to 9 messages (bound 10): accepting again",
    ]


def test_gauge_follows_the_figure() -> None:
    """clima_writer_backlog_messages{broker} is the last figure."""
    Backlog(bound=10, stale_s=5).record("rabbit", 42)
    assert REGISTRY.get_sample_value("clima_writer_backlog_messages", {"broker": "rabbit"}) == 42


def test_kafka_backlog_sums_end_minus_committed_or_log_start() -> None:
    """Committed partitions count from their offset, the others from their log start."""
    ends = {0: 100, 1: 50, 2: 7}
    starts = {1: 20, 2: 0}
    committed = {0: 90, 1: -1001}
    assert kafka_backlog(ends, starts, committed) == 10 + 30 + 7


async def test_writer_refuses_before_publishing_when_the_gate_says_so() -> None:
    """A full backlog stops the batch before any broker gets any of it, as a refusal."""
    kafka, rabbit = FakePublisher(), FakePublisher()
    backlog = Backlog(bound=10, stale_s=5)
    backlog.record("kafka", 11)
    writer = Writer("both", {"kafka": kafka, "rabbit": rabbit}, gate=backlog)
    with pytest.raises(BacklogFullError, match="kafka holds 11") as caught:
        await writer.write(sample_reports(4))
    assert isinstance(caught.value, BrokerRefusedError)
    assert kafka.published == rabbit.published == []
    assert await Writer("rabbit", {"rabbit": rabbit}, gate=backlog).write(sample_reports(4)) == [
        "rabbit"
    ]


@pytest.fixture
async def full_writer() -> AsyncIterator[str]:
    backlog = Backlog(bound=10, stale_s=5)
    backlog.record("kafka", 11)
    writer = Writer("kafka", {"kafka": FakePublisher()}, gate=backlog)
    server = grpc.aio.server()
    add_writer_service(ReportWriterService(writer, InFlight(1000, "test")), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def test_backlog_refusal_is_unavailable_with_outcome_refused(full_writer: str) -> None:
    """Over gRPC the refusal is UNAVAILABLE with `clima-outcome: refused` (what the api
    answers with 503 "refused"), counted under reason backlog."""
    before = REGISTRY.get_sample_value("clima_writer_refused_total", {"reason": "backlog"}) or 0
    upstream = Upstream(full_writer)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await upstream.send_batch(ReportBatch(reports=sample_reports(4)), 5)
    finally:
        await upstream.close()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert outcome_of(caught.value.trailing_metadata()) == REFUSED
    assert "backlog: kafka holds 11" in (caught.value.details() or "")
    after = REGISTRY.get_sample_value("clima_writer_refused_total", {"reason": "backlog"})
    assert after == before + 1


def test_settings_default_bound_and_consumer_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound defaults to 100,000 messages; the group follows the consumers' variable."""
    monkeypatch.setenv("CLIMA_CONSUMER_KAFKA_GROUP", "team-a")
    settings = WriterSettings()
    assert settings.max_backlog_messages == 100_000
    assert settings.kafka_group == "team-a"


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"CLIMA_WRITER_MAX_BACKLOG_MESSAGES": "-1"}, "max_backlog_messages"),
        ({"CLIMA_WRITER_BACKLOG_INTERVAL_S": "0"}, "backlog_interval_s"),
        (
            {"CLIMA_WRITER_BACKLOG_INTERVAL_S": "5", "CLIMA_WRITER_BACKLOG_STALE_S": "5"},
            "backlog_stale_s",
        ),
    ],
)
def test_settings_refuse_a_backlog_that_cannot_work(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str
) -> None:
    """A negative bound, a zero interval, or figures stale as soon as measured: refused at
    start naming the field."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=field):
        WriterSettings()
