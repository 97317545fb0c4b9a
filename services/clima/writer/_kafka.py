"""A long-lived, idempotent Kafka producer whose deliveries resolve asyncio futures."""

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from clima.common.kafka import (
    CONNECTION_CONFIG,
    Bootstrap,
    durable_producer_config,
    ensure_topic,
)
from clima.common.retry import retry_blocking
from clima.writer._leaders import LeaderProbe
from clima.writer.errors import BrokerUnavailableError

logger = logging.getLogger(__name__)
CONTENT_TYPE = b"application/x-protobuf; proto=clima.v1.ReportBatch"
STALL_S = 30.0
#: a deleted topic is created again after this long: three metadata refreshes of a consumer
#: (topic.metadata.refresh.interval.ms, 10 s), so every consumer has let go of the old one
RECREATE_AFTER_S = 30.0


class KafkaPublisher:
    """Publishes with acks=all; a batch is durable when every message of it is delivered."""

    def __init__(self, bootstrap: Bootstrap, topic: str, timeout_s: float) -> None:
        self._topic = topic
        self._timeout_s = timeout_s
        self._loop = asyncio.get_running_loop()
        self._config: dict[str, Any] = {
            **durable_producer_config(bootstrap),
            "linger.ms": 2,
            "compression.type": "lz4",
            "message.timeout.ms": int(timeout_s * 1000),
            "request.timeout.ms": CONNECTION_CONFIG["socket.timeout.ms"],
            "error_cb": self._on_error,
        }
        self._producer = Producer(self._config)
        self.renewals = 0
        # monotonic times of the last delivery that succeeded and that timed out
        self._delivered_at = 0.0
        self._timed_out_at = 0.0
        self._down = threading.Event()
        self._problem = "topic not ensured yet"
        self._fatal = ""
        self._topic_ready = threading.Event()
        self._stop = threading.Event()
        self._pending: set[asyncio.Future[None]] = set()
        self._turned = time.monotonic()
        self._leaders = LeaderProbe(bootstrap, topic)
        self._missing_since: float | None = None
        self._recreate: Callable[[], None] = lambda: None
        # the poll thread only serves callbacks; metadata probes, which can block past their
        # timeout while no broker is up, run in a thread of their own
        self._poller = threading.Thread(target=self._poll, name="kafka-poll", daemon=True)
        self._poller.start()
        self._prober = threading.Thread(target=self._watch, name="kafka-probe", daemon=True)
        self._prober.start()

    def start(self, bootstrap: Bootstrap, partitions: int) -> None:
        """Makes sure the topic exists, in the background; publishing fails fast until then."""
        self._recreate = lambda: ensure_topic(bootstrap, self._topic, partitions)

        def attempt() -> bool:
            ensure_topic(bootstrap, self._topic, partitions)
            return True

        def ensure() -> None:
            if retry_blocking(
                "kafka: ensure topic",
                attempt,
                self._stop,
                errors=(KafkaException,),
                on_error=self._cannot_ensure,
            ):
                self._topic_ready.set()

        threading.Thread(target=ensure, name="kafka-topic", daemon=True).start()

    def _cannot_ensure(self, exc: BaseException) -> None:
        self._problem = f"cannot ensure topic: {exc}"

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            # the idempotent producer's state is broken for good (e.g. its sequence numbers
            # after a broker lost data): nothing it produces will be delivered again
            logger.error("kafka: fatal producer error, restart needed: %s", err)
            self._fatal = err.str()
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self._problem = err.str()
            self._down.set()
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            # deliveries in flight would wait up to message.timeout.ms for a broker: answer
            # them now; librdkafka may still deliver them, so their outcome is unknown
            self._to_loop(self._fail_pending, f"kafka: {err.str()}")
        logger.warning("kafka: %s", err)

    def _to_loop(self, callback: Callable[..., object], *args: object) -> None:
        """Hands `callback` to the event loop from a librdkafka thread. Once the loop is
        closed (the process is ending; a retired producer may still answer) nothing awaits
        the answer any more, and it is dropped rather than raised in that thread."""
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            if not self._loop.is_closed():
                raise

    def _fail_pending(self, reason: str) -> None:
        for future in list(self._pending):
            if not future.done():
                future.set_exception(BrokerUnavailableError(reason))

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)
            self._turned = time.monotonic()

    @property
    def alive(self) -> bool:
        """False when the poll thread, which alone delivers callbacks, has not turned for
        STALL_S, or the producer hit a fatal error: deliveries would never settle again, and
        only a restart mends that."""
        turning = self._poller.is_alive() and time.monotonic() - self._turned < STALL_S
        return turning and not self._fatal

    def _watch(self) -> None:
        """Every 0.25 s, the leader probe's answer goes to `_check`, and a topic found
        missing to `_deleted`."""
        while not self._stop.wait(0.25):
            if self._topic_ready.is_set():
                led = self._leaders.probe()
                self._check(led)
                self._deleted(led is False and self._leaders.missing)

    def _deleted(self, missing: bool) -> None:
        """Creates the topic again once it has been missing for RECREATE_AFTER_S (someone
        deleted it, and the reports in it with it). Not at once: a consumer still holding its
        position in the old topic would resume a new one at that offset and skip what was
        published there first; by then every consumer has seen the topic go and let go of its
        partitions, and reads the new one from its start."""
        if not missing:
            self._missing_since = None
            return
        now = time.monotonic()
        since = self._missing_since = self._missing_since or now
        waited = now - since
        self._problem = (
            f"topic {self._topic} is missing (deleted?): creating it again "
            f"{max(0.0, RECREATE_AFTER_S - waited):.0f}s from now"
        )
        if waited < RECREATE_AFTER_S:
            return
        logger.warning("kafka: topic %s missing for %.0fs; creating it again", self._topic, waited)
        try:
            self._recreate()
        except KafkaException as exc:  # tried again RECREATE_AFTER_S from now
            logger.warning("kafka: cannot create topic %s again: %s", self._topic, exc)
            self._missing_since = now
            return
        self._missing_since = None

    def _check(self, led: bool | None) -> None:
        """While down, is the broker back? While up, has a partition lost its leader, or are
        deliveries timing out with none succeeding? A broker shutting down first gives up
        leadership, and messages for a leaderless partition would wait message.timeout.ms:
        failing at once keeps 503s fast. Coming back, the producer is replaced before the
        writer says ready: after a broker restart, librdkafka's idempotent producer could
        keep timing out every message (its producer id and sequence state from before the
        outage) for a minute while every broker answered, so a new one starts clean."""
        if self._down.is_set():
            if led:
                self._renew("broker reachable again")
                self._down.clear()
        elif led is False:
            logger.warning("kafka: a partition of %s has no leader", self._topic)
            self._problem = "a partition has no leader"
            self._down.set()
            reason = "kafka: a partition has no leader"
            self._to_loop(self._fail_pending, reason)
        elif self._timed_out_at > self._delivered_at:
            self._renew("deliveries time out while the brokers answer")

    def _renew(self, why: str) -> None:
        """Puts a new producer in place and retires the old one: what it still holds is
        purged, so each of those publishes settles as failed with an unknown outcome (some
        may have reached Kafka; the client's retry with the same ids makes that harmless)."""
        old, self._producer = self._producer, Producer(self._config)
        self._timed_out_at = 0.0
        self.renewals += 1
        logger.info("kafka: %s; new producer in place", why, extra={"renewals": self.renewals})

        def retire() -> None:
            old.purge()
            left = old.flush(self._timeout_s)
            if left:
                logger.warning("kafka: %d messages of the replaced producer unsettled", left)

        threading.Thread(target=retire, name="kafka-retire", daemon=True).start()

    @property
    def healthy(self) -> bool:
        """False before the topic is known, from an outage until a delivery succeeds, and
        after a fatal producer error."""
        return self._topic_ready.is_set() and not self._down.is_set() and not self._fatal

    @property
    def problem(self) -> str:
        """Why Kafka is unusable now ('' while healthy)."""
        if self._fatal:
            return f"fatal producer error: {self._fatal}"
        return "" if self.healthy else self._problem

    async def publish(self, messages: list[tuple[bytes, bytes]]) -> None:
        """Returns once every message is acknowledged by all in-sync replicas."""
        futures = [self._produce(key, value) for key, value in messages]
        try:
            await asyncio.wait_for(asyncio.gather(*futures), self._timeout_s + 1)
        except TimeoutError as exc:
            raise BrokerUnavailableError("kafka: delivery not confirmed in time") from exc

    def _produce(self, key: bytes, value: bytes) -> "asyncio.Future[None]":
        future: asyncio.Future[None] = self._loop.create_future()
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

        producer = self._producer

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            self._to_loop(_settle, future, err)
            if producer is not self._producer:
                return  # a replaced producer's late answers say nothing of the new one
            if err is None:
                self._delivered_at = time.monotonic()
                self._down.clear()
            elif err.code() == KafkaError._MSG_TIMED_OUT:
                self._timed_out_at = time.monotonic()

        try:
            producer.produce(
                self._topic,
                value,
                key,
                headers={"content-type": CONTENT_TYPE},
                on_delivery=delivered,
            )
        except (BufferError, KafkaException) as exc:
            future.set_exception(BrokerUnavailableError(f"kafka: {exc}"))
        return future

    async def close(self, timeout_s: float = 10.0) -> None:
        """Delivers what is queued, then stops the poll thread (blocking the loop meanwhile:
        it runs at shutdown, once the gRPC server has stopped)."""
        self._stop.set()
        self._poller.join()
        self._prober.join(timeout=2.0)
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
