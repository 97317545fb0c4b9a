"""The rules a report must respect, stated once: the ranges and catalogues that the api's
two lanes read at the door (`contract/http.py`: `ReportIn` and `plain_report` are both built
from `MEASURES`, `CODED` and the id rule) and that the writer and consumers check again on
decoded reports (for messages that reached them some other way)."""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from clima.contract._pb.clima.v1 import clima_pb2 as _pb
from clima.contract.catalogue import (
    Municipality,
    Weather,
    municipality_by_code,
    parse_municipality,
    parse_weather,
    weather_by_code,
)

TEMPERATURE_MIN_C = -50.0
TEMPERATURE_MAX_C = 60.0
HUMIDITY_MIN_PCT = 0.0
HUMIDITY_MAX_PCT = 100.0
ID_MAX_LENGTH = 64
ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
"""A client id's characters, for pydantic (whose `$` is the end of the text)."""
_ID = re.compile(r"[A-Za-z0-9_.:-]+")  # fullmatch: Python's `$` also matches before a "\n"
EVENT_TIME_MIN_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
EVENT_TIME_MAX_AHEAD_MS = 24 * 3600 * 1000
"""How far past the checker's clock an event time may be: clock skew, never a typo of 10**15
(which the store cannot format as a date)."""


@dataclass(frozen=True, slots=True)
class Measure:
    """A number (int or float, never a bool or a string) within low..high inclusive."""

    low: float
    high: float
    description: str


@dataclass(frozen=True, slots=True)
class Coded:
    """A catalogue entry, by code (an int, never a bool) or name (a string) that `parse` knows."""

    parse: Callable[[int | str], Municipality | Weather]
    description: str


MEASURES = {
    "temperature": Measure(TEMPERATURE_MIN_C, TEMPERATURE_MAX_C, "air temperature in °C"),
    "humidity": Measure(HUMIDITY_MIN_PCT, HUMIDITY_MAX_PCT, "relative humidity in %"),
}
CODED = {
    "municipality": Coded(
        parse_municipality, "1-4, or mixco, guatemala, amatitlan, chinautla (any case or accents)"
    ),
    "weather": Coded(parse_weather, "1-4, or sunny, cloudy, rainy, foggy (or Spanish names)"),
}
OPTIONAL_ID = "id"
"""The one optional field: the client's id (valid_id), else the api gives one."""


def valid_id(value: str) -> bool:
    """True for an id of 1-ID_MAX_LENGTH characters of ID_PATTERN (no newline, no space)."""
    return len(value) <= ID_MAX_LENGTH and _ID.fullmatch(value) is not None


def event_time_problem(event_time_ms: int, now_ms: int | None = None) -> str | None:
    """Says why an event time is outside 2000-01-01 .. now + a day, or None."""
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if not EVENT_TIME_MIN_MS <= event_time_ms <= now + EVENT_TIME_MAX_AHEAD_MS:
        return "event_time_ms: must be Unix milliseconds from 2000-01-01 to a day from now"
    return None


def report_problem(report: _pb.Report) -> str | None:  # noqa: PLR0911 - one return per rule
    """Says what is wrong with a decoded report, naming the field, or None when it is valid."""
    if not valid_id(report.id):
        return f"id: must be 1-{ID_MAX_LENGTH} characters of {ID_PATTERN}"
    problem = event_time_problem(report.event_time_ms)
    if problem is not None:
        return problem
    try:
        municipality_by_code(report.municipality)
    except KeyError:
        return f"municipality: unknown code {report.municipality}"
    try:
        weather_by_code(report.weather)
    except KeyError:
        return f"weather: unknown code {report.weather}"
    if not TEMPERATURE_MIN_C <= report.temperature_c <= TEMPERATURE_MAX_C:
        low, high = TEMPERATURE_MIN_C, TEMPERATURE_MAX_C
        return f"temperature_c: {report.temperature_c} outside {low}..{high}"
    if not HUMIDITY_MIN_PCT <= report.humidity_pct <= HUMIDITY_MAX_PCT:
        return f"humidity_pct: {report.humidity_pct} outside {HUMIDITY_MIN_PCT}..{HUMIDITY_MAX_PCT}"
    return None
