"""Back-off is capped, so a peer that is back is tried again within RECONNECT_CAP_S."""

import asyncio

import pytest

from clima.common.retry import RECONNECT_CAP_S, Backoff, retry


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
