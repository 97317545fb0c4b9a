"""The HTTP shape of a report: the seed's Locust body (codes) or names, checked at the door.

Turns JSON into protobuf Reports; every rejection names the field, so a 422 tells the
client exactly what to fix.
"""

import time
import uuid
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from clima.contract._pb.clima.v1 import clima_pb2 as _pb
from clima.contract.catalogue import parse_municipality, parse_weather
from clima.contract.rules import (
    HUMIDITY_MAX_PCT,
    HUMIDITY_MIN_PCT,
    ID_MAX_LENGTH,
    ID_PATTERN,
    TEMPERATURE_MAX_C,
    TEMPERATURE_MIN_C,
)

Code = StrictInt | StrictStr


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

    municipality: Annotated[
        Code,
        Field(description="1-4, or mixco, guatemala, amatitlan, chinautla (any case or accents)"),
    ]
    temperature: Annotated[
        StrictFloat | StrictInt,
        Field(ge=TEMPERATURE_MIN_C, le=TEMPERATURE_MAX_C, description="air temperature in °C"),
    ]
    humidity: Annotated[
        StrictFloat | StrictInt,
        Field(ge=HUMIDITY_MIN_PCT, le=HUMIDITY_MAX_PCT, description="relative humidity in %"),
    ]
    weather: Annotated[
        Code, Field(description="1-4, or sunny, cloudy, rainy, foggy (or Spanish names)")
    ]
    id: Annotated[
        str | None,
        Field(
            default=None,
            pattern=ID_PATTERN,
            max_length=ID_MAX_LENGTH,
            description="optional client id; resending a report with the same id counts it once",
        ),
    ] = None

    @field_validator("municipality")
    @classmethod
    def _known_municipality(cls, value: int | str) -> int | str:
        parse_municipality(value)
        return value

    @field_validator("weather")
    @classmethod
    def _known_weather(cls, value: int | str) -> int | str:
        parse_weather(value)
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
