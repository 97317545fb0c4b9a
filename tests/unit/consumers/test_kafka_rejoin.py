"""A Kafka consumer whose group rejoin never completes is replaced by a new member (no
broker needed: nothing is fetched)."""

import time

from clima.consumers import _kafka


async def test_rejoin_that_never_completes_gets_a_new_member(
    source: _kafka.KafkaSource,
) -> None:
    """Revoked and not assigned again within REJOIN_TIMEOUT_S: a new consumer subscribes."""
    source._subscribe()
    assert not source._stuck_rejoining()
    source._on_revoke(source._consumer, [])
    assert not source._stuck_rejoining()  # a rebalance in progress is normal
    source._rejoining_since = time.monotonic() - _kafka.REJOIN_TIMEOUT_S - 1
    assert source._stuck_rejoining()
    before = source._consumer
    await source._replace_consumer()
    assert source._consumer is not before
    assert not source._stuck_rejoining()
    source._on_assign(source._consumer, [])  # a member without partitions has joined too
    assert source._rejoining_since is None
    source._consumer.close()


async def test_a_member_without_a_share_says_so_in_readiness(
    source: _kafka.KafkaSource,
) -> None:
    """Subscribed or revoked and not assigned for UNASSIGNED_GRACE_S: idle names it; an
    assignment, even an empty one, ends it; a member replaced meanwhile keeps the clock."""
    source._subscribe()
    assert source.idle() is None  # a join takes a moment
    source._unassigned_since = time.monotonic() - _kafka.UNASSIGNED_GRACE_S - 1
    reason = source.idle()
    assert reason is not None
    assert f"assigned it no share for {_kafka.UNASSIGNED_GRACE_S + 1:.0f}s" in reason
    source._on_assign(source._consumer, [])
    assert source.idle() is None
    source._on_revoke(source._consumer, [])
    assert source.idle() is None
    source._unassigned_since = time.monotonic() - _kafka.UNASSIGNED_GRACE_S - 5
    assert source.idle() is not None
    await source._replace_consumer()  # a stuck rejoin: the new member does not reset it
    assert source.idle() is not None
    source._consumer.close()
