"""Settings of the writer (prefix CLIMA_WRITER_); the broker fields shared with the
consumers come from clima.wiring.BrokerSettings."""

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from clima import wiring

Mode = wiring.Mode


class WriterSettings(wiring.BrokerSettings):
    """Where the writer listens and which brokers it writes to."""

    model_config = SettingsConfigDict(env_prefix=wiring.WRITER_PREFIX, extra="ignore")

    mode: Mode = Field(
        default=wiring.DEFAULT_MODE,
        validation_alias=wiring.MODE_ENV.alias(),
        description="kafka, rabbit, both (every report to both) or random (each report to one)",
    )
    host: str = "0.0.0.0"
    port: int = Field(default=wiring.WRITER_GRPC_PORT, ge=0, le=65535)
    probe_port: int = Field(default=wiring.WRITER_PROBE_PORT, ge=0, le=65535)
    publish_timeout_s: float = Field(
        default=5.0, gt=0, description="how long a broker may take to confirm a batch"
    )
    max_inflight_reports: int = Field(
        default=50_000,
        ge=1,
        le=10_000_000,
        description="refuse new requests (503 refused) while this many reports are being "
        "published and not yet answered; one larger request is admitted when nothing else is",
    )
    max_backlog_messages: int = Field(
        default=100_000,
        ge=0,
        le=1_000_000_000,
        description="refuse new reports (503 refused) while a broker of the mode holds more "
        "messages than this not yet applied by the consumers; 0: no bound, nothing measured",
    )
    kafka_max_partition_backlog_bytes: int = Field(
        default=0,
        ge=0,
        description="refuse new Kafka reports (503 refused) while one partition of the topic "
        "holds more bytes than this not yet applied (its messages times the mean size of "
        "what this writer published); keep it under the topic's retention.bytes, which "
        "deletes the oldest data whether or not it was consumed. 0: no bound in bytes",
    )
    rabbit_max_backlog_bytes: int = Field(
        default=0,
        ge=0,
        description="refuse new RabbitMQ reports (503 refused) while the work queue holds "
        "more bytes than this not yet applied (its messages times the mean size of what this "
        "writer published), so its disk does not fill. 0: no bound in bytes",
    )
    backlog_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="how often each broker's backlog is measured"
    )
    backlog_stale_s: float = Field(
        default=10.0, gt=0, le=600, description="a backlog figure older than this never refuses"
    )
    log_level: str = "INFO"

    @property
    def byte_bounds(self) -> dict[str, int]:
        """The bound in bytes of each broker that has one (Kafka's is per partition)."""
        bounds = {
            wiring.KAFKA: self.kafka_max_partition_backlog_bytes,
            wiring.RABBIT: self.rabbit_max_backlog_bytes,
        }
        return {broker: bound for broker, bound in bounds.items() if bound}

    log_json: bool = False

    @model_validator(mode="after")
    def _stale_after_interval(self) -> "WriterSettings":
        if self.backlog_stale_s <= self.backlog_interval_s:
            raise ValueError(
                f"backlog_stale_s ({self.backlog_stale_s}) must be longer than "
                f"backlog_interval_s ({self.backlog_interval_s}): every figure would be stale"
            )
        return self
