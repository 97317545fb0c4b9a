"""Settings of the writer process (prefix CLIMA_WRITER_, plus the shared broker names and the
seed's; clima.wiring says which is which)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from clima import wiring

Mode = wiring.Mode


class WriterSettings(BaseSettings):
    """Where the writer listens and which brokers it writes to."""

    model_config = SettingsConfigDict(env_prefix=wiring.WRITER_PREFIX, extra="ignore")

    mode: Mode = Field(
        default=wiring.DEFAULT_MODE,
        validation_alias=wiring.MODE_ENV.alias(),
        description="kafka, rabbit, both (every report to both) or random (each report to one)",
    )
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
        description="partitions of the topic, when the writer is the one to create it",
    )
    rabbitmq_url: str | None = Field(default=None, validation_alias=wiring.RABBITMQ_URL_ENV.alias())
    rabbit_queue: str = Field(
        default=wiring.RABBIT_QUEUE, validation_alias=wiring.RABBIT_QUEUE_ENV.alias()
    )
    host: str = "0.0.0.0"
    port: int = Field(default=wiring.WRITER_GRPC_PORT, ge=0, le=65535)
    probe_port: int = Field(default=wiring.WRITER_PROBE_PORT, ge=0, le=65535)
    publish_timeout_s: float = Field(
        default=5.0, gt=0, description="how long a broker may take to confirm a batch"
    )
    log_level: str = "INFO"
    log_json: bool = False
