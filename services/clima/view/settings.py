"""Settings of the local view (prefix CLIMA_VIEW_, plus the seed's VALKEY_SERVICE_URL)."""

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ViewSettings(BaseSettings):
    """Where the view listens, which Valkey and dashboard it shows, and how often it refreshes."""

    model_config = SettingsConfigDict(env_prefix="CLIMA_VIEW_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="a developer's page: loopback by default")
    port: int = Field(default=8090, ge=0, le=65535)
    valkey_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("VALKEY_SERVICE_URL", "CLIMA_VIEW_VALKEY_URL"),
        description="Valkey address; the password travels in the URL (redis://:pw@host:6379/0)",
    )
    dashboard: Path | None = Field(
        default=None,
        description="dashboard JSON to show; default: the packaged dashboards/clima.json",
    )
    refresh_s: float = Field(default=2.0, gt=0, le=3600, description="page refresh period")
    log_level: str = "INFO"
    log_json: bool = False
