"""The ranges a report must respect, shared by the api (at the door) and the consumers
(for messages that reached a broker some other way)."""

import re
import time

from clima.contract._pb.clima.v1 import clima_pb2 as _pb
from clima.contract.catalogue import municipality_by_code, weather_by_code

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
