"""The writer's bounded backlog: refuse past the bound, never on a stale figure, say why."""

import logging
from collections.abc import AsyncIterator

import grpc
import pytest
from clima_unit_support import sample_reports
from prometheus_client import REGISTRY
from pydantic import ValidationError

from clima.common.kafka import kafka_backlog, partition_backlogs
from clima.common.limits import InFlight
from clima.common.upstream import Upstream
from clima.contract import ReportBatch, add_writer_service
from clima.contract.outcome import REFUSED, outcome_of
from clima.writer._backlog import Backlog
from clima.writer._core import Writer
from clima.writer.errors import BacklogFullError, BrokerRefusedError, BrokerUnavailableError
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
        "backlog: kafka holds 11 messages not yet applied, over the bound of 10 (the consumers "
        "are behind; is Valkey full?): refusing new reports for it until the consumers catch up",
        "backlog: kafka down to 9 messages, under its bounds: accepting again",
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
    assert partition_backlogs(ends, starts, committed) == {0: 10, 1: 30, 2: 7}


def test_bytes_bound_reads_the_fullest_partition_times_the_mean_size() -> None:
    """Kafka's bound in bytes refuses when its fullest partition, at the mean size of what
    was published, passes it; nothing is refused by bytes before a size is known."""
    backlog = Backlog(bound=0, stale_s=5, clock=Clock(), byte_bounds={"kafka": 10_000})
    assert backlog.measures
    backlog.record("kafka", 1_000, fullest=100)
    assert backlog.refusal(["kafka"]) is None  # no size known yet
    backlog.published("kafka", [200] * 10)
    assert backlog.mean_size("kafka") == 200
    backlog.record("kafka", 1_000, fullest=100)
    why = backlog.refusal(["kafka"])
    assert why is not None
    assert "kafka is filling its disk: its fullest partition holds about 20000 bytes" in why
    assert "(100 messages of about 200 bytes), over the bound of 10000 bytes" in why
    backlog.record("kafka", 1_000, fullest=50)  # 10,000 bytes: at the bound, not over it
    assert backlog.refusal(["kafka"]) is None
    assert REGISTRY.get_sample_value("clima_writer_backlog_bytes", {"broker": "kafka"}) == 10_000


def test_rabbit_bytes_bound_reads_the_whole_queue() -> None:
    """RabbitMQ has one queue: its bound in bytes reads every message it holds."""
    backlog = Backlog(bound=1_000, stale_s=5, clock=Clock(), byte_bounds={"rabbit": 10_000})
    backlog.published("rabbit", [100, 300])
    backlog.record("rabbit", 51)
    why = backlog.refusal(["kafka", "rabbit"])
    assert why is not None
    assert "rabbit is filling its disk: it holds about 10200 bytes not yet applied" in why
    assert backlog.refusal(["kafka"]) is None


def test_mean_size_follows_the_recent_messages() -> None:
    """After a few thousand large messages the mean is theirs, whatever came before."""
    backlog = Backlog(bound=0, stale_s=5, byte_bounds={"kafka": 1})
    backlog.published("kafka", [100] * 1_000)
    for _ in range(50):
        backlog.published("kafka", [100_000] * 100)
    mean = backlog.mean_size("kafka")
    assert mean is not None
    assert 99_000 < mean <= 100_000
    backlog.published("rabbit", [5])  # a broker without a bound in bytes keeps no size
    assert backlog.mean_size("rabbit") is None


async def test_writer_tells_the_gate_what_each_broker_confirmed() -> None:
    """Sizes of confirmed messages reach the gate; a broker that failed tells nothing."""

    class Failing(FakePublisher):
        async def publish(self, messages: list[tuple[bytes, bytes]]) -> None:
            raise BrokerUnavailableError("rabbit: no confirm")

    backlog = Backlog(bound=0, stale_s=5, byte_bounds={"kafka": 10**9, "rabbit": 10**9})
    kafka = FakePublisher()
    writer = Writer("both", {"kafka": kafka, "rabbit": Failing()}, gate=backlog)
    with pytest.raises(BrokerUnavailableError):
        await writer.write(sample_reports(4))
    sizes = [len(key) + len(value) for key, value in kafka.published[0]]
    assert backlog.mean_size("kafka") == sum(sizes) / len(sizes)
    assert backlog.mean_size("rabbit") is None


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
    assert settings.byte_bounds == {}


def test_settings_bounds_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each broker's bound in bytes has its variable; 0 means none."""
    monkeypatch.setenv("CLIMA_WRITER_KAFKA_MAX_PARTITION_BACKLOG_BYTES", "3000000")
    monkeypatch.setenv("CLIMA_WRITER_RABBIT_MAX_BACKLOG_BYTES", "0")
    assert WriterSettings().byte_bounds == {"kafka": 3_000_000}


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
