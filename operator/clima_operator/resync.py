"""A periodic level-based pass over every pipeline, whatever the watches delivered.

It repairs what no watch reports (a Service deleted by hand, a missed event). kopf timers
would do this too, but kopf puts a finalizer on every object that has one, so a pipeline
could not be deleted while the operator is down; this plain thread needs no finalizer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

Lister = Callable[[], list[tuple[str, str]]]
Pass = Callable[[str, str], object]


class Resync:
    """Calls ``reconcile(namespace, name)`` for every listed pipeline every ``interval`` s."""

    def __init__(self, pipelines: Lister, reconcile: Pass, interval: float) -> None:
        self._pipelines = pipelines
        self._reconcile = reconcile
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="clima-resync", daemon=True)

    def run_once(self) -> None:
        """One pass over every pipeline; a failure is logged and the others still run."""
        try:
            found = self._pipelines()
        except Exception:
            logger.exception("Could not list ClimaPipelines for the periodic pass")
            return
        for namespace, name in found:
            try:
                self._reconcile(namespace, name)
            except Exception:
                logger.exception(
                    "Periodic reconcile failed", extra={"namespace": namespace, "pipeline": name}
                )

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.run_once()

    def start(self) -> None:
        """Start the background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the pass in progress, if any."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
