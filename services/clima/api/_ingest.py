"""The api's one way in, shared by both lanes (FastAPI's routes and the fast lane): built
reports are batched to the upstream, and each request is answered with their fate.

Built once per process (`create_api`); the FastAPI app's lifespan starts and drains it.
"""

import asyncio
import time

import grpc
import orjson
from prometheus_client import Counter, Histogram
from starlette.responses import Response

from clima.api._batcher import Batcher
from clima.api.errors import ApiError, error_of
from clima.api.settings import ApiSettings
from clima.common.refusal import refusal_of
from clima.common.upstream import Upstream
from clima.contract import Report, ReportBatch

ACCEPTED = Counter("clima_api_reports_accepted_total", "Reports durable and answered 202")
REFUSED = Counter("clima_api_requests_refused_total", "Requests answered with an error", ["status"])
LATENCY = Histogram(
    "clima_api_accept_seconds",
    "Time from request to durable acceptance",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_JSON = "application/json"


class Ingest:
    """Batches reports to the upstream on one persistent channel, opened by `start()`."""

    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings
        self._upstream: Upstream | None = None
        self._runner: asyncio.Task[None] | None = None
        self.batcher = Batcher(
            self._send,
            settings.flush_max_reports,
            settings.max_inflight_rpcs,
            settings.max_pending_reports,
        )

    async def start(self) -> None:
        """Opens the channel (it needs the running loop) and starts sending batches."""
        self._upstream = Upstream(self._settings.upstream)
        self._runner = asyncio.create_task(self.batcher.run())

    async def stop(self) -> None:
        """Waits for the batches in flight, then closes the channel."""
        await self.batcher.drain()
        if self._runner is not None:
            self._runner.cancel()
        if self._upstream is not None:
            upstream, self._upstream = self._upstream, None
            await upstream.close()

    def reachable(self) -> bool:
        """False before `start()` and while the channel knows the upstream is down."""
        return self._upstream is not None and self._upstream.reachable()

    async def accept_report(self, report: Report) -> Response:
        """POST /clima: 202 `{"id", "status"}` once the report is durable, else 503 or 422."""
        return await self.accept([report], orjson.dumps({"id": report.id, "status": "accepted"}))

    async def accept_batch(self, reports: list[Report]) -> Response:
        """POST /clima/batch: 202 `{"ids", "accepted"}` once all are durable, else 503 or 422."""
        ids = [r.id for r in reports]
        return await self.accept(reports, orjson.dumps({"ids": ids, "accepted": len(ids)}))

    async def accept(self, reports: list[Report], body: bytes) -> Response:
        """Submits built reports; 202 with `body` once durable, else 503 or 422."""
        started = time.perf_counter()
        try:
            await self.batcher.submit(reports)
        except ApiError as exc:
            refusal = exc.refusal
            REFUSED.labels(str(refusal.status)).inc()
            return refusal.response([r.id for r in reports])
        LATENCY.observe(time.perf_counter() - started)
        ACCEPTED.inc(len(reports))
        return Response(body, status_code=202, media_type=_JSON)

    async def _send(self, reports: list[Report]) -> None:
        if self._upstream is None:
            raise RuntimeError("the api's ingest is not started")
        try:
            await self._upstream.send_batch(
                ReportBatch(reports=reports), self._settings.rpc_timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            raise error_of(refusal_of(exc)) from exc
