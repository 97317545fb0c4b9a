"""How much of a managed broker's volume its data may take, and the bounds that keep it there.

Kafka deletes a partition's oldest segments once the partition holds more than
``log.retention.bytes``, whether the consumers have read them or not; it always keeps the
newest ``log.retention.bytes`` of it. So no partition may hold that much that the consumers
have not applied: the writer refuses new reports (503 ``refused``) once the fullest partition
holds ``backlog_bound`` bytes not yet applied, a quarter under the retention. Sized to the
volume, every partition copy a node holds at its largest (its retention plus one segment)
fits in 9/10 of the volume, leaving the rest for index files, the metadata log and what
arrives between two retention checks.

RabbitMQ keeps a message until it is consumed; a quorum queue writes it to its log and then
to a segment file, so until the log is truncated a message can take its size twice. The writer
refuses once the work queue holds ``RABBIT_BACKLOG_SHARE`` of the volume not yet applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from clima import wiring
from clima_operator.children._quantity import quantity_bytes
from clima_operator.spec import PipelineSpec

#: share of a Kafka volume given to partition logs at their retention
KAFKA_LOG_SHARE = 0.8
#: a segment is this share of the retention (Kafka deletes whole segments)
SEGMENT_SHARE = 8
MIN_SEGMENT_BYTES = 2**20  # Kafka refuses log.segment.bytes under 1 MiB
MAX_SEGMENT_BYTES = 2**30  # Kafka's default
MIN_RETENTION_BYTES = 16 * 2**20
#: how often Kafka looks for segments to delete (its default is 5 minutes)
RETENTION_CHECK_MS = 10_000
#: share of a RabbitMQ volume the work queue may hold not yet applied
RABBIT_BACKLOG_SHARE = 0.4

RETENTION_FIELD = "spec.kafka.managed.retentionBytes"
KAFKA_SIZE_FIELD = "spec.kafka.managed.storage.size"
RABBIT_SIZE_FIELD = "spec.rabbitmq.managed.storage.size"


def copies(replicas: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) of a Kafka cluster of ``replicas`` nodes."""
    factor = min(3, replicas)
    return factor, 2 if factor >= 3 else 1


@dataclass(frozen=True, slots=True)
class KafkaDisk:
    """The retention of every partition copy on a managed Kafka, and the writer's bound."""

    volume: int  # bytes of one node's volume
    copies: int  # partition copies one node holds (reports and dead letters)
    retention: int  # log.retention.bytes
    segment: int  # log.segment.bytes

    @property
    def most(self) -> int:
        """The largest retention that fits the volume."""
        return int(self.volume * KAFKA_LOG_SHARE / self.copies)

    @property
    def backlog_bound(self) -> int:
        """Bytes one partition may hold not yet applied before the writer refuses."""
        return self.retention - 2 * self.segment


def node_copies(spec: PipelineSpec) -> int:
    """Partition copies one Kafka node holds: the reports' and the dead letters', spread
    evenly over the nodes (each partition has min(3, N) copies)."""
    replicas = spec.kafka.managed.replicas
    partitions = spec.kafka.partitions + wiring.KAFKA_DEAD_PARTITIONS
    return math.ceil(partitions * copies(replicas)[0] / replicas)


def kafka_disk(spec: PipelineSpec) -> KafkaDisk:
    """The managed Kafka's sizing (raises ValueError when the spec's sizes cannot be read;
    `kafka_problem` says so first)."""
    volume = quantity_bytes(spec.kafka.managed.storage.size)
    if volume is None:
        raise ValueError(f"{KAFKA_SIZE_FIELD} is not a size in bytes")
    held = node_copies(spec)
    given = spec.kafka.managed.retention_bytes
    retention = int(volume * KAFKA_LOG_SHARE / held) if given is None else quantity_bytes(given)
    if retention is None:
        raise ValueError(f"{RETENTION_FIELD} is not a size in bytes")
    segment = min(MAX_SEGMENT_BYTES, max(MIN_SEGMENT_BYTES, retention // SEGMENT_SHARE))
    return KafkaDisk(volume, held, retention, segment)


def kafka_problem(spec: PipelineSpec) -> tuple[str, str] | None:
    """(field, why) when the managed Kafka's retention cannot work on its volume."""
    if spec.kafka.type != "managed":
        return None
    if quantity_bytes(spec.kafka.managed.storage.size) is None:
        return KAFKA_SIZE_FIELD, "is not a size in bytes this operator reads (e.g. 5Gi)"
    given = spec.kafka.managed.retention_bytes
    if given is not None and quantity_bytes(given) is None:
        return RETENTION_FIELD, "is not a size in bytes this operator reads (e.g. 500Mi)"
    disk = kafka_disk(spec)
    if disk.retention < MIN_RETENTION_BYTES:
        fix = "set a larger storage.size" if given is None else "raise it"
        return (
            RETENTION_FIELD,
            f"{disk.retention} bytes per partition copy is under the least of "
            f"{MIN_RETENTION_BYTES} ({MIN_RETENTION_BYTES // 2**20}Mi): {fix}",
        )
    if disk.retention > disk.most:
        return (
            RETENTION_FIELD,
            f"{given} per partition copy does not fit the volume: each node holds "
            f"{disk.copies} partition copies (spec.kafka.partitions + 1 dead-letter partition, "
            f"times min(3, replicas) copies, over the replicas) on {disk.volume} bytes "
            f"({KAFKA_SIZE_FIELD}), so at most {disk.most} bytes each; lower it, unset it to "
            "size it to the volume, or raise the storage size",
        )
    return None


def rabbit_backlog_bound(spec: PipelineSpec) -> int:
    """Bytes the managed RabbitMQ's work queue may hold not yet applied (0 when its size
    cannot be read: the writer then bounds it in messages only)."""
    volume = quantity_bytes(spec.rabbitmq.managed.storage.size)
    return 0 if volume is None else int(volume * RABBIT_BACKLOG_SHARE)
