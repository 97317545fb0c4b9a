"""Gathers reports from concurrent requests into gRPC batches.

While a batch is in flight, new reports wait and leave together in the next one: at low
load each report travels alone and at once, at high load batches grow by themselves. Every
request still learns the fate of its own reports: durable (202) or not (503).
"""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from clima.api.errors import PipelineUnavailableError
from clima.contract import Report
from clima.contract.outcome import REFUSED

logger = logging.getLogger(__name__)
Send = Callable[[list[Report]], Awaitable[None]]


class Batcher:
    """Coalesces submissions into batches of at most `max_reports`, `max_inflight` at a time."""

    def __init__(self, send: Send, max_reports: int, max_inflight: int, max_pending: int) -> None:
        self._send = send
        self._max_reports = max_reports
        self._max_pending = max_pending
        self._pending: deque[tuple[list[Report], asyncio.Future[None]]] = deque()
        self._pending_reports = 0
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(max_inflight)
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, reports: list[Report]) -> None:
        """Returns when the reports are durable; PipelineUnavailableError when they are not."""
        if self._pending_reports + len(reports) > self._max_pending:
            raise PipelineUnavailableError("overloaded: too many reports waiting", REFUSED)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((reports, future))
        self._pending_reports += len(reports)
        self._wakeup.set()
        await asyncio.shield(future)

    async def run(self) -> None:
        """Sends batches until cancelled."""
        while True:
            await self._wakeup.wait()
            await self._slots.acquire()
            taken = self._take()
            if not self._pending:
                self._wakeup.clear()
            if not taken:
                self._slots.release()
                continue
            task = asyncio.create_task(self._flush(taken))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Waits for every batch in flight (used on shutdown)."""
        while self._pending or self._tasks:  # noqa: ASYNC110 - polled only at shutdown
            await asyncio.sleep(0.01)

    def _take(self) -> list[tuple[list[Report], asyncio.Future[None]]]:
        taken: list[tuple[list[Report], asyncio.Future[None]]] = []
        size = 0
        while self._pending and (not taken or size + len(self._pending[0][0]) <= self._max_reports):
            item = self._pending.popleft()
            taken.append(item)
            size += len(item[0])
        self._pending_reports -= size
        return taken

    async def _flush(self, taken: list[tuple[list[Report], asyncio.Future[None]]]) -> None:
        batch = [report for reports, _ in taken for report in reports]
        try:
            await self._send(batch)
        except Exception as exc:
            for _, future in taken:
                if not future.done():
                    future.set_exception(exc)
        else:
            for _, future in taken:
                if not future.done():
                    future.set_result(None)
        finally:
            self._slots.release()
