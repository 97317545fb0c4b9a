"""Settings of the writer (prefix CLIMA_WRITER_); the broker fields shared with the
consumers come from clima.wiring.BrokerSettings."""

from pydantic import Field
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
    log_level: str = "INFO"
    log_json: bool = False
