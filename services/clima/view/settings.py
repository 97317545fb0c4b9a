"""Settings of the local view (prefix CLIMA_VIEW_, plus the seed's VALKEY_SERVICE_URL)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from clima import wiring


class ViewSettings(BaseSettings):
    """Where the view listens, which Valkey and dashboard it shows, and how often it refreshes."""

    model_config = SettingsConfigDict(env_prefix=wiring.VIEW_PREFIX, extra="ignore")

    host: str = Field(default="127.0.0.1", description="a developer's page: loopback by default")
    port: int = Field(default=wiring.VIEW_PORT, ge=0, le=65535)
    valkey_url: str = Field(
        default=f"redis://127.0.0.1:{wiring.VALKEY_PORT}/0",
        validation_alias=wiring.VALKEY_URL_ENV.alias("CLIMA_VIEW_VALKEY_URL"),
        description="Valkey address; the password travels in the URL (redis://:pw@host:6379/0)",
    )
    dashboard: Path | None = Field(
        default=None,
        description="dashboard JSON to show; default: the packaged dashboards/clima.json",
    )
    refresh_s: float = Field(default=2.0, gt=0, le=3600, description="page refresh period")
    log_level: str = "INFO"
    log_json: bool = False
