"""The Kafka consumer: a consumer group whose offsets move only after Valkey has the reports."""

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from clima import wiring
from clima.common.kafka import (
    any_broker_up,
    client_config,
    durable_producer_config,
    ensure_topics,
    group_lag,
    lag_reader,
)
from clima.common.retry import retry
from clima.consumers._apply import apply_batch
from clima.consumers._decode import DeadLetter, sort_payloads
from clima.consumers._holding import DEAD_LETTERS, HOLD
from clima.consumers._metrics import record
from clima.consumers.settings import ConsumerSettings
from clima.store import Store

logger = logging.getLogger(__name__)
SOURCE = "kafka"
_CLOSE_TIMEOUT_S = 15.0
REJOIN_TIMEOUT_S = 30.0
#: a member left without an assignment this long after subscribing or a revoke consumes
#: nothing, and its readiness says so: a rebalance completes within seconds, a group whose
#: Kafka is starting within tens of seconds (a shorter grace made the pipeline read Degraded
#: while a re-created Kafka came up); a member replaced meanwhile keeps the first time
UNASSIGNED_GRACE_S = 60.0
#: a poll waits 0.5 s; one that has not returned after this long is wedged (liveness fails)
POLL_STALL_S = 120.0
_QUERY_TIMEOUT_S = 5.0
STATS_EVERY_MS = 1_000
#: messages taken from librdkafka's queue at a time while a batch fills
TAKE_CHUNK = 20
#: how often the topic's id is read: a new id means the topic was deleted and created again
TOPIC_CHECK_S = 10.0


class KafkaSource:
    """Reads batches of messages, applies them, dead-letters the rest, then commits."""

    def __init__(self, settings: ConsumerSettings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self._consumer = self._new_consumer()
        self._rejoining_since: float | None = None
        self._unassigned_since: float | None = None  # subscribed or revoked, not assigned
        self._dead = Producer(durable_producer_config(settings.kafka))
        self.connected = False
        self._query: Consumer | None = None  # drain mode: reads the group's offsets
        self._received = 0  # messages taken so far; drain mode counts new ones as "not quiet"
        self._reported = 0
        self._polling_since: float | None = None  # when the poll in progress began
        self._topic_id: str | None = None  # the topic's id when last read
        self._rewind = threading.Event()  # read every assigned partition from its start
        self._admin: AdminClient | None = None
        """True while the group member has a connection to a broker that is up (from
        librdkafka's statistics, every STATS_EVERY_MS, served by the consumer's poll)."""

    def _new_consumer(self) -> Consumer:
        return Consumer(self.consumer_config())

    def consumer_config(self) -> dict[str, Any]:
        """The group member's librdkafka configuration."""
        settings = self._settings
        return {
            **client_config(settings.kafka),
            "group.id": settings.kafka_group,
            "statistics.interval.ms": STATS_EVERY_MS,
            "stats_cb": self._on_stats,
            # offsets are stored only once Valkey has a batch, and committed from there
            # in the background: a commit never blocks consuming (a synchronous commit
            # can wait without bound while the group coordinator is away); a crash
            # replays at most the last second, which the ids count once
            "enable.auto.offset.store": False,
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 1_000,
            "auto.offset.reset": "earliest",
            "max.poll.interval.ms": 600_000,
            # a killed member keeps its partitions until its session expires (default 45 s)
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 3_000,
            # what is fetched ahead is bounded in bytes (librdkafka's default is 64 MiB
            # queued plus 50 MiB per fetch): memory stays bounded on any backlog
            "queued.max.messages.kbytes": settings.prefetch_bytes // 1024,
            "fetch.max.bytes": settings.prefetch_bytes,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Consumes until `stop` is set, then commits what was applied and closes."""
        await self._ensure_topics(stop)
        self._subscribe()
        fetch: asyncio.Future[list[Any]] | None = None
        watch = asyncio.create_task(self._watch_topic(stop))
        try:
            while not stop.is_set():
                messages = await (fetch or asyncio.ensure_future(asyncio.to_thread(self._take)))
                if self._stuck_rejoining():
                    await self._replace_consumer()
                    fetch = None
                    continue  # these messages were never stored: the new member reads them
                self._received += len(messages)
                # fetch the next batch while this one is applied
                fetch = asyncio.ensure_future(asyncio.to_thread(self._take))
                await self._handle(messages, stop)
        finally:
            watch.cancel()
            if fetch is not None:
                await asyncio.wait({fetch})  # not applied, not stored: read again later
            # close() commits the stored offsets and leaves the group; bounded, as a missing
            # coordinator can keep it retrying
            await _bounded(self._consumer.close, _CLOSE_TIMEOUT_S, "kafka: close")
            await asyncio.to_thread(self._dead.flush, 10)
            if self._query is not None:
                await _bounded(self._query.close, _CLOSE_TIMEOUT_S, "kafka: close lag reader")

    def _on_stats(self, stats: str) -> None:
        self.connected = any_broker_up(stats)

    def _subscribe(self) -> None:
        self._rejoining_since = None
        self._unassigned_since = self._unassigned_since or time.monotonic()
        self._consumer.subscribe(
            [self._settings.kafka_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # every completed join ends here, with an empty list for a member left without
        # partitions (more members than partitions)
        self._rejoining_since = self._unassigned_since = None
        logger.info("kafka: assigned %d partition(s)", len(partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._rejoining_since = time.monotonic()
        self._unassigned_since = self._unassigned_since or self._rejoining_since
        logger.info("kafka: %d partition(s) revoked or lost; rejoining", len(partitions))

    def _stuck_rejoining(self) -> bool:
        """True when a rejoin began REJOIN_TIMEOUT_S ago and never completed. librdkafka's
        member can fail to rejoin after its session expired while the broker was away (its
        poll then returns nothing forever); a new member joins at once."""
        since = self._rejoining_since
        return since is not None and time.monotonic() - since > REJOIN_TIMEOUT_S

    async def _replace_consumer(self) -> None:
        logger.error(
            "kafka: no partitions assigned %.0fs after the group rebalanced; "
            "starting a new group member",
            REJOIN_TIMEOUT_S,
        )
        old = self._consumer
        await _bounded(old.close, _CLOSE_TIMEOUT_S, "kafka: close")
        self._consumer = self._new_consumer()
        self._subscribe()

    async def _ensure_topics(self, stop: asyncio.Event) -> None:
        """Creates the work and dead-letter topics, waiting for Kafka if it is not up yet."""
        s = self._settings
        # the dead-letter topic has one partition: dead letters are rare and read by people
        partitions = {s.kafka_topic: s.kafka_partitions, s.dead_topic: wiring.KAFKA_DEAD_PARTITIONS}
        await retry(
            "kafka: ensure topics",
            lambda: asyncio.to_thread(ensure_topics, s.kafka, partitions),
            stop,
        )

    def idle(self) -> str | None:
        """Why this member consumes nothing although connected, or None: the group has not
        assigned it its share (an empty share counts) for UNASSIGNED_GRACE_S since it
        subscribed or lost its partitions."""
        since = self._unassigned_since
        waited = 0.0 if since is None else time.monotonic() - since
        if waited < UNASSIGNED_GRACE_S:
            return None
        return f"consumes nothing: the consumer group has assigned it no share for {waited:.0f}s"

    @property
    def alive(self) -> bool:
        """False when a poll has not returned for POLL_STALL_S: librdkafka is wedged in it
        and only a restart mends the process (a consumer holding for Valkey is alive)."""
        since = self._polling_since
        return since is None or time.monotonic() - since < POLL_STALL_S

    async def _watch_topic(self, stop: asyncio.Event) -> None:
        """Reads the topic's id every TOPIC_CHECK_S. A topic deleted and created again under
        the same name (by a person: the writer waits until every consumer let go) gets a new
        id, and librdkafka may go on from the offsets it held in the old one, skipping the
        first reports of the new one: the assigned partitions are then read again from
        their start (what was applied already counts once by its id)."""
        while not stop.is_set():
            try:
                now = await asyncio.to_thread(self._read_topic_id)
            except KafkaException as exc:
                logger.debug("kafka: cannot read the topic's id (%s)", exc)
                now = None
            if now is not None and self._topic_id is not None and now != self._topic_id:
                logger.warning(
                    "kafka: topic %s was created again (id %s, was %s); reading it from its "
                    "start", self._settings.kafka_topic, now, self._topic_id,
                )  # fmt: skip
                self._rewind.set()
            self._topic_id = now or self._topic_id
            try:
                await asyncio.wait_for(stop.wait(), TOPIC_CHECK_S)
            except TimeoutError:
                continue

    def _read_topic_id(self) -> str | None:
        if self._admin is None:
            self._admin = AdminClient(client_config(self._settings.kafka))
        topic = self._settings.kafka_topic
        found = self._admin.describe_topics(TopicCollection([topic]), request_timeout=5)
        try:
            return str(found[topic].result(10).topic_id)
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return None
            raise

    def _rewind_assigned(self) -> None:
        """Reads every assigned partition from its start again (see `_watch_topic`)."""
        self._rewind.clear()
        for partition in self._consumer.assignment():
            partition.offset = OFFSET_BEGINNING
            try:
                self._consumer.seek(partition)
            except KafkaException as exc:  # not fetching yet: it starts from the committed
                logger.warning("kafka: cannot rewind %s: %s", partition, exc)

    def _take(self) -> list[Any]:
        """Waits for one message, then takes whatever else is already fetched, without waiting
        (consume(n, t) would wait for n messages or the whole t)."""
        if self._rewind.is_set():
            self._rewind_assigned()
        self._polling_since = time.monotonic()
        try:
            first = self._consumer.poll(0.5)
            if first is None:
                return []
            if self._settings.linger_s:
                time.sleep(self._settings.linger_s)  # in the worker thread: let a batch gather
            return self._fill([first])
        finally:
            self._polling_since = None

    def _fill(self, batch: list[Any]) -> list[Any]:
        """Adds what is already fetched, in chunks, until the batch holds max_batch_messages
        or max_batch_bytes (the last chunk may pass the bytes by less than one chunk)."""
        most, size = self._settings.max_batch_messages, sum(map(_size, batch))
        while len(batch) < most and size < self._settings.max_batch_bytes:
            chunk = self._consumer.consume(min(TAKE_CHUNK, most - len(batch)), 0)
            if not chunk:
                break
            batch.extend(chunk)
            size += sum(map(_size, chunk))
        return batch

    async def _handle(self, messages: list[Any], stop: asyncio.Event) -> None:
        payloads = []
        good = []
        for message in messages:
            error = message.error()
            if error is None:
                payloads.append(message.value() or b"")
                good.append(message)
            elif error.code() != KafkaError._PARTITION_EOF:
                logger.warning("kafka: %s", error)
        if not payloads:
            return
        sorted_ = sort_payloads(payloads)
        result, dead = await apply_batch(self._store, sorted_.reports, sorted_.dead, stop)
        if dead:
            # after the apply decision: a crash before the offsets are stored replays the
            # batch, whose reports then count as duplicates, and publishes these again
            pending = list(dead)

            async def attempt() -> None:
                try:
                    await asyncio.to_thread(self._send_dead, pending)
                except Exception:
                    HOLD.waiting(DEAD_LETTERS)  # readiness says why the batch is held
                    raise

            await retry("kafka: dead letters", attempt, stop)
            HOLD.applied()
        record(SOURCE, sorted_.reports, result, len(dead))
        self._store_offsets(good)

    def _send_dead(self, pending: list[DeadLetter]) -> None:
        """Publishes the letters in `pending` and removes each one Kafka confirmed; raises
        while any is left, so a retry sends only those (a letter confirmed on one attempt is
        never published again by the next)."""
        confirmed: list[DeadLetter] = []

        def settled(letter: DeadLetter) -> Callable[[Any, Any], None]:
            def on_delivery(error: Any, _message: Any) -> None:
                if error is None:
                    confirmed.append(letter)

            return on_delivery

        for letter in pending:
            logger.warning("kafka: dead letter", extra={"reason": letter.reason})
            self._dead.produce(
                self._settings.dead_topic,
                letter.payload,
                headers={"x-clima-reason": letter.reason},
                on_delivery=settled(letter),
            )
        self._dead.flush(30)
        for letter in confirmed:
            pending.remove(letter)
        if pending:
            raise KafkaException(f"{len(pending)} dead letters not confirmed")

    def _store_offsets(self, applied: list[Any]) -> None:
        """Marks messages as done; the background commit moves the group's offsets past them."""
        following: dict[tuple[str, int], int] = {}
        for message in applied:
            key = (message.topic(), message.partition())
            following[key] = max(following.get(key, 0), message.offset() + 1)
        offsets = [TopicPartition(t, p, o) for (t, p), o in following.items()]
        try:
            self._consumer.store_offsets(offsets=offsets)
        except KafkaException as exc:
            # a rebalance took the partitions; their new owner re-applies, and ids dedup
            logger.warning("kafka: offsets not stored (%s); reports will be seen again", exc)

    async def remaining(self) -> int | None:
        """Messages of the topic past the group's committed offsets (drain mode), plus what
        this consumer took since the last reading (a publisher still trickling keeps the drain
        from calling the topic empty); None while Kafka does not answer."""
        try:
            left = await asyncio.to_thread(self._lag)
        except KafkaException as exc:
            logger.warning("kafka: cannot read the group's offsets (%s)", exc)
            return None
        fresh, self._reported = self._received - self._reported, self._received
        return left + fresh

    def _lag(self) -> int:
        """The group's lag on the topic, read by an admin client (it never joins the group)."""
        if self._query is None:
            self._query = lag_reader(self._settings.kafka, self._settings.kafka_group)
        return group_lag(self._query, self._settings.kafka_topic, _QUERY_TIMEOUT_S)


async def _bounded(call: Callable[[], object], timeout_s: float, what: str) -> None:
    """Runs a blocking call in a daemon thread and stops waiting for it after `timeout_s`
    (a thread of the default executor would hold the process at exit)."""
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def target() -> None:
        try:
            call()
        finally:
            loop.call_soon_threadsafe(done.set)

    threading.Thread(target=target, name=what, daemon=True).start()
    try:
        await asyncio.wait_for(done.wait(), timeout_s)
    except TimeoutError:
        logger.error("%s did not finish in %.0fs; going on without it", what, timeout_s)


def _size(message: Any) -> int:
    value = message.value()
    return len(value) if value else 0
