"""The api's HTTP routes: thin adapters from JSON to the batcher and back."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import grpc
import orjson
from fastapi import Body, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field

from clima.api._batcher import Batcher
from clima.api.errors import PipelineRejectedError, PipelineUnavailableError
from clima.api.settings import ApiSettings
from clima.common.limits import BodyLimit
from clima.common.upstream import Upstream
from clima.contract import Report, ReportBatch
from clima.contract.http import ReportIn
from clima.contract.outcome import Outcome, outcome_of, unavailable_body

ACCEPTED = Counter("clima_api_reports_accepted_total", "Reports durable and answered 202")
REFUSED = Counter("clima_api_requests_refused_total", "Requests answered with an error", ["status"])
LATENCY = Histogram(
    "clima_api_accept_seconds",
    "Time from request to durable acceptance",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_JSON = "application/json"


class Accepted(BaseModel):
    """Answer to a single report: its id, now durable."""

    id: str
    status: str = "accepted"


class BatchAccepted(BaseModel):
    """Answer to a batch: the ids in the order of the request, all durable."""

    ids: list[str]
    accepted: int


class Problem(BaseModel):
    """Why a request was not accepted."""

    detail: str = Field(description="what went wrong, naming the field when there is one")


class Unavailable(Problem):
    """Why reports could not be made durable now, and what became of them."""

    outcome: Outcome = Field(
        description=(
            "`refused`: nothing was published, none of these reports will be counted; "
            "`unknown`: a broker may hold some of them and they may be counted. Either way a "
            "resend with the same ids is safe: each id counts once."
        )
    )
    ids: list[str] = Field(description="the ids of the refused reports, in request order")


def create_app(settings: ApiSettings) -> FastAPI:
    """Builds the api; its channel to the upstream opens with the event loop."""
    links: list[Upstream] = []

    async def send(reports: list[Report]) -> None:
        try:
            await links[0].send_batch(ReportBatch(reports=reports), settings.rpc_timeout_s)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise PipelineRejectedError(exc.details() or "invalid") from exc
            raise PipelineUnavailableError(
                f"{exc.code().name}: {exc.details()}", outcome_of(exc.trailing_metadata())
            ) from exc

    batcher = Batcher(
        send, settings.flush_max_reports, settings.max_inflight_rpcs, settings.max_pending_reports
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        links.append(Upstream(settings.upstream))
        runner = asyncio.create_task(batcher.run())
        yield
        await batcher.drain()
        runner.cancel()
        await links.pop().close()

    app = FastAPI(
        title="Clima api",
        version="0.1.0",
        description="Accepts weather reports; 202 means every broker of the mode has them durably.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        """422 naming the field, without echoing the input (NaN or infinity break JSON)."""
        errors = [{k: v for k, v in e.items() if k != "input"} for e in exc.errors()]
        return Response(orjson.dumps({"detail": jsonable_encoder(errors)}), 422, media_type=_JSON)

    app.state.batcher = batcher
    busy: dict[int | str, dict[str, object]] = {
        503: {
            "model": Unavailable,
            "description": "the pipeline cannot make reports durable now; resend with the ids",
        }
    }

    @app.post("/clima", status_code=202, responses={202: {"model": Accepted}, **busy})
    async def post_report(report: ReportIn) -> Response:
        """Accepts one report (the seed's body with codes, or names)."""
        built = report.to_report()
        return await accept(batcher, [built], orjson.dumps({"id": built.id, "status": "accepted"}))

    @app.post("/clima/batch", status_code=202, responses={202: {"model": BatchAccepted}, **busy})
    async def post_batch(
        reports: Annotated[list[ReportIn], Body(min_length=1, max_length=settings.max_batch_items)],
    ) -> Response:
        """Accepts up to `max_batch_items` reports, all or none."""
        now_ms = time.time_ns() // 1_000_000
        built = [r.to_report(now_ms) for r in reports]
        ids = [r.id for r in built]
        return await accept(batcher, built, orjson.dumps({"ids": ids, "accepted": len(ids)}))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"model": Problem}})
    async def readyz() -> Response:
        """Readiness: the upstream channel is not known to be down."""
        if links and links[0].reachable():
            return Response(b'{"status":"ready"}', media_type=_JSON)
        return _problem(503, "upstream unreachable")

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


async def accept(batcher: Batcher, reports: list[Report], body: bytes) -> Response:
    """Submits built reports; 202 with `body` once durable, else 503 or 422 (also the fast lane)."""
    started = time.perf_counter()
    try:
        await batcher.submit(reports)
    except PipelineUnavailableError as exc:
        REFUSED.labels("503").inc()
        body = unavailable_body(str(exc), exc.outcome, [r.id for r in reports])
        return Response(body, 503, {"Retry-After": "1"}, media_type=_JSON)
    except PipelineRejectedError as exc:
        REFUSED.labels("422").inc()
        return _problem(422, str(exc))
    LATENCY.observe(time.perf_counter() - started)
    ACCEPTED.inc(len(reports))
    return Response(body, status_code=202, media_type=_JSON)


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps({"detail": detail}), status, headers, media_type=_JSON)
