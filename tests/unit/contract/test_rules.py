"""The rules a report must respect, written once for the api, the writer and the consumers."""

import pytest

from clima.contract.rules import (
    EVENT_TIME_MAX_AHEAD_MS,
    EVENT_TIME_MIN_MS,
    event_time_problem,
    valid_id,
)

NOW_MS = 1_764_585_600_000


@pytest.mark.parametrize(
    ("event_time_ms", "ok"),
    [
        (EVENT_TIME_MIN_MS, True),
        (EVENT_TIME_MIN_MS - 1, False),
        (NOW_MS + EVENT_TIME_MAX_AHEAD_MS, True),
        (NOW_MS + EVENT_TIME_MAX_AHEAD_MS + 1, False),
        (10**15, False),
        (0, False),
    ],
)
def test_event_time_range(event_time_ms: int, ok: bool) -> None:
    """Event times from 2000-01-01 to a day past the checker's clock pass, nothing else."""
    assert (event_time_problem(event_time_ms, NOW_MS) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("abc", True), ("ok:1.2_-", True), ("x" * 64, True), ("x" * 65, False), ("", False),
     ("abc\n", False), ("a b", False), ("ü", False)],
)  # fmt: skip
def test_ids(value: str, ok: bool) -> None:
    """Ids are 1-64 characters of [A-Za-z0-9_.:-], with no newline even at the end."""
    assert valid_id(value) is ok
