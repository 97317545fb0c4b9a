"""A topic found missing is created again only after RECREATE_AFTER_S of absence, and the
writer's refusal says when (no broker needed: the probe's answers are given by hand)."""

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from clima.writer import _kafka
from clima.writer._kafka import RECREATE_AFTER_S, KafkaPublisher


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _publisher(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A publisher whose threads are stopped, on a clock the test moves (call it inside the
    event loop)."""
    publisher = KafkaPublisher("127.0.0.1:9", "clima-missing", 1.0)
    publisher._stop.set()
    publisher._prober.join(timeout=2.0)
    publisher._poller.join(timeout=2.0)
    clock = Clock()
    monkeypatch.setattr(_kafka.time, "monotonic", clock)
    created: list[float] = []
    publisher._recreate = lambda: created.append(clock.now)
    return publisher, clock, created


async def test_created_again_after_the_wait_and_not_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writer, clock, created = _publisher(monkeypatch)
    try:
        writer._deleted(True)
        assert "creating it again 30s from now" in writer._problem
        clock.now += RECREATE_AFTER_S - 1
        writer._deleted(True)
        assert created == []
        assert "1s from now" in writer._problem
        clock.now += 1
        writer._deleted(True)
        assert created == [clock.now]
        writer._deleted(False)
        clock.now += 5
        writer._deleted(True)  # missing again: a new wait
        assert created == [clock.now - 5]
    finally:
        await writer.close(0.1)


async def test_a_topic_it_cannot_create_is_tried_again_a_wait_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writer, clock, _ = _publisher(monkeypatch)
    attempts: list[float] = []

    def refuse() -> None:
        attempts.append(clock.now)
        raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied"))

    writer._recreate = refuse
    try:
        writer._deleted(True)
        clock.now += RECREATE_AFTER_S
        writer._deleted(True)
        clock.now += 1
        writer._deleted(True)
        assert attempts == [clock.now - 1]
        clock.now += RECREATE_AFTER_S
        writer._deleted(True)
        assert len(attempts) == 2
    finally:
        await writer.close(0.1)
