"""The writer replaces its Kafka producer when Kafka comes back and when deliveries time out
while the brokers answer (no broker needed: the probe's answers are given by hand)."""

import asyncio
import time

from confluent_kafka import KafkaError

from clima.writer._kafka import KafkaPublisher


def _publisher() -> KafkaPublisher:
    publisher = KafkaPublisher("127.0.0.1:9", "clima-renewal", 1.0)
    # the test plays the prober, and no error of the unreachable address may interfere:
    # both threads stop, and what the poll thread saw before that is forgotten
    publisher._stop.set()
    publisher._prober.join(timeout=2.0)
    publisher._poller.join(timeout=2.0)
    publisher._down.clear()
    publisher._topic_ready.set()
    return publisher


async def test_coming_back_from_an_outage_puts_a_new_producer_in_place() -> None:
    """Down, then every partition led again: a new producer before readiness says ready."""
    publisher = _publisher()
    try:
        publisher._on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "all down"))
        assert not publisher.healthy
        before = publisher._producer
        publisher._check(led=None)  # no answer yet: still down, same producer
        assert not publisher.healthy
        assert publisher._producer is before
        publisher._check(led=True)
        assert publisher.healthy
        assert publisher._producer is not before
        assert publisher.renewals == 1
    finally:
        await publisher.close(0.1)


async def test_deliveries_timing_out_while_healthy_renew_the_producer_once() -> None:
    """A timeout newer than the last success renews; the next checks, with no new timeout,
    do not, and neither does a success after it."""
    publisher = _publisher()
    try:
        publisher._delivered_at = time.monotonic()
        publisher._check(led=True)
        assert publisher.renewals == 0
        publisher._timed_out_at = time.monotonic()
        publisher._check(led=True)
        assert publisher.renewals == 1
        publisher._check(led=True)
        publisher._check(led=None)
        assert publisher.renewals == 1
        assert publisher.healthy
    finally:
        await publisher.close(0.1)


async def test_a_replaced_producers_messages_settle_as_unknown() -> None:
    """What the old producer still held is purged: each publish fails (outcome unknown)
    instead of waiting for its timeout, and a late answer of the old producer is ignored."""
    publisher = _publisher()
    try:
        future = publisher._produce(b"k", b"v")
        publisher._renew("test")
        await asyncio.wait([future], timeout=5)
        assert future.done()
        assert "kafka:" in str(future.exception())
        assert publisher._timed_out_at == 0.0
    finally:
        await publisher.close(0.1)


def test_an_answer_after_the_loop_closed_is_dropped_not_raised() -> None:
    """A retired producer's flush may answer after the event loop is gone (the process is
    ending): the answer is dropped in librdkafka's thread instead of raising there."""
    loop = asyncio.new_event_loop()
    publisher = KafkaPublisher.__new__(KafkaPublisher)
    publisher._loop = loop
    loop.close()
    publisher._to_loop(print, "never printed")  # no RuntimeError: nothing awaits it
