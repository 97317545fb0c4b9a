"""Applies decoded reports to Valkey through one atomic script per batch.

A replicated Valkey is reached through its Sentinels, which name the primary (again after a
failover), and an apply counts as done only once ``wait_replicas`` replicas confirm they
have it: the script and ``WAIT`` go down one connection, since WAIT covers the writes of the
connection it is sent on. An apply no replica confirmed in time is reported unavailable, so
the caller retries it; the retry is a duplicate where the first write survived, and applies
anew where a failover lost it.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

import orjson
import valkey.asyncio as valkey
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from valkey.asyncio.sentinel import Sentinel
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import (
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from clima import wiring
from clima.common.retry import retry
from clima.contract import Report, municipality_by_code, weather_by_code
from clima.store import _keys

logger = logging.getLogger(__name__)
_SCRIPT = resources.files("clima.store").joinpath("apply.lua").read_text(encoding="utf-8")


DEDUPE_WINDOW_S = 24 * 3600
#: reports per script run: with ids of at most 64 characters its argument stays under 600 KB
#: and one run well under the client's 5 s timeout (measured in docs/guarantees.md)
MAX_APPLY_REPORTS = 2_000
"""The default W: covers client retries (seconds), redelivery after a crash (minutes) and
the second copy in `both` mode while one consumer lags by up to a day; docs/guarantees.md."""
_FIXED_KEYS = (
    _keys.WEATHER_COUNTS_HASH,
    _keys.MUNICIPALITIES_SET,
    _keys.AVERAGES_STREAM,
    _keys.STATS_HASH,
)


class StoreSettings(BaseSettings):
    """Where Valkey is and how much history it keeps."""

    model_config = SettingsConfigDict(
        env_prefix=wiring.STORE_PREFIX, extra="ignore", populate_by_name=True
    )

    valkey_url: str = Field(
        default=f"redis://127.0.0.1:{wiring.VALKEY_PORT}/0",
        validation_alias=wiring.VALKEY_URL_ENV.alias(),
        description="Valkey address; the password travels in the URL (redis://:pw@host:6379/0)",
    )
    valkey_password: str | None = Field(
        default=None,
        validation_alias=wiring.VALKEY_PASSWORD_ENV.alias(),
        repr=False,
        description="the password in valkey_url, as it is: any character (it is encoded)",
    )
    stream_maxlen: int = Field(
        default=10_000,
        ge=10,
        validation_alias=wiring.STREAM_MAXLEN_ENV.alias(),
        description="entries kept per stream",
    )
    averages_maxlen: int = Field(default=10_000, ge=10)
    dedupe_window_s: int = Field(
        default=DEDUPE_WINDOW_S,
        ge=3600,
        validation_alias=wiring.DEDUPE_WINDOW_ENV.alias(),
        description="W: a resend of an id within this many seconds of its first apply counts "
        "once, whatever its event time (docs/guarantees.md)",
    )
    sentinels: str | None = Field(
        default=None,
        validation_alias=wiring.VALKEY_SENTINELS_ENV.alias(),
        description="host:port,... of the Sentinels that name the primary; unset: valkey_url",
    )
    primary_name: str = Field(
        default=wiring.VALKEY_PRIMARY_NAME,
        min_length=1,
        validation_alias=wiring.VALKEY_PRIMARY_ENV.alias(),
        description="the name the Sentinels monitor the primary by",
    )
    wait_replicas: int = Field(
        default=0,
        ge=0,
        validation_alias=wiring.VALKEY_WAIT_REPLICAS_ENV.alias(),
        description="replicas that must confirm an apply before it counts as done (WAIT)",
    )
    wait_timeout_ms: int = Field(
        default=2000, ge=10, description="how long an apply waits for those confirmations"
    )
    interval_s: int = Field(default=10, ge=1, description="width of an averages interval")
    interval_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)

    @model_validator(mode="after")
    def _encoded_password(self) -> "StoreSettings":
        self.valkey_url = wiring.quote_password(self.valkey_url, self.valkey_password) or ""
        return self


class StoreUnavailableError(Exception):
    """Valkey cannot take the reports now (unreachable, full, loading, busy, read-only, failing
    to persist); the caller keeps them and retries. `reason` names the cause for metrics."""

    def __init__(self, message: str, reason: str = "unreachable") -> None:
        super().__init__(message)
        self.reason = reason


class StoreRejectedError(Exception):
    """Valkey (or the script's arguments) refused these reports for what they are: applying
    them again can never succeed, so the caller sets them aside."""


# error replies that say "not now": the same call succeeds once Valkey recovers
_TRANSIENT_CODES = {
    "BUSY": "busy",
    "LOADING": "loading",
    "MISCONF": "misconf",
    "TRYAGAIN": "busy",
    "MASTERDOWN": "readonly",
    "NOREPLICAS": "readonly",
    "CLUSTERDOWN": "unreachable",
}


def _classify(exc: ResponseError) -> StoreUnavailableError | StoreRejectedError:
    """An error reply as "retry" (Valkey's state) or "set aside" (the reports' content)."""
    if isinstance(exc, OutOfMemoryError) or str(exc).startswith("OOM"):
        return StoreUnavailableError(f"valkey is full (maxmemory): {exc}", "oom")
    if isinstance(exc, ReadOnlyError):
        return StoreUnavailableError(f"valkey is read-only: {exc}", "readonly")
    if isinstance(exc, NoPermissionError):
        return StoreUnavailableError(f"valkey refused the user: {exc}", "auth")
    code = str(exc).split(" ", 1)[0]
    if code in _TRANSIENT_CODES:
        return StoreUnavailableError(f"valkey: {exc}", _TRANSIENT_CODES[code])
    return StoreRejectedError(f"valkey refused the batch: {exc}")


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one apply did: reports newly applied and reports already there."""

    applied: int
    duplicates: int


_TIMEOUTS = {"socket_timeout": 5, "socket_connect_timeout": 3}


def parse_sentinels(text: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` as (host, port) pairs; a missing port is Sentinel's own."""
    found = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            host, _, number = item.rpartition(":") if ":" in item else (item, "", "")
            number = number or str(wiring.VALKEY_SENTINEL_PORT)
            found.append((host, int(number)))
    if not found:
        raise ValueError(f"no Sentinel address in {text!r}")
    return found


def connect(settings: StoreSettings) -> tuple["valkey.Valkey", list["valkey.Valkey"]]:
    """A client on the primary, and the Sentinel clients behind it (to close with it): the
    Sentinels' primary (with the password and database of valkey_url, which the Sentinels
    also require), or valkey_url's own host."""
    if not settings.sentinels:
        client: valkey.Valkey = valkey.from_url(
            settings.valkey_url, health_check_interval=10, **_TIMEOUTS
        )
        return client, []
    kwargs = valkey.connection.parse_url(settings.valkey_url)
    auth = {key: kwargs[key] for key in ("username", "password") if kwargs.get(key)}
    sentinel = Sentinel(
        parse_sentinels(settings.sentinels),
        sentinel_kwargs={**auth, **_TIMEOUTS},
        **auth,
        **_TIMEOUTS,
    )
    primary: valkey.Valkey = sentinel.master_for(
        settings.primary_name, db=int(kwargs.get("db") or 0), health_check_interval=10
    )
    return primary, list(sentinel.sentinels)


class Store:
    """The consumers' handle on Valkey."""

    def __init__(self, settings: StoreSettings) -> None:
        self._settings = settings
        self._client, self._sentinels = connect(settings)
        self._script = self._client.register_script(_SCRIPT)

    @property
    def client(self) -> "valkey.Valkey":
        """The underlying client, for readers such as the local view and tests."""
        client: valkey.Valkey = self._client
        return client

    async def apply(self, reports: list[Report], dead_letters: int = 0) -> ApplyResult:
        """Applies reports once each and counts dead letters set aside with them, at most
        MAX_APPLY_REPORTS reports per script run: a consumer's batch of broker messages may
        hold a million reports (500 messages of 2,000), which one run would take far past the
        client's timeout and Valkey's memory head-room.

        Raises StoreUnavailableError when Valkey cannot take them now, StoreRejectedError when
        it never will. Each run is whole or nothing (the script checks every key it may write,
        its type and its counts, before its first write: Valkey would not undo the writes of
        a script that failed half-way); runs before a failed one stay applied, and the
        caller's retry counts their reports as duplicates. The dead letters are counted by
        the last run.
        """
        if not reports and not dead_letters:
            return ApplyResult(0, 0)
        step = MAX_APPLY_REPORTS
        chunks = [reports[i : i + step] for i in range(0, len(reports), step)] or [[]]
        applied = duplicates = 0
        for index, chunk in enumerate(chunks, start=1):
            result = await self._apply_once(chunk, dead_letters if index == len(chunks) else 0)
            applied += result.applied
            duplicates += result.duplicates
        return ApplyResult(applied, duplicates)

    async def _apply_once(self, reports: list[Report], dead_letters: int) -> ApplyResult:
        """One script run (see `apply`)."""
        s = self._settings
        try:
            keys, rows = _script_input(reports, s.interval_s)
        except (KeyError, ValueError, OverflowError, OSError) as exc:
            raise StoreRejectedError(f"report cannot be stored: {exc!r}") from exc
        args: list[str | int | bytes] = [
            s.stream_maxlen,
            s.averages_maxlen,
            s.dedupe_window_s,
            s.interval_ttl_s,
            dead_letters,
            orjson.dumps(rows),
        ]
        try:
            applied, duplicates = await self._run(keys, args)
        except (ValkeyConnectionError, ValkeyTimeoutError, OSError) as exc:
            raise StoreUnavailableError(str(exc)) from exc
        except ResponseError as exc:
            raise _classify(exc) from exc
        return ApplyResult(int(applied), int(duplicates))

    async def _run(self, keys: list[str], args: list[str | int | bytes]) -> tuple[int, int]:
        """The script, followed on the same connection by WAIT when replicas must confirm."""
        wanted = self._settings.wait_replicas
        if wanted == 0:
            applied, duplicates = await self._script(keys=keys, args=args)
            return int(applied), int(duplicates)
        async with self._client.pipeline(transaction=False) as pipe:
            await self._script(keys=keys, args=args, client=pipe)
            pipe.wait(wanted, self._settings.wait_timeout_ms)
            (applied, duplicates), confirmed = await pipe.execute()
        if int(confirmed) < wanted:
            raise StoreUnavailableError(
                f"valkey: {confirmed} of {wanted} replicas confirmed the apply within "
                f"{self._settings.wait_timeout_ms} ms",
                "replicas",
            )
        return int(applied), int(duplicates)

    async def apply_until_done(
        self,
        reports: list[Report],
        dead_letters: int,
        stop: asyncio.Event,
        on_wait: Callable[[StoreUnavailableError], None] | None = None,
    ) -> ApplyResult:
        """Applies, retrying while Valkey is away or cannot write (full, loading, busy,
        read-only: at most RECONNECT_CAP_S between attempts, so a Valkey that is back is used
        within that); never gives the reports up. `on_wait` hears each failed attempt.

        Raises StoreUnavailableError only when asked to stop while Valkey is still away, so
        the caller exits without acknowledging and the broker delivers the reports again;
        StoreRejectedError at once when Valkey will never take them.
        """

        async def attempt() -> ApplyResult:
            try:
                return await self.apply(reports, dead_letters)
            except StoreUnavailableError as exc:
                if on_wait is not None:
                    on_wait(exc)
                raise

        return await retry("valkey: apply", attempt, stop, errors=(StoreUnavailableError,))

    async def ping(self) -> bool:
        """True when Valkey answers."""
        try:
            return bool(await self._client.ping())
        except (ValkeyConnectionError, ValkeyTimeoutError, OSError):
            return False

    async def close(self) -> None:
        """Closes the connection pools."""
        await self._client.aclose()
        for sentinel in self._sentinels:
            await sentinel.aclose()


_ISO_SECONDS: dict[int, str] = {}


def exact(value: float) -> str:
    """The shortest text that reads back as exactly ``value`` (Python's float repr), with no
    ``.0`` on whole numbers: ``23``, ``23.4567891``, ``0.30000000000000004``. A value that
    passed validation is stored as accepted, never rounded to fewer digits."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


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


_Row = tuple[str, str, str, str, str, str, int, str, int, int]


def _script_input(reports: list[Report], interval_s: int) -> tuple[list[str], list[_Row]]:
    """apply.lua's KEYS and rows: the fixed keys, one seen key per report, then each
    municipality's three keys and each interval's key once (Lua indices, from 1)."""
    keys: list[str] = [*_FIXED_KEYS, *(_keys.seen_key(r.id) for r in reports)]
    index: dict[str, int] = {}
    rows = []
    for report in reports:
        municipality = municipality_by_code(report.municipality)
        slug = municipality.slug
        start = report.event_time_ms // 1000 // interval_s * interval_s
        if slug not in index:
            index[slug] = len(keys) + 1
            keys += [_keys.stream_key(slug), _keys.latest_key(slug), _keys.weather_counts_key(slug)]
        interval = _keys.interval_key(start)
        if interval not in index:
            index[interval] = len(keys) + 1
            keys.append(interval)
        rows.append(
            (
                report.id,
                municipality.name,
                exact(report.temperature_c),
                exact(report.humidity_pct),
                weather_by_code(report.weather).name,
                _iso(report.event_time_ms),
                start,
                slug,
                index[slug],
                index[interval],
            )
        )
    return keys, rows
