"""Drain mode's decision: "drained" only after the backlog stayed zero for the quiet period."""

import asyncio
from collections.abc import Iterator

import pytest

from clima.consumers._drain import QuietPeriod, wait_until_drained
from clima.consumers.settings import ConsumerSettings


def test_zero_must_hold_for_the_quiet_period() -> None:
    """A first zero starts the clock; "drained" only once zero held for quiet_s."""
    quiet = QuietPeriod(5.0)
    assert not quiet.observe(0, 100.0)
    assert not quiet.observe(0, 104.9)
    assert quiet.observe(0, 105.0)


def test_anything_left_or_unknown_restarts_the_clock() -> None:
    """A message given back (or a reading that cannot be taken) restarts the quiet period."""
    quiet = QuietPeriod(5.0)
    assert not quiet.observe(0, 100.0)
    assert not quiet.observe(3, 103.0)
    assert not quiet.observe(0, 104.0)
    assert not quiet.observe(0, 108.0)
    assert not quiet.observe(None, 108.5)
    assert not quiet.observe(0, 109.0)
    assert quiet.observe(0, 114.0)


def _clock(step: float) -> Iterator[float]:
    now = 0.0
    while True:
        yield now
        now += step


async def test_waits_for_the_backlog_to_empty_and_stay_empty() -> None:
    """Readings 4, 2, 0, 1, 0, 0, 0 with a 2 s quiet period: drained at the last zero."""
    readings = iter([4, 2, 0, 1, 0, 0, 0])
    seen: list[int | None] = []
    ticks = _clock(1.0)

    async def backlog() -> int | None:
        value = next(readings)
        seen.append(value)
        return value

    drained = await wait_until_drained(backlog, asyncio.Event(), 2.0, 0.0, lambda: next(ticks))
    assert drained
    assert seen == [4, 2, 0, 1, 0, 0, 0]


async def test_stop_before_drained_says_not_drained() -> None:
    """Asked to stop while messages remain: False, so the process exits non-zero and a Job
    never reads "succeeded" for a broker that still holds reports."""
    stop = asyncio.Event()

    async def backlog() -> int | None:
        stop.set()
        return 7

    assert not await wait_until_drained(backlog, stop, 0.0, 0.01)


def test_drain_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLIMA_CONSUMER_DRAIN and the quiet period are read from the environment."""
    monkeypatch.setenv("CLIMA_CONSUMER_DRAIN", "true")
    monkeypatch.setenv("CLIMA_CONSUMER_DRAIN_QUIET_S", "2.5")
    settings = ConsumerSettings()
    assert settings.drain
    assert settings.drain_quiet_s == 2.5
