"""Settings of the writer process (prefix CLIMA_WRITER_, plus the seed's names)."""

from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clima.common.topics import CONSUMER_GROUP

Mode = Literal["kafka", "rabbit", "both", "random"]


class WriterSettings(BaseSettings):
    """Where the writer listens and which brokers it writes to."""

    model_config = SettingsConfigDict(env_prefix="CLIMA_WRITER_", extra="ignore")

    mode: Mode = Field(
        default="both",
        validation_alias=AliasChoices("WRITER_TARGET", "CLIMA_WRITER_MODE"),
        description="kafka, rabbit, both (every report to both) or random (each report to one)",
    )
    kafka_broker: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BROKER", "CLIMA_KAFKA_BROKER"),
    )
    kafka_topic: str = Field(default="clima", validation_alias=AliasChoices("CLIMA_KAFKA_TOPIC"))
    kafka_partitions: int = Field(default=4, ge=1)
    rabbitmq_url: str | None = Field(
        default=None, validation_alias=AliasChoices("RABBITMQ_URL", "CLIMA_RABBITMQ_URL")
    )
    rabbit_queue: str = Field(default="clima", validation_alias=AliasChoices("CLIMA_RABBIT_QUEUE"))
    host: str = "0.0.0.0"
    port: int = Field(default=50051, ge=0, le=65535)
    probe_port: int = Field(default=9101, ge=0, le=65535)
    publish_timeout_s: float = Field(
        default=5.0, gt=0, description="how long a broker may take to confirm a batch"
    )
    max_backlog_messages: int = Field(
        default=100_000,
        ge=0,
        le=1_000_000_000,
        description="refuse new reports (503 refused) while a broker of the mode holds more "
        "messages than this not yet applied by the consumers; 0: no bound, nothing measured",
    )
    backlog_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="how often each broker's backlog is measured"
    )
    backlog_stale_s: float = Field(
        default=10.0, gt=0, le=600, description="a backlog figure older than this never refuses"
    )
    kafka_group: str = Field(
        default=CONSUMER_GROUP,
        min_length=1,
        validation_alias=AliasChoices("CLIMA_WRITER_KAFKA_GROUP", "CLIMA_CONSUMER_KAFKA_GROUP"),
        description="the Kafka consumers' group, whose committed offsets the backlog reads",
    )
    log_level: str = "INFO"
    log_json: bool = False

    @model_validator(mode="after")
    def _stale_after_interval(self) -> "WriterSettings":
        if self.backlog_stale_s <= self.backlog_interval_s:
            raise ValueError(
                f"backlog_stale_s ({self.backlog_stale_s}) must be longer than "
                f"backlog_interval_s ({self.backlog_interval_s}): every figure would be stale"
            )
        return self
