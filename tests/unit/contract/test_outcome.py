"""A refusal is `refused` only when the writer says so; anything else leaves it unknown."""

import orjson
import pytest

from clima.contract.outcome import OUTCOME_KEY, outcome_of, unavailable_body


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (((OUTCOME_KEY, "refused"),), "refused"),
        ((("other", "x"), (OUTCOME_KEY, b"refused")), "refused"),
        (((OUTCOME_KEY, "unknown"),), "unknown"),
        (((OUTCOME_KEY, "REFUSED"),), "unknown"),
        ((("clima-other", "refused"),), "unknown"),
        ((), "unknown"),
        (None, "unknown"),
    ],
)
def test_outcome_of_trailing_metadata(
    metadata: tuple[tuple[str, str | bytes], ...] | None, expected: str
) -> None:
    """Only the exact key and value count as a refusal before publishing."""
    assert outcome_of(metadata) == expected


def test_unavailable_body_names_cause_outcome_and_ids() -> None:
    """A 503 body carries the cause, the outcome and the ids in request order."""
    body = orjson.loads(unavailable_body("kafka: unavailable", "refused", ["b", "a"]))
    assert body == {
        "detail": "pipeline unavailable: kafka: unavailable",
        "outcome": "refused",
        "ids": ["b", "a"],
    }
