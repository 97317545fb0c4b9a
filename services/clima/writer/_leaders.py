"""Asks Kafka whether every partition of a topic has a leader, never waiting long for it.

librdkafka's metadata call can block well past its timeout while brokers come and go (F8,
seen again when a Kafka restart left both writers of a fault run waiting in it for over a
minute, so Kafka was never marked back). The question is therefore asked through an admin
client of its own, never the producer (no lock of the producer is held meanwhile), in a
thread of its own; a call that has not returned after PROBE_TIMEOUT_S is abandoned with its
client, and the next question goes to a new one.
"""

import logging
import threading

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from clima.common.kafka import Bootstrap, Config, client_config

logger = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 2.0


class LeaderProbe:
    """`probe()`: True when every partition has a leader, False when one has none or the
    topic is missing (then `missing` is True), None when Kafka did not answer in time."""

    def __init__(self, bootstrap: Bootstrap, topic: str) -> None:
        self._config: Config = client_config(bootstrap)
        self._topic = topic
        self._client = AdminClient(self._config)
        self.missing = False

    def probe(self) -> bool | None:
        """Asks once, waiting at most PROBE_TIMEOUT_S."""
        answers: list[tuple[bool | None, bool]] = []
        client = self._client
        asker = threading.Thread(
            target=lambda: answers.append(_leads_every_partition(client, self._topic)),
            name="kafka-leader-probe",
            daemon=True,
        )
        asker.start()
        asker.join(PROBE_TIMEOUT_S)
        if answers:
            led, self.missing = answers[0]
            return led
        logger.warning(
            "kafka: a metadata call did not return in %.0fs; asking a new client", PROBE_TIMEOUT_S
        )
        self._client = AdminClient(self._config)
        return None


def _leads_every_partition(client: AdminClient, topic: str) -> tuple[bool | None, bool]:
    """Whether every partition has a leader (None: no answer in time), and whether the topic
    is missing altogether."""
    try:
        metadata = client.list_topics(topic, timeout=1.0)
    except KafkaException:
        return None, False
    found = metadata.topics.get(topic)
    missing = (
        found is None
        or not found.partitions
        or (found.error is not None and found.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART)
    )
    if found is None or found.error is not None or not found.partitions:
        return False, bool(missing)
    return all(p.leader >= 0 for p in found.partitions.values()), False
