"""The HTTP shape of a report: the seed's Locust body (codes) or names, checked at the door.

Turns JSON into protobuf Reports, by two judges built from the same rules (`contract/rules.py`):
`ReportIn`, whose every rejection names the field, so a 422 tells the client exactly what to
fix; and `plain_report`, the api's fast lane, which takes the plainly valid bodies for a
fraction of the cost and leaves every other body to `ReportIn`.
"""

import os
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
)

from clima.contract._pb.clima.v1 import clima_pb2 as _pb
from clima.contract.catalogue import Municipality, Weather, parse_municipality, parse_weather
from clima.contract.rules import CODED, ID_MAX_LENGTH, ID_PATTERN, MEASURES, OPTIONAL_ID, valid_id

Code = StrictInt | StrictStr
Number = StrictFloat | StrictInt
_TEMPERATURE = MEASURES["temperature"]
_HUMIDITY = MEASURES["humidity"]
_MUNICIPALITY = CODED["municipality"]
_WEATHER = CODED["weather"]


class ReportIn(BaseModel):
    """One weather report as a client sends it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"municipality": 1, "temperature": 22, "humidity": 60, "weather": 1},
                {
                    "municipality": "Amatitlán",
                    "temperature": 24.5,
                    "humidity": 71,
                    "weather": "rainy",
                },
            ]
        },
    )

    municipality: Annotated[Code, Field(description=_MUNICIPALITY.description)]
    temperature: Annotated[
        Number,
        Field(ge=_TEMPERATURE.low, le=_TEMPERATURE.high, description=_TEMPERATURE.description),
    ]
    humidity: Annotated[
        Number, Field(ge=_HUMIDITY.low, le=_HUMIDITY.high, description=_HUMIDITY.description)
    ]
    weather: Annotated[Code, Field(description=_WEATHER.description)]
    id: Annotated[
        str | None,
        Field(
            default=None,
            pattern=ID_PATTERN,
            max_length=ID_MAX_LENGTH,
            description="optional client id; resending a report with the same id counts it once",
        ),
    ] = None

    @field_validator(*CODED)
    @classmethod
    def _known(cls, value: int | str, info: ValidationInfo) -> int | str:
        CODED[str(info.field_name)].parse(value)
        return value

    def to_report(self, now_ms: int | None = None) -> _pb.Report:
        """Builds the protobuf report, giving it an id and the acceptance time."""
        return _pb.Report(
            id=self.id or uuid.uuid4().hex,
            event_time_ms=now_ms if now_ms is not None else time.time_ns() // 1_000_000,
            municipality=parse_municipality(self.municipality).code,  # type: ignore[arg-type]
            temperature_c=float(self.temperature),
            humidity_pct=float(self.humidity),
            weather=parse_weather(self.weather).code,  # type: ignore[arg-type]
        )


_KEYS = frozenset((*CODED, *MEASURES, OPTIONAL_ID))
_REQUIRED = len(CODED) + len(MEASURES)
_IDS: list[str] = []


def new_id() -> str:
    """32 random hex digits like uuid4().hex, drawn from the OS 256 ids at a time."""
    if not _IDS:
        raw = os.urandom(16 * 256).hex()
        _IDS.extend(raw[i : i + 32] for i in range(0, len(raw), 32))
    return _IDS.pop()


def _code(value: object, parse: Callable[[int | str], Municipality | Weather]) -> int | None:
    if type(value) is not int and type(value) is not str:  # not bool, as StrictInt
        return None
    try:
        return parse(value).code
    except ValueError:
        return None


def _number(value: object, low: float, high: float) -> float | None:
    if type(value) is not int and type(value) is not float:  # not bool, as StrictInt
        return None
    return float(value) if low <= value <= high else None


def plain_report(data: Any, now_ms: int) -> _pb.Report | None:
    """The report of a plainly valid body (one ReportIn accepts, judged by the same rules
    without pydantic), or None to let ReportIn judge it and name what is wrong."""
    if type(data) is not dict or len(data) < _REQUIRED or not data.keys() <= _KEYS:
        return None
    temperature = _number(data.get("temperature"), _TEMPERATURE.low, _TEMPERATURE.high)
    humidity = _number(data.get("humidity"), _HUMIDITY.low, _HUMIDITY.high)
    municipality = _code(data.get("municipality"), _MUNICIPALITY.parse)
    weather = _code(data.get("weather"), _WEATHER.parse)
    if temperature is None or humidity is None or municipality is None or weather is None:
        return None
    report_id = data.get(OPTIONAL_ID)
    if report_id is None:
        report_id = new_id()
    elif type(report_id) is not str or not valid_id(report_id):
        return None
    return _pb.Report(
        id=report_id,
        event_time_ms=now_ms,
        municipality=municipality,  # type: ignore[arg-type]
        temperature_c=temperature,
        humidity_pct=humidity,
        weather=weather,  # type: ignore[arg-type]
    )
