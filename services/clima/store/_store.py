"""Applies decoded reports to Valkey through one atomic script per batch."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

import orjson
import valkey.asyncio as valkey
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from clima.common.retry import retry
from clima.contract import Report, municipality_by_code, weather_by_code

logger = logging.getLogger(__name__)
_SCRIPT = resources.files("clima.store").joinpath("apply.lua").read_text(encoding="utf-8")


class StoreSettings(BaseSettings):
    """Where Valkey is and how much history it keeps."""

    model_config = SettingsConfigDict(env_prefix="CLIMA_", extra="ignore", populate_by_name=True)

    valkey_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias="VALKEY_SERVICE_URL",
        description="Valkey address; the password travels in the URL (redis://:pw@host:6379/0)",
    )
    stream_maxlen: int = Field(default=10_000, ge=10, description="entries kept per stream")
    averages_maxlen: int = Field(default=10_000, ge=10)
    seen_ttl_s: int = Field(default=48 * 3600, ge=3600, description="how long ids are remembered")
    interval_s: int = Field(default=10, ge=1, description="width of an averages interval")
    interval_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)


class StoreUnavailableError(Exception):
    """Valkey cannot be reached now; the caller keeps the reports and retries."""


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one apply did: reports newly applied and reports already there."""

    applied: int
    duplicates: int


class Store:
    """The consumers' handle on Valkey."""

    def __init__(self, settings: StoreSettings) -> None:
        self._settings = settings
        self._client = valkey.from_url(
            settings.valkey_url,
            socket_timeout=5,
            socket_connect_timeout=3,
            health_check_interval=10,
        )
        self._script = self._client.register_script(_SCRIPT)

    @property
    def client(self) -> "valkey.Valkey":
        """The underlying client, for readers such as the local view and tests."""
        client: valkey.Valkey = self._client
        return client

    async def apply(self, reports: list[Report], dead_letters: int = 0) -> ApplyResult:
        """Applies reports once each and counts dead letters set aside with them.

        Raises StoreUnavailableError when Valkey cannot take them; nothing is applied then.
        """
        if not reports and not dead_letters:
            return ApplyResult(0, 0)
        s = self._settings
        args: list[str | int | bytes] = [
            s.stream_maxlen,
            s.averages_maxlen,
            s.seen_ttl_s,
            s.interval_s,
            s.interval_ttl_s,
            dead_letters,
        ]
        args.append(orjson.dumps([_report_args(report) for report in reports]))
        try:
            applied, duplicates = await self._script(args=args)
        except (ValkeyConnectionError, ValkeyTimeoutError, OSError) as exc:
            raise StoreUnavailableError(str(exc)) from exc
        return ApplyResult(int(applied), int(duplicates))

    async def apply_until_done(
        self, reports: list[Report], dead_letters: int, stop: asyncio.Event
    ) -> ApplyResult:
        """Applies, retrying while Valkey is away (at most RECONNECT_CAP_S between attempts,
        so a Valkey that is back is used within that); never gives the reports up.

        Raises StoreUnavailableError only when asked to stop while Valkey is still away, so
        the caller exits without acknowledging and the broker delivers the reports again.
        """
        return await retry(
            "valkey: apply",
            lambda: self.apply(reports, dead_letters),
            stop,
            errors=(StoreUnavailableError,),
        )

    async def ping(self) -> bool:
        """True when Valkey answers."""
        try:
            return bool(await self._client.ping())
        except (ValkeyConnectionError, ValkeyTimeoutError, OSError):
            return False

    async def close(self) -> None:
        """Closes the connection pool."""
        await self._client.aclose()


_ISO_SECONDS: dict[int, str] = {}


def _iso(event_ms: int) -> str:
    """The event time as ISO 8601 UTC with milliseconds; the second's text is cached."""
    second, milli = divmod(event_ms, 1000)
    prefix = _ISO_SECONDS.get(second)
    if prefix is None:
        if len(_ISO_SECONDS) > 4096:
            _ISO_SECONDS.clear()
        prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _ISO_SECONDS[second] = prefix
    return f"{prefix}.{milli:03d}+00:00"


def _report_args(report: Report) -> tuple[str, int, str, str, str, str, str, str]:
    municipality = municipality_by_code(report.municipality)
    return (
        report.id,
        report.event_time_ms,
        municipality.slug,
        municipality.name,
        format(report.temperature_c, "g"),
        format(report.humidity_pct, "g"),
        weather_by_code(report.weather).name,
        _iso(report.event_time_ms),
    )
