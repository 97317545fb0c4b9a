"""Measures are stored as accepted: the text written to Valkey reads back as the same float."""

import math

import pytest

from clima.store._store import exact


@pytest.mark.parametrize(
    "value",
    [23.4567891, -12.000001, 45.123456789, 0.1 + 0.2, 59.999999999999, -89.99, 1e-7, 100.0],
)
def test_the_stored_text_reads_back_as_the_accepted_value(value: float) -> None:
    """No rounding of what passed validation, however many digits it has."""
    assert float(exact(value)) == value


@pytest.mark.parametrize(
    ("value", "text"), [(23.0, "23"), (-5.0, "-5"), (0.0, "0"), (20.5, "20.5")]
)
def test_whole_and_short_numbers_keep_their_short_form(value: float, text: str) -> None:
    """What was stored before for short values is stored still (no trailing .0)."""
    assert exact(value) == text


def test_text_is_a_number_lua_reads() -> None:
    """apply.lua sums the text with tonumber: it stays a plain decimal or exponent form."""
    for value in (23.4567891, 1e-7, 0.30000000000000004):
        text = exact(value)
        assert not math.isnan(float(text))
        assert all(char in "0123456789.-e+" for char in text), text
