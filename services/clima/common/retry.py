"""Retry with capped exponential back-off until it works or the process is told to stop.

Every reconnect and retry loop of Clima takes its delays from `Backoff`, so one cap bounds how
long a process may sleep after its peer is back: `RECONNECT_CAP_S`. `retry` is the loop for
coroutines, `retry_blocking` the same loop for a thread of its own (librdkafka's admin calls).
"""

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_DELAY_S = 0.2
# the longest sleep between two attempts: a peer that is ready again is tried within this
RECONNECT_CAP_S = 1.0


class Backoff:
    """Delays that double from `first_s` up to `cap_s`; `reset()` after a success."""

    def __init__(self, first_s: float = FIRST_DELAY_S, cap_s: float = RECONNECT_CAP_S) -> None:
        self._first_s = first_s
        self._cap_s = cap_s
        self._next_s = first_s

    def next(self) -> float:
        """The delay to sleep now; the following one is twice as long, up to the cap."""
        delay = self._next_s
        self._next_s = min(delay * 2, self._cap_s)
        return delay

    def reset(self) -> None:
        """Starts again from the first delay."""
        self._next_s = self._first_s


async def retry(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    stop: asyncio.Event,
    errors: tuple[type[BaseException], ...] = (Exception,),
    cap_s: float = RECONNECT_CAP_S,
) -> T:
    """Runs `attempt` until it returns; re-raises its last error only once `stop` is set.

    Only `errors` are retried; anything else propagates at once.
    """
    backoff = Backoff(cap_s=cap_s)
    while True:
        try:
            return await attempt()
        except errors as exc:
            if stop.is_set():
                raise
            delay = backoff.next()
            logger.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)


def retry_blocking(
    what: str,
    attempt: Callable[[], T],
    stop: threading.Event,
    *,
    errors: tuple[type[BaseException], ...] = (Exception,),
    on_error: Callable[[BaseException], None] | None = None,
    cap_s: float = RECONNECT_CAP_S,
) -> T | None:
    """Runs the blocking `attempt` until it returns; None once `stop` is set first.

    Only `errors` are retried (each one told to `on_error` first); anything else propagates.
    """
    backoff = Backoff(cap_s=cap_s)
    while not stop.is_set():
        try:
            return attempt()
        except errors as exc:
            if on_error is not None:
                on_error(exc)
            delay = backoff.next()
            logger.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
            stop.wait(delay)
    return None
