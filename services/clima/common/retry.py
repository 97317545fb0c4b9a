"""Retry with capped exponential backoff until it works or the process is told to stop."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


async def retry(what: str, attempt: Callable[[], Awaitable[T]], stop: asyncio.Event) -> T:
    """Runs `attempt` until it returns; re-raises its last error only once `stop` is set."""
    delay = 0.2
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if stop.is_set():
                raise
            logger.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
