"""Whether this consumer holds a batch because Valkey cannot take it (or the broker its dead
letters), and why.

A consumer that holds (Valkey full, away, loading, …) is alive, so its liveness stays green
(a restart would not help and only replays the batch), but it is not doing its job: its
readiness fails with the reason, a gauge says it holds, and the operator's status shows the
component not ready. The first successful apply ends the hold.
"""

import time
from collections.abc import Callable

from prometheus_client import Gauge

HOLDING = Gauge(
    "clima_consumer_holding",
    "1 while the consumer holds a batch Valkey cannot take, labelled with the reason",
    ["reason"],
)
# what each StoreUnavailableError reason means, as readiness says it
REASONS = {
    "oom": "valkey full (OOM)",
    "unreachable": "valkey unreachable",
    "loading": "valkey loading its data",
    "busy": "valkey busy",
    "readonly": "valkey read-only",
    "misconf": "valkey cannot persist (MISCONF)",
    "auth": "valkey refused the user",
    "replicas": "no valkey replica confirmed the apply",
    "dead-letters": "the broker does not confirm the batch's dead letters",
}
DEAD_LETTERS = "dead-letters"


class Hold:
    """The hold of one consumer process: set by a failed apply attempt, cleared by a success."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._reason: str | None = None
        self._since = 0.0
        self._attempts = 0
        for reason in REASONS:
            HOLDING.labels(reason).set(0)

    @property
    def held(self) -> bool:
        """True from a failed apply until the next successful one."""
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        """The reason of the last failed attempt while holding (a key of REASONS)."""
        return self._reason

    def waiting(self, reason: str) -> None:
        """An apply attempt failed for `reason` and will be retried."""
        if self._reason is None:
            self._since = self._clock()
            self._attempts = 0
        if reason != self._reason:
            if self._reason is not None:
                HOLDING.labels(self._reason).set(0)
            HOLDING.labels(reason).set(1)
            self._reason = reason
        self._attempts += 1

    def applied(self) -> None:
        """An apply succeeded: the hold, if any, is over."""
        if self._reason is not None:
            HOLDING.labels(self._reason).set(0)
            self._reason = None

    def describe(self) -> str:
        """'holding: valkey full (OOM) for 12 s, 9 attempts' ('' when not holding)."""
        if self._reason is None:
            return ""
        what = REASONS.get(self._reason, f"valkey: {self._reason}")
        for_s = self._clock() - self._since
        return f"holding: {what} for {for_s:.0f} s, {self._attempts} attempts"


HOLD = Hold()
"""The process's hold: one consumer runs per process."""
