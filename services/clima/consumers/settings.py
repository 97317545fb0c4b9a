"""Settings of the consumer processes (prefix CLIMA_CONSUMER_, plus the shared broker names
and the seed's; clima.wiring says which is which)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from clima import wiring


class ConsumerSettings(BaseSettings):
    """Where the consumers read from and how they batch."""

    model_config = SettingsConfigDict(env_prefix=wiring.CONSUMER_PREFIX, extra="ignore")

    kafka_broker: str = Field(
        default=f"127.0.0.1:{wiring.KAFKA_PORT}",
        validation_alias=wiring.KAFKA_BROKER_ENV.alias(),
    )
    kafka_topic: str = Field(
        default=wiring.KAFKA_TOPIC, validation_alias=wiring.KAFKA_TOPIC_ENV.alias()
    )
    kafka_partitions: int = Field(
        default=wiring.KAFKA_PARTITIONS,
        ge=1,
        validation_alias=wiring.KAFKA_PARTITIONS_ENV.alias(),
        description="partitions of the topic, when the consumer is the one to create it",
    )
    kafka_group: str = "clima-consumer-group"
    rabbitmq_url: str | None = Field(default=None, validation_alias=wiring.RABBITMQ_URL_ENV.alias())
    rabbit_queue: str = Field(
        default=wiring.RABBIT_QUEUE, validation_alias=wiring.RABBIT_QUEUE_ENV.alias()
    )
    max_batch_messages: int = Field(default=500, ge=1, description="broker messages per apply")
    linger_s: float = Field(default=0.005, ge=0, description="wait for more messages per batch")
    prefetch: int = Field(default=1000, ge=1, description="RabbitMQ unacked deliveries in flight")
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
