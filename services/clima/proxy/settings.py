"""Settings of the proxy process (prefix CLIMA_PROXY_, plus the seed's GRPC_SERVER_URL)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from clima import wiring


class ProxySettings(BaseSettings):
    """Where the proxy listens and where the writer is."""

    model_config = SettingsConfigDict(env_prefix=wiring.PROXY_PREFIX, extra="ignore")

    host: str = "0.0.0.0"
    http_port: int = Field(default=wiring.PROXY_HTTP_PORT, ge=0, le=65535)
    grpc_port: int = Field(default=wiring.PROXY_GRPC_PORT, ge=0, le=65535)
    writer: str = Field(
        default=f"127.0.0.1:{wiring.WRITER_GRPC_PORT}",
        validation_alias=wiring.UPSTREAM_ENV.alias("CLIMA_PROXY_WRITER"),
        description="gRPC address of the writer, host:port",
    )
    max_body_bytes: int = Field(
        default=65_536, ge=1024, description="largest /tweet body (one report); larger: 413"
    )
    max_inflight: int = Field(
        default=2_000,
        ge=1,
        le=1_000_000,
        description="/tweet requests forwarded and not yet answered; past it, 503 refused",
    )
    max_timeout_s: float = Field(default=10.0, gt=0, description="cap on forwarded deadlines")
    log_level: str = "INFO"
    log_json: bool = False
