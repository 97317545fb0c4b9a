"""Settings of the consumer processes (prefix CLIMA_CONSUMER_); the broker fields shared with the
writer come from clima.wiring.BrokerSettings."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from clima import wiring


class ConsumerSettings(wiring.BrokerSettings):
    """Where the consumers read from and how they batch."""

    model_config = SettingsConfigDict(env_prefix=wiring.CONSUMER_PREFIX, extra="ignore")

    max_batch_messages: int = Field(default=500, ge=1, description="broker messages per apply")
    max_batch_bytes: int = Field(
        default=2 * 2**20,
        ge=1,
        description="broker message bytes per apply (a batch takes at least one message): "
        "bounds the reports decoded at once, whatever the size of the messages",
    )
    prefetch_bytes: int = Field(
        default=16 * 2**20,
        ge=2**20,
        description="Kafka: bytes librdkafka fetches ahead of the batch being applied",
    )
    linger_s: float = Field(default=0.005, ge=0, description="wait for more messages per batch")
    prefetch: int = Field(default=1000, ge=1, description="RabbitMQ unacked deliveries in flight")
    drain: bool = Field(
        default=False, description="exit 0 once the broker holds nothing more to apply"
    )
    drain_quiet_s: float = Field(
        default=5.0, ge=0, description="drain: how long nothing may be left before exiting"
    )
    drain_check_s: float = Field(default=1.0, gt=0, description="drain: seconds between checks")
    termination_log: str = Field(
        default="/dev/termination-log",
        description="drain: where the summary goes on success, when that file exists "
        "(Kubernetes mounts it in every container and shows it in the pod's status)",
    )
    host: str = "0.0.0.0"
    probe_port: int = Field(default=wiring.CONSUMER_PROBE_PORT, ge=0, le=65535)
    log_level: str = "INFO"
    log_json: bool = False

    @property
    def dead_topic(self) -> str:
        """Kafka dead-letter topic."""
        return f"{self.kafka_topic}.dead"

    @property
    def dead_queue(self) -> str:
        """RabbitMQ dead-letter queue."""
        return f"{self.rabbit_queue}.dead"
