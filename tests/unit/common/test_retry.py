"""Back-off is capped, so a peer that is back is tried again within RECONNECT_CAP_S."""

import asyncio
import threading

import pytest

from clima.common.retry import RECONNECT_CAP_S, Backoff, retry, retry_blocking


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    """0.2, 0.4, 0.8, then the cap for good; reset() starts over."""
    backoff = Backoff()
    delays = [backoff.next() for _ in range(6)]
    assert delays == [0.2, 0.4, 0.8, RECONNECT_CAP_S, RECONNECT_CAP_S, RECONNECT_CAP_S]
    backoff.reset()
    assert backoff.next() == 0.2


async def test_retry_retries_only_the_errors_named() -> None:
    """A listed error is retried until the attempt works; any other error propagates at once."""
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("not yet")
        return "done"

    stop = asyncio.Event()
    assert await retry("flaky", flaky, stop, errors=(ConnectionError,), cap_s=0.01) == "done"
    assert len(calls) == 3

    async def broken() -> str:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        await retry("broken", broken, stop, errors=(ConnectionError,))


async def test_retry_gives_up_only_once_stopped() -> None:
    """With `stop` set the last error is raised instead of waiting again."""
    stop = asyncio.Event()
    stop.set()

    async def down() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError, match="down"):
        await retry("down", down, stop)


def test_retry_blocking_retries_tells_each_error_and_stops() -> None:
    """The thread's loop retries the errors named (each told to `on_error`) until the attempt
    works, and returns None without another attempt once `stop` is set."""
    calls: list[int] = []
    seen: list[str] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError(f"not yet {len(calls)}")
        return "done"

    stop = threading.Event()
    got = retry_blocking(
        "flaky", flaky, stop, errors=(ConnectionError,), on_error=lambda e: seen.append(str(e))
    )
    assert got == "done"
    assert seen == ["not yet 1", "not yet 2"]
    stop.set()
    assert retry_blocking("stopped", flaky, stop) is None
    assert len(calls) == 3


def test_retry_blocking_lets_other_errors_through() -> None:
    """An error not named propagates at once: a bug is not an outage."""

    def broken() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        retry_blocking("broken", broken, threading.Event(), errors=(ConnectionError,))
