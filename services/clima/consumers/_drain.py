"""Drain mode: consume until the broker holds nothing more to apply, then exit 0.

The operator runs a consumer this way (a Kubernetes Job) for a broker that a pipeline's mode
no longer uses, once no writer publishes to it any more: the Job's success is the sign that
every report the broker accepted has reached Valkey, and that the broker can go.

"Nothing more" is asked of the broker, not of this process: for Kafka, the group's
committed offset equals the high watermark on every partition of the topic; for RabbitMQ,
the queue has no ready message, this consumer is its only one and holds no delivery. The
answer must stay "nothing" for a quiet period, so a delivery on its way, or one given back
by a consumer that is just stopping, is not missed.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

#: How many messages are still to apply; None while that cannot be told (not connected,
#: another consumer still attached).
Backlog = Callable[[], Awaitable[int | None]]
PROGRESS_EVERY_S = 10.0


@dataclass
class QuietPeriod:
    """Says "drained" once every backlog seen for `quiet_s` seconds was zero."""

    quiet_s: float
    _since: float | None = None

    def observe(self, left: int | None, now: float) -> bool:
        """Feeds one reading taken at `now`; True once zero has held for the quiet period."""
        if left != 0:
            self._since = None
            return False
        if self._since is None:
            self._since = now
        return now - self._since >= self.quiet_s


async def wait_until_drained(
    backlog: Backlog,
    stop: asyncio.Event,
    quiet_s: float,
    every_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Reads the backlog every `every_s` until it has been zero for `quiet_s` (True), or
    until `stop` is set first (False)."""
    quiet = QuietPeriod(quiet_s)
    told = clock() - PROGRESS_EVERY_S
    while not stop.is_set():
        left = await backlog()
        now = clock()
        if quiet.observe(left, now):
            logger.info("drain: nothing left for %.0fs; stopping", quiet_s)
            return True
        if left is not None and now - told >= PROGRESS_EVERY_S:  # the first count at once
            told = now
            logger.info("drain: messages left to apply: %d", left, extra={"left": left})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
    return False


def leave_summary(path: Path, line: str) -> bool:
    """Writes `line` to the termination-message file if it exists (in a pod it does; on a
    workstation /dev/termination-log does not, and nothing is created); True if written."""
    if not path.is_file():
        return False
    try:
        path.write_text(line + "\n", encoding="utf-8")
    except OSError as exc:  # read-only or full: the log line is still there
        logger.warning("drain: cannot write the summary to %s (%s)", path, exc)
        return False
    return True
