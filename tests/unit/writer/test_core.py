"""The writer refuses before publishing when a broker is known down, and says so."""

import asyncio

import pytest
from clima_unit_support import sample_reports

from clima.writer._core import InvalidReportError, Writer
from clima.writer._kafka import KafkaPublisher
from clima.writer._rabbit import RabbitPublisher
from clima.writer.errors import BrokerRefusedError, BrokerUnavailableError
from clima.writer.server import describe_unready


class FakePublisher:
    """Records what it was asked to publish; fails on demand."""

    def __init__(self, healthy: bool = True, fails: bool = False) -> None:
        self.healthy = healthy
        self.problem = "" if healthy else "connection refused"
        self._fails = fails
        self.published: list[list[tuple[bytes, bytes]]] = []
        self.alive = True
        self.closed = False

    async def close(self) -> None:
        self.closed = True

    async def publish(self, messages: list[tuple[bytes, bytes]]) -> None:
        await asyncio.sleep(0)
        self.published.append(messages)
        if self._fails:
            raise BrokerUnavailableError("rabbitmq: confirm lost")


async def test_known_down_broker_refuses_before_publishing_anything() -> None:
    """In both mode a down RabbitMQ stops the batch before Kafka gets any of it."""
    kafka, rabbit = FakePublisher(), FakePublisher(healthy=False)
    writer = Writer("both", {"kafka": kafka, "rabbit": rabbit})
    with pytest.raises(BrokerRefusedError, match="rabbit: unavailable"):
        await writer.write(sample_reports(6))
    assert kafka.published == []
    assert rabbit.published == []


async def test_failure_while_publishing_is_not_a_refusal() -> None:
    """Kafka confirmed, RabbitMQ failed: the outcome is unknown, not refused."""
    kafka, rabbit = FakePublisher(), FakePublisher(fails=True)
    writer = Writer("both", {"kafka": kafka, "rabbit": rabbit})
    with pytest.raises(BrokerUnavailableError) as caught:
        await writer.write(sample_reports(6))
    assert not isinstance(caught.value, BrokerRefusedError)
    assert "confirm lost" in str(caught.value)
    assert len(kafka.published) == 1


async def test_success_names_the_brokers() -> None:
    """202-worthy: every broker of the mode confirmed."""
    kafka, rabbit = FakePublisher(), FakePublisher()
    assert await Writer("both", {"kafka": kafka, "rabbit": rabbit}).write(sample_reports(6)) == [
        "kafka",
        "rabbit",
    ]


async def test_invalid_report_is_refused_naming_it() -> None:
    """A bad report anywhere refuses the whole request before any broker sees it."""
    kafka = FakePublisher()
    reports = sample_reports(6)
    reports[3].humidity_pct = 101
    with pytest.raises(InvalidReportError, match=r"reports\[3\]\.humidity"):
        await Writer("kafka", {"kafka": kafka}).write(reports)
    assert kafka.published == []


@pytest.mark.parametrize("event_time_ms", [10**15, 0, 946_684_799_999])
async def test_event_time_out_of_range_is_refused(event_time_ms: int) -> None:
    """An event time the store could not apply (before 2000, or far ahead) never reaches a
    broker: the writer refuses it naming the field."""
    kafka = FakePublisher()
    reports = sample_reports(6)
    reports[2].event_time_ms = event_time_ms
    with pytest.raises(InvalidReportError, match=r"reports\[2\]\.event_time_ms"):
        await Writer("kafka", {"kafka": kafka}).write(reports)
    assert kafka.published == []


def test_readiness_names_each_unreachable_broker_and_why() -> None:
    """Not ready while a broker of the mode is down, saying which; other modes ignore it."""
    kafka, rabbit = FakePublisher(), FakePublisher(healthy=False)
    both = Writer("both", {"kafka": kafka, "rabbit": rabbit})
    assert not both.ready
    assert both.unready() == {"rabbit": "connection refused"}
    assert describe_unready(both.unready()) == "rabbit unreachable (connection refused)"
    assert Writer("kafka", {"kafka": kafka, "rabbit": rabbit}).ready


async def test_liveness_and_shutdown_go_through_every_publisher_alike() -> None:
    """The writer asks any Publisher (no broker types known) whether it is alive, and closes
    each at shutdown."""
    kafka, rabbit = FakePublisher(), FakePublisher()
    writer = Writer("both", {"kafka": kafka, "rabbit": rabbit})
    assert writer.alive
    rabbit.alive = False
    assert not writer.alive
    await writer.close()
    assert kafka.closed
    assert rabbit.closed


def test_both_broker_clients_are_publishers() -> None:
    """KafkaPublisher and RabbitPublisher offer every member of the Publisher protocol."""
    members = ("healthy", "alive", "problem", "publish", "close")
    for client in (KafkaPublisher, RabbitPublisher):
        missing = [m for m in members if not hasattr(client, m)]
        assert not missing, f"{client.__name__} lacks {missing}"
