"""A Kafka consumer wedged in a poll fails its liveness (so Kubernetes restarts it), and dead
letters that Kafka confirmed are never published again by a retry (no broker needed)."""

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaException

from clima.consumers import _kafka
from clima.consumers._decode import DeadLetter


class WedgedConsumer:
    """A poll that returns only once the test releases it, as librdkafka's did (F8)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def poll(self, _timeout: float) -> None:
        self.release.wait(10)

    def close(self) -> None:
        return None


async def test_a_poll_that_never_returns_fails_liveness(
    source: _kafka.KafkaSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_kafka, "POLL_STALL_S", 0.2)
    real, wedged = source._consumer, WedgedConsumer()
    source._consumer = wedged  # type: ignore[assignment]
    assert source.alive
    taking = threading.Thread(target=source._take)
    taking.start()
    await asyncio.sleep(0.5)
    assert not source.alive, "a poll stuck past POLL_STALL_S must fail /healthz"
    wedged.release.set()
    taking.join(5)
    assert source.alive
    real.close()


class FlakyProducer:
    """Confirms only the letters named in `confirm` on each flush, in order."""

    def __init__(self, confirm: list[set[bytes]]) -> None:
        self.confirm = confirm
        self.produced: list[bytes] = []
        self._callbacks: list[tuple[bytes, Callable[[Any, Any], None]]] = []

    def produce(self, _topic: str, payload: bytes, headers: Any, on_delivery: Any) -> None:
        self.produced.append(payload)
        self._callbacks.append((payload, on_delivery))

    def flush(self, _timeout: float) -> int:
        confirmed = self.confirm.pop(0)
        for payload, callback in self._callbacks:
            callback(None if payload in confirmed else "timed out", None)
        left = sum(1 for payload, _ in self._callbacks if payload not in confirmed)
        self._callbacks = []
        return left


def test_a_retry_sends_only_the_dead_letters_kafka_did_not_confirm(
    source: _kafka.KafkaSource,
) -> None:
    letters = [DeadLetter(b"one", "bad"), DeadLetter(b"two", "bad"), DeadLetter(b"three", "bad")]
    real = source._dead
    source._dead = FlakyProducer([{b"one", b"three"}, {b"two"}])  # type: ignore[assignment]
    pending = list(letters)
    with pytest.raises(KafkaException, match="1 dead letters not confirmed"):
        source._send_dead(pending)
    assert pending == [letters[1]]
    source._send_dead(pending)
    assert pending == []
    assert source._dead.produced == [b"one", b"two", b"three", b"two"]  # type: ignore[attr-defined]
    source._dead = real
