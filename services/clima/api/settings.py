"""Settings of the api process (prefix CLIMA_API_, plus the seed's GRPC_SERVER_URL)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from clima import wiring


class ApiSettings(BaseSettings):
    """Where the api listens, where it sends reports, and its limits."""

    model_config = SettingsConfigDict(env_prefix=wiring.API_PREFIX, extra="ignore")

    host: str = "0.0.0.0"
    port: int = Field(default=wiring.API_PORT, ge=0, le=65535)
    upstream: str = Field(
        default=f"127.0.0.1:{wiring.PROXY_GRPC_PORT}",
        validation_alias=wiring.UPSTREAM_ENV.alias("CLIMA_API_UPSTREAM"),
        description="gRPC address of the proxy (or directly the writer), host:port",
    )
    rpc_timeout_s: float = Field(default=10.0, gt=0, description="deadline of each gRPC call")
    max_batch_items: int = Field(default=1000, ge=1, le=10_000, description="items per batch POST")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="largest request body")
    flush_max_reports: int = Field(default=2000, ge=1, description="reports per gRPC batch")
    max_inflight_rpcs: int = Field(default=4, ge=1, description="concurrent gRPC batches")
    max_pending_reports: int = Field(default=50_000, ge=1, description="queue before 503")
    log_level: str = "INFO"
    log_json: bool = False
