"""The ranges a report must respect, shared by the api (at the door) and the consumers
(for messages that reached a broker some other way)."""

from clima.contract._pb.clima.v1 import clima_pb2 as _pb
from clima.contract.catalogue import municipality_by_code, weather_by_code

TEMPERATURE_MIN_C = -50.0
TEMPERATURE_MAX_C = 60.0
HUMIDITY_MIN_PCT = 0.0
HUMIDITY_MAX_PCT = 100.0
ID_MAX_LENGTH = 64


def report_problem(report: _pb.Report) -> str | None:  # noqa: PLR0911 - one return per rule
    """Says what is wrong with a decoded report, naming the field, or None when it is valid."""
    if not report.id or len(report.id) > ID_MAX_LENGTH:
        return f"id: must be 1-{ID_MAX_LENGTH} characters"
    if report.event_time_ms <= 0:
        return "event_time_ms: must be a positive Unix time in milliseconds"
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
