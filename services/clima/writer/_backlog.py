"""How far the consumers are behind each broker, and the bound past which the writer refuses.

While the consumers hold their batches (Valkey full, say) the brokers keep accepting, so
without a bound the backlog would grow until a broker's disk or memory gave out. The writer
therefore measures, in the background, the messages each broker of its mode holds that the
consumers have not yet applied:

- RabbitMQ: the work queue's ready messages (a passive declare on a connection of its own);
  deliveries a consumer holds unacknowledged (at most its prefetch) are not counted.
- Kafka: the sum over the topic's partitions of the high watermark minus the consumer
  group's committed offset (the log start where the group has committed nothing, as the
  consumers then read from the earliest).

Messages differ in size (one report, or a thousand of one municipality), and what fills a
disk is bytes, so each broker may also have a bound in bytes, which the operator sizes to its
volume: Kafka's applies to the fullest partition (retention deletes a partition's oldest data
past `log.retention.bytes`, consumed or not, so no partition may hold that much unapplied),
RabbitMQ's to the work queue. Neither broker tells its backlog in bytes through the calls the
writer makes, so the figure is an estimate: the messages times the mean size of the messages
this writer published to that broker lately (an exponential mean over about the last
thousand). Until this writer has published to a broker, only its bound in messages applies.

A batch routed to a broker whose last figure is over a bound is refused before anything
is published (`BacklogFullError`, a refusal the api answers with 503 `"refused"`). The
publish path only reads the cached figure; measuring never waits on it. A figure older than
`stale_s` is not used: when measuring fails (the broker is away, the admin call hangs) the
writer accepts again rather than refusing on an old figure for as long as the failure lasts;
a broker that is really away is refused by the writer's health check anyway.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from aio_pika.abc import AbstractChannel, AbstractConnection
from prometheus_client import Counter, Gauge

from clima.common.amqp import ERRORS, AmqpLink, queue_depth
from clima.common.kafka import Bootstrap, group_lags, lag_reader
from clima.writer.settings import WriterSettings

logger = logging.getLogger(__name__)

BACKLOG = Gauge(
    "clima_writer_backlog_messages",
    "Messages a broker holds that the consumers have not applied yet, as last measured",
    ["broker"],
)
BACKLOG_BYTES = Gauge(
    "clima_writer_backlog_bytes",
    "Estimated bytes not yet applied that the broker's bound in bytes reads: Kafka's fullest "
    "partition, RabbitMQ's work queue (messages times the mean size published lately)",
    ["broker"],
)
MEASURE_FAILURES = Counter(
    "clima_writer_backlog_measure_failures_total",
    "Backlog measurements that failed (no figure; a stale one is not used to refuse)",
    ["broker"],
)
# how long one Kafka measurement may take before it is abandoned with its admin client
KAFKA_CALL_TIMEOUT_S = 5.0
#: weight of one message in the mean message size (about the last 1/SIZE_WEIGHT messages count)
SIZE_WEIGHT = 0.001


@dataclass(frozen=True, slots=True)
class Figure:
    """One measurement: messages not yet applied, those of the fullest partition (the
    work queue's, for RabbitMQ), and when (monotonic seconds)."""

    messages: int
    at: float
    fullest: int = -1

    @property
    def largest(self) -> int:
        """Messages of the fullest partition, or all of them where there is one queue."""
        return self.messages if self.fullest < 0 else self.fullest


class Backlog:
    """The latest figure of each broker and the bounds; `refusal()` is what the writer asks."""

    def __init__(
        self,
        bound: int,
        stale_s: float,
        clock: Callable[[], float] = time.monotonic,
        byte_bounds: Mapping[str, int] | None = None,
    ) -> None:
        self._bound = bound
        self._byte_bounds = {b: n for b, n in (byte_bounds or {}).items() if n}
        self._stale_s = stale_s
        self._clock = clock
        self._figures: dict[str, Figure] = {}
        self._sizes: dict[str, float] = {}
        self._over: dict[str, str] = {}
        self._failing: dict[str, str] = {}
        self._lock = threading.Lock()  # figures come from a thread (Kafka) and the loop

    @property
    def bound(self) -> int:
        """Messages a broker may hold unapplied before new reports are refused (0: no bound)."""
        return self._bound

    @property
    def measures(self) -> bool:
        """Whether any bound needs figures."""
        return bool(self._bound or self._byte_bounds)

    def published(self, broker: str, sizes: Sequence[int]) -> None:
        """Folds the sizes of messages just published to `broker` into its mean size."""
        if not sizes or broker not in self._byte_bounds:
            return
        batch_mean = sum(sizes) / len(sizes)
        with self._lock:
            mean = self._sizes.get(broker)
            if mean is None:
                self._sizes[broker] = batch_mean
            else:
                weight = 1.0 - (1.0 - SIZE_WEIGHT) ** len(sizes)
                self._sizes[broker] = mean + (batch_mean - mean) * weight

    def mean_size(self, broker: str) -> float | None:
        """The mean size of the messages published lately to `broker`, when known."""
        return self._sizes.get(broker)

    def record(self, broker: str, messages: int, fullest: int = -1) -> None:
        """Keeps a new figure (`fullest`: messages of the fullest partition, where there are
        partitions); logs when the broker passes a bound or falls back under it."""
        BACKLOG.labels(broker).set(messages)
        figure = Figure(messages, self._clock(), fullest)
        estimate = self._bytes(broker, figure)
        if estimate is not None:
            BACKLOG_BYTES.labels(broker).set(estimate)
        with self._lock:
            self._figures[broker] = figure
            if self._failing.pop(broker, None) is not None:
                logger.info("backlog: %s measured again (%d messages)", broker, messages)
            why = self._why(broker, figure)
            if why is not None and broker not in self._over:
                self._over[broker] = why
                logger.warning("%s: refusing new reports for it until the consumers catch up", why)
            elif why is None and broker in self._over:
                del self._over[broker]
                logger.info(
                    "backlog: %s down to %d messages, under its bounds: accepting again",
                    broker,
                    messages,
                )

    def failed(self, broker: str, why: str) -> None:
        """Counts a failed measurement; logs once per cause."""
        MEASURE_FAILURES.labels(broker).inc()
        with self._lock:
            if self._failing.get(broker) != why:
                self._failing[broker] = why
                logger.warning(
                    "backlog: cannot measure %s (%s); a figure older than %.0fs is not used "
                    "to refuse",
                    broker,
                    why,
                    self._stale_s,
                )

    def figure(self, broker: str) -> Figure | None:
        """The broker's figure while it is fresh, else None."""
        found = self._figures.get(broker)
        if found is None or self._clock() - found.at > self._stale_s:
            return None
        return found

    def refusal(self, brokers: Iterable[str]) -> str | None:
        """Why a batch for `brokers` must be refused now (a fresh figure over a bound), or
        None. Reads only what was measured: never waits."""
        if not self.measures:
            return None
        for broker in sorted(brokers):
            found = self.figure(broker)
            why = None if found is None else self._why(broker, found)
            if why is not None:
                return why
        return None

    def _bytes(self, broker: str, figure: Figure) -> int | None:
        mean = self._sizes.get(broker)
        return None if mean is None else int(figure.largest * mean)

    def _why(self, broker: str, figure: Figure) -> str | None:
        if self._bound and figure.messages > self._bound:
            return (
                f"backlog: {broker} holds {figure.messages} messages not yet applied, over "
                f"the bound of {self._bound} (the consumers are behind; is Valkey full?)"
            )
        limit = self._byte_bounds.get(broker, 0)
        estimate = self._bytes(broker, figure)
        if not limit or estimate is None or estimate <= limit:
            return None
        where = "its fullest partition holds" if figure.fullest >= 0 else "it holds"
        return (
            f"backlog: {broker} is filling its disk: {where} about {estimate} bytes not yet "
            f"applied ({figure.largest} messages of about {estimate // max(1, figure.largest)} "
            f"bytes), over the bound of {limit} bytes sized to its volume (the consumers are "
            "behind; is Valkey full?)"
        )


# ------------------------------------------------------------------ Kafka
class KafkaBacklogProbe:
    """Measures the group's lag on the topic every `interval_s`, in a thread of its own. A
    call that has not returned after KAFKA_CALL_TIMEOUT_S counts as a failure and the next
    measurement waits for it: its client is never replaced or closed under it."""

    def __init__(
        self, bootstrap: Bootstrap, topic: str, group: str, backlog: Backlog, interval_s: float
    ) -> None:
        self._topic = topic
        self._backlog = backlog
        self._interval_s = interval_s
        self._reader = lag_reader(bootstrap, group)
        self._asker: threading.Thread | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafka-backlog", daemon=True)

    def start(self) -> None:
        """Starts measuring."""
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.measure_once()
            self._stop.wait(max(0.0, self._interval_s - (time.monotonic() - started)))

    def measure_once(self) -> None:
        """One measurement, recorded as a figure or a failure."""
        if self._asker is not None and self._asker.is_alive():
            self._backlog.failed("kafka", "the previous measurement has not returned yet")
            return
        answers: list[tuple[int, int] | BaseException] = []

        def ask() -> None:
            try:
                lags = group_lags(self._reader, self._topic, 1.0)
                answers.append((sum(lags.values()), max(lags.values(), default=0)))
            except Exception as exc:  # every failure means only "no figure this time"
                answers.append(exc)

        self._asker = threading.Thread(target=ask, name="kafka-backlog-call", daemon=True)
        self._asker.start()
        self._asker.join(KAFKA_CALL_TIMEOUT_S)
        if not answers:
            self._backlog.failed("kafka", f"no answer in {KAFKA_CALL_TIMEOUT_S:.0f}s")
        elif isinstance(answers[0], BaseException):
            self._backlog.failed("kafka", _describe(answers[0]))
        else:
            self._backlog.record("kafka", *answers[0])

    def close(self) -> None:
        """Stops measuring; closes the client unless a call still holds it."""
        self._stop.set()
        self._thread.join(timeout=KAFKA_CALL_TIMEOUT_S + 1)
        if not self._thread.is_alive() and (self._asker is None or not self._asker.is_alive()):
            self._reader.close()


# ------------------------------------------------------------------ RabbitMQ
class RabbitBacklogProbe:
    """Reads the work queue's message count every `interval_s` with a passive declare, on a
    connection of its own (the publishing channel never waits behind it)."""

    def __init__(self, url: str, queue: str, backlog: Backlog, interval_s: float) -> None:
        self._queue = queue
        self._backlog = backlog
        self._interval_s = interval_s
        self._link: AmqpLink[AbstractChannel] = AmqpLink(url, "rabbitmq backlog", self._setup)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _setup(self, connection: AbstractConnection) -> AbstractChannel:
        return await connection.channel()

    def start(self) -> None:
        """Connects and measures in the background."""
        self._tasks = [
            asyncio.create_task(self._link.run(self._stop)),
            asyncio.create_task(self._run()),
        ]

    async def _run(self) -> None:
        while not self._stop.is_set():
            await self.measure_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval_s)

    async def measure_once(self) -> None:
        """One measurement, recorded as a figure or a failure."""
        channel = self._link.session
        if channel is None or channel.is_closed:
            self._backlog.failed("rabbit", f"not connected ({self._link.problem})")
            return
        try:
            depth = await queue_depth(channel, self._queue, self._interval_s + 1)
        except ERRORS as exc:
            self._link.drop(f"passive declare failed: {exc!r}")
            self._backlog.failed("rabbit", _describe(exc))
            return
        if depth is None:
            self._backlog.failed("rabbit", "the passive declare's answer had no message count")
            return
        self._backlog.record("rabbit", depth.messages)

    async def close(self) -> None:
        """Stops measuring and closes the connection."""
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


# ------------------------------------------------------------------ wiring
class Probes:
    """The measurements of the brokers of a mode, and the Backlog they feed."""

    def __init__(self, settings: WriterSettings, brokers: Iterable[str]) -> None:
        self.backlog = Backlog(
            settings.max_backlog_messages,
            settings.backlog_stale_s,
            byte_bounds=settings.byte_bounds,
        )
        self._kafka: KafkaBacklogProbe | None = None
        self._rabbit: RabbitBacklogProbe | None = None
        if not self.backlog.measures:
            return  # no bound: nothing to measure
        wanted = set(brokers)
        if "kafka" in wanted:
            self._kafka = KafkaBacklogProbe(
                settings.kafka,
                settings.kafka_topic,
                settings.kafka_group,
                self.backlog,
                settings.backlog_interval_s,
            )
        if "rabbit" in wanted and settings.rabbitmq_url:
            self._rabbit = RabbitBacklogProbe(
                settings.rabbitmq_url,
                settings.rabbit_queue,
                self.backlog,
                settings.backlog_interval_s,
            )

    def start(self) -> None:
        """Starts every measurement (in the running event loop and a thread)."""
        if self._kafka is not None:
            self._kafka.start()
        if self._rabbit is not None:
            self._rabbit.start()

    async def close(self) -> None:
        """Stops every measurement."""
        if self._kafka is not None:
            await asyncio.to_thread(self._kafka.close)
        if self._rabbit is not None:
            await self._rabbit.close()
