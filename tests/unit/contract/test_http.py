"""The HTTP model checks ranges and names the field it refuses."""

import pydantic
import pytest

from clima.contract.http import ReportIn


def test_seed_body_becomes_a_report() -> None:
    """The seed's Locust body (all ints) builds a protobuf report with an id and a time."""
    report = ReportIn.model_validate(
        {"municipality": 2, "temperature": 25, "humidity": 50, "weather": 3}
    ).to_report(now_ms=1_700_000_000_000)
    assert (report.municipality, report.weather) == (2, 3)
    assert (report.temperature_c, report.humidity_pct) == (25.0, 50.0)
    assert len(report.id) == 32
    assert report.event_time_ms == 1_700_000_000_000


def test_client_id_is_kept() -> None:
    """A client-chosen id travels unchanged so a resend counts once."""
    body = {
        "municipality": "mixco",
        "temperature": 1.5,
        "humidity": 2,
        "weather": "sunny",
        "id": "a-1",
    }
    assert ReportIn.model_validate(body).to_report().id == "a-1"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 60.5),
        ("temperature", -51),
        ("temperature", "20"),
        ("humidity", 101),
        ("humidity", None),
        ("municipality", "lima"),
        ("weather", 9),
        ("weather", 2.0),
    ],
)
def test_bad_field_is_named(field: str, value: object) -> None:
    """Out-of-range, wrongly typed and unknown values are refused with the field's name."""
    body: dict[str, object] = {"municipality": 1, "temperature": 20, "humidity": 50, "weather": 1}
    body[field] = value
    with pytest.raises(pydantic.ValidationError) as caught:
        ReportIn.model_validate(body)
    assert {error["loc"][0] for error in caught.value.errors()} == {field}


def test_unknown_field_is_refused() -> None:
    """A misspelt field is refused rather than silently ignored."""
    with pytest.raises(pydantic.ValidationError, match="temperatura"):
        ReportIn.model_validate(
            {"municipality": 1, "temperatura": 20, "temperature": 20, "humidity": 5, "weather": 1}
        )
