"""Drain mode's decision: "drained" only after the backlog stayed zero for the quiet period."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from clima.consumers._drain import QuietPeriod, leave_summary, wait_until_drained
from clima.consumers._metrics import record, tally
from clima.consumers.settings import ConsumerSettings
from clima.store import ApplyResult


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


def test_the_summary_goes_to_an_existing_termination_log_only(tmp_path: Path) -> None:
    """In a pod the file exists and gets the line; elsewhere nothing is created."""
    present = tmp_path / "termination-log"
    present.write_text("")
    assert leave_summary(present, "rabbit drained: 3 reports applied")
    assert present.read_text() == "rabbit drained: 3 reports applied\n"
    missing = tmp_path / "absent"
    assert not leave_summary(missing, "x")
    assert not missing.exists()


def test_the_tally_counts_this_process_applies() -> None:
    """What `record` counted for a source is what the drain's summary says."""
    before = tally("tally-test")
    record("tally-test", [], ApplyResult(applied=7, duplicates=2), dead=1)
    record("tally-test", [], ApplyResult(applied=3, duplicates=0), dead=0)
    after = tally("tally-test")
    assert (after.applied, after.duplicates, after.dead) == (
        before.applied + 10, before.duplicates + 2, before.dead + 1,
    )  # fmt: skip
    assert after.summary("tally-test", 12.4) == (
        f"tally-test drained: {after.applied} reports applied, {after.duplicates} duplicates, "
        f"{after.dead} dead letters in 12s"
    )
