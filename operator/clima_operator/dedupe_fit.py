"""Whether the managed Valkey can hold the dedupe window W at the rate reports are applied.

Valkey keeps one seen key of about BYTES_PER_ID for every id applied within W, plus about
BASE_BYTES of its own: at a steady rate R it needs ``R * W * BYTES_PER_ID + BASE_BYTES``
below its ``maxmemory``. Past that it refuses writes and the consumers hold (nothing is lost,
nothing is applied). The watch samples each managed Valkey's applied counter and maxmemory
in its own thread, every SAMPLE_EVERY_S; the reconciler reads the latest verdict, never
waits for Valkey, and shows it as the condition ``DedupeWindowFits``, which does not change
Ready: it warns before the hold, it is not one.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import valkey

from clima.store import STATS_HASH

logger = logging.getLogger(__name__)

CONDITION = "DedupeWindowFits"
#: what one id costs in Valkey, all in (docs/guarantees.md measures 132 B; sizing uses 140)
BYTES_PER_ID = 140
BASE_BYTES = 16 * 2**20
#: the rate is the mean over the last RATE_SPAN_S of samples, and needs MIN_SPAN_S of them
RATE_SPAN_S = 300.0
MIN_SPAN_S = 60.0
SAMPLE_EVERY_S = 15.0
_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Sample:
    """One reading of a Valkey: when, its applied counter and its ``maxmemory`` (0: none)."""

    at: float
    applied: int
    maxmemory: int


@dataclass(frozen=True)
class Target:
    """What to watch for one pipeline: its Valkey nodes (any one answers), its password, W,
    and the spec fields a message names."""

    hosts: tuple[str, ...]
    port: int
    password: str
    window_s: int
    window: str
    memory_limit: str | None


@dataclass(frozen=True)
class Verdict:
    """The condition's status, reason and message."""

    fits: bool | None  # None: not known yet
    reason: str
    message: str


def needed_bytes(rate: float, window_s: int) -> int:
    """Valkey memory that W at `rate` reports/s takes."""
    return math.ceil(rate * window_s * BYTES_PER_ID) + BASE_BYTES


def _mib(count: float) -> str:
    return f"{count / 2**20:,.0f} MiB"


def judge(samples: list[Sample], target: Target) -> Verdict:
    """The verdict for a Valkey's samples (oldest first)."""
    if not samples:
        return Verdict(None, "NotSampled", "Valkey has not answered the operator yet")
    last = samples[-1]
    recent = [s for s in samples if last.at - s.at <= RATE_SPAN_S]
    span = last.at - recent[0].at
    if span < MIN_SPAN_S:
        return Verdict(
            None, "Measuring", f"measuring the applied rate ({span:.0f}s of {MIN_SPAN_S:.0f}s)"
        )
    rate = max(0, last.applied - recent[0].applied) / span
    need = needed_bytes(rate, target.window_s)
    held = f"{rate:,.1f} reports/s applied over the last {span:.0f}s"
    if last.maxmemory <= 0:
        return Verdict(
            True,
            "NoMemoryBound",
            f"{held}; Valkey has no maxmemory, so W is bounded only by the node",
        )
    if need <= last.maxmemory:
        message = (f"{held} need about {_mib(need)} for retention.dedupeWindow "
                   f"{target.window}; Valkey's maxmemory is {_mib(last.maxmemory)}")  # fmt: skip
        return Verdict(True, "Fits", message)
    room = max(0, last.maxmemory - BASE_BYTES)
    window_fits = room / (rate * BYTES_PER_ID) if rate > 0 else float("inf")
    limit_needed = need / 0.75  # maxmemory is 3/4 of the memory limit (children/valkey.py)
    message = (
        f"{held} need about {_mib(need)} for retention.dedupeWindow {target.window}, more than "
        f"Valkey's maxmemory of {_mib(last.maxmemory)}: once full it refuses writes and the "
        f"consumers hold. Raise spec.valkey.managed.resources.limits.memory "
        f"(now {target.memory_limit or 'unset'}) to at least {_mib(limit_needed)}, or lower "
        f"spec.retention.dedupeWindow to at most {window_fits / 3600:,.1f}h"
    )
    return Verdict(False, "WindowTooLarge", message)


Reader = Callable[[Target], Sample | None]


def read(target: Target) -> Sample | None:
    """One reading from the first node that answers; None when none does."""
    for host in target.hosts:
        client = valkey.Valkey(
            host=host,
            port=target.port,
            password=target.password,
            socket_timeout=_TIMEOUT_S,
            socket_connect_timeout=_TIMEOUT_S,
        )
        try:
            memory: Any = client.info("memory")
            applied: Any = client.hget(STATS_HASH, "applied")
            return Sample(time.monotonic(), int(applied or 0), int(memory.get("maxmemory", 0)))
        except (valkey.ValkeyError, OSError, ValueError) as error:
            logger.debug("Valkey %s did not answer the operator: %s", host, error)
        finally:
            client.close()
    return None


Key = tuple[str, str]


class Watch:
    """Samples every tracked pipeline's Valkey in one background thread."""

    def __init__(self, reader: Reader = read, every: float = SAMPLE_EVERY_S) -> None:
        self._reader = reader
        self._every = every
        self._lock = threading.Lock()
        self._targets: dict[Key, Target] = {}
        self._samples: dict[Key, deque[Sample]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def track(self, key: Key, target: Target | None) -> None:
        """Watch `key`'s Valkey as `target` says (None: stop watching it); a changed target
        starts its samples afresh."""
        with self._lock:
            if target is None:
                self._targets.pop(key, None)
                self._samples.pop(key, None)
            elif self._targets.get(key) != target:
                self._targets[key] = target
                self._samples[key] = deque(maxlen=int(2 * RATE_SPAN_S / self._every) + 2)

    def verdict(self, key: Key) -> Verdict | None:
        """The latest verdict for `key`; None when it is not watched."""
        with self._lock:
            target = self._targets.get(key)
            samples = list(self._samples.get(key, ()))
        return None if target is None else judge(samples, target)

    def sample_once(self) -> None:
        """Reads every tracked Valkey once (the thread's step; tests call it directly)."""
        with self._lock:
            targets = dict(self._targets)
        for key, target in targets.items():
            sample = self._reader(target)
            with self._lock:
                if sample is not None and self._targets.get(key) == target:
                    self._samples[key].append(sample)

    def start(self) -> None:
        """Samples in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._loop, name="clima-dedupe-fit", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.sample_once()
            except Exception:  # the watch is advice: it never takes the operator down
                logger.exception("Sampling Valkey for the dedupe window failed")
