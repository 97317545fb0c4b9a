"""The Valkey model of Clima: how reports are applied once and what dashboards read.

Keys (all growth bounded):
- HASH   `municipality:<slug>`          latest report of a municipality (the seed's key)
- STREAM `clima:<slug>`                 every report, capped (the seed's key; newest last)
- HASH   `clima:weather_counts`         reports per weather name, all municipalities
- HASH   `clima:weather_counts:<slug>`  reports per weather name, one municipality
- SET    `clima:municipalities`         slugs that have reported
- HASH   `clima:interval:<start_s>`     sums and count of one interval (expires)
- STREAM `clima:averages`               one entry per update of an interval's averages, capped
- HASH   `clima:stats`                  applied, duplicates, dead_letters totals
- STRING `clima:seen:<id>`              one per id applied, expires after the dedupe window W
"""

from clima.store._keys import (
    AVERAGES_STREAM,
    MUNICIPALITIES_SET,
    STATS_HASH,
    WEATHER_COUNTS_HASH,
    interval_key,
    latest_key,
    seen_key,
    stream_key,
    weather_counts_key,
)
from clima.store._store import (
    DEDUPE_WINDOW_S,
    ApplyResult,
    Store,
    StoreRejectedError,
    StoreSettings,
    StoreUnavailableError,
)

__all__ = [
    "AVERAGES_STREAM",
    "DEDUPE_WINDOW_S",
    "MUNICIPALITIES_SET",
    "STATS_HASH",
    "WEATHER_COUNTS_HASH",
    "ApplyResult",
    "Store",
    "StoreRejectedError",
    "StoreSettings",
    "StoreUnavailableError",
    "interval_key",
    "latest_key",
    "seen_key",
    "stream_key",
    "weather_counts_key",
]
