"""Settings of the consumer processes (prefix CLIMA_CONSUMER_, plus the seed's names)."""

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsumerSettings(BaseSettings):
    """Where the consumers read from and how they batch."""

    model_config = SettingsConfigDict(env_prefix="CLIMA_CONSUMER_", extra="ignore")

    kafka_broker: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BROKER", "CLIMA_KAFKA_BROKER"),
    )
    kafka_topic: str = Field(default="clima", validation_alias=AliasChoices("CLIMA_KAFKA_TOPIC"))
    kafka_group: str = "clima-consumer-group"
    rabbitmq_url: str | None = Field(
        default=None, validation_alias=AliasChoices("RABBITMQ_URL", "CLIMA_RABBITMQ_URL")
    )
    rabbit_queue: str = Field(default="clima", validation_alias=AliasChoices("CLIMA_RABBIT_QUEUE"))
    max_batch_messages: int = Field(default=500, ge=1, description="broker messages per apply")
    linger_s: float = Field(default=0.005, ge=0, description="wait for more messages per batch")
    prefetch: int = Field(default=1000, ge=1, description="RabbitMQ unacked deliveries in flight")
    drain: bool = Field(
        default=False, description="exit 0 once the broker holds nothing more to apply"
    )
    drain_quiet_s: float = Field(
        default=5.0, ge=0, description="drain: how long nothing may be left before exiting"
    )
    drain_check_s: float = Field(default=1.0, gt=0, description="drain: seconds between checks")
    host: str = "0.0.0.0"
    probe_port: int = Field(default=9102, ge=0, le=65535)
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
