"""A long-lived, idempotent Kafka producer whose deliveries resolve asyncio futures."""

import asyncio
import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from clima.common.topics import ensure_topic
from clima.writer.errors import BrokerUnavailableError

logger = logging.getLogger(__name__)
CONTENT_TYPE = b"application/x-protobuf; proto=clima.v1.ReportBatch"


class KafkaPublisher:
    """Publishes with acks=all; a batch is durable when every message of it is delivered."""

    def __init__(self, bootstrap: str, topic: str, timeout_s: float) -> None:
        self._topic = topic
        self._timeout_s = timeout_s
        self._loop = asyncio.get_running_loop()
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 2,
                "compression.type": "lz4",
                "message.timeout.ms": int(timeout_s * 1000),
                "socket.connection.setup.timeout.ms": 3000,
                "reconnect.backoff.max.ms": 2000,
                "error_cb": self._on_error,
            }
        )
        self._down = threading.Event()
        self._topic_ready = threading.Event()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-poll", daemon=True)
        self._poller.start()

    def start(self, bootstrap: str, partitions: int) -> None:
        """Makes sure the topic exists, in the background; publishing fails fast until then."""

        def ensure() -> None:
            delay = 0.5
            while not self._stop.is_set():
                try:
                    ensure_topic(bootstrap, self._topic, partitions)
                except KafkaException as exc:
                    logger.warning("kafka: cannot ensure topic (%s); retrying in %.1fs", exc, delay)
                    self._stop.wait(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                self._topic_ready.set()
                return

        threading.Thread(target=ensure, name="kafka-topic", daemon=True).start()

    def _on_error(self, err: KafkaError) -> None:
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self._down.set()
        logger.warning("kafka: %s", err)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)
            if self._down.is_set():
                self._probe()

    def _probe(self) -> None:
        """While marked down, asks for metadata; an answer means the broker is back."""
        try:
            self._producer.list_topics(self._topic, timeout=1.0)
        except KafkaException:
            return
        logger.info("kafka: broker reachable again")
        self._down.clear()

    @property
    def healthy(self) -> bool:
        """False before the topic is known, and from an outage until a delivery succeeds."""
        return self._topic_ready.is_set() and not self._down.is_set()

    async def publish(self, messages: list[tuple[bytes, bytes]]) -> None:
        """Returns once every message is acknowledged by all in-sync replicas."""
        futures = [self._produce(key, value) for key, value in messages]
        try:
            await asyncio.wait_for(asyncio.gather(*futures), self._timeout_s + 1)
        except TimeoutError as exc:
            raise BrokerUnavailableError("kafka: delivery not confirmed in time") from exc

    def _produce(self, key: bytes, value: bytes) -> "asyncio.Future[None]":
        future: asyncio.Future[None] = self._loop.create_future()

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            self._loop.call_soon_threadsafe(_settle, future, err)
            if err is None:
                self._down.clear()

        try:
            self._producer.produce(
                self._topic,
                value,
                key,
                headers={"content-type": CONTENT_TYPE},
                on_delivery=delivered,
            )
        except (BufferError, KafkaException) as exc:
            future.set_exception(BrokerUnavailableError(f"kafka: {exc}"))
        return future

    def close(self, timeout_s: float = 10.0) -> None:
        """Delivers what is queued, then stops the poll thread."""
        self._stop.set()
        self._poller.join()
        remaining = self._producer.flush(timeout_s)
        if remaining:
            logger.error("kafka: %d messages still undelivered at shutdown", remaining)


def _settle(future: "asyncio.Future[None]", err: KafkaError | None) -> None:
    if future.done():
        return
    if err is None:
        future.set_result(None)
    else:
        future.set_exception(BrokerUnavailableError(f"kafka: {err.str()}"))
