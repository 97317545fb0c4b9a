"""The api's HTTP routes: thin adapters from JSON to the ingest and back; and the whole api
as served (`create_api`): the body limit, then the fast lane, then these routes."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import orjson
from fastapi import Body, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.types import ASGIApp

from clima.api._fast import FastIngest
from clima.api._ingest import Ingest
from clima.api.settings import ApiSettings
from clima.common.limits import BodyLimit
from clima.contract.http import ReportIn
from clima.contract.outcome import Outcome

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


def create_app(settings: ApiSettings, ingest: Ingest) -> FastAPI:
    """The FastAPI app (routes, OpenAPI, lifespan) over `ingest`, which its lifespan starts."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ingest.start()
        yield
        await ingest.stop()

    app = FastAPI(
        title="Clima api",
        version="0.1.0",
        description="Accepts weather reports; 202 means every broker of the mode has them durably.",
        lifespan=lifespan,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        """422 naming the field, without echoing the input (NaN or infinity break JSON)."""
        errors = [{k: v for k, v in e.items() if k != "input"} for e in exc.errors()]
        return Response(orjson.dumps({"detail": jsonable_encoder(errors)}), 422, media_type=_JSON)

    busy: dict[int | str, dict[str, object]] = {
        503: {
            "model": Unavailable,
            "description": "the pipeline cannot make reports durable now; resend with the ids",
        }
    }

    @app.post("/clima", status_code=202, responses={202: {"model": Accepted}, **busy})
    async def post_report(report: ReportIn) -> Response:
        """Accepts one report (the seed's body with codes, or names)."""
        return await ingest.accept_report(report.to_report())

    @app.post("/clima/batch", status_code=202, responses={202: {"model": BatchAccepted}, **busy})
    async def post_batch(
        reports: Annotated[list[ReportIn], Body(min_length=1, max_length=settings.max_batch_items)],
    ) -> Response:
        """Accepts up to `max_batch_items` reports, all or none."""
        now_ms = time.time_ns() // 1_000_000
        return await ingest.accept_batch([r.to_report(now_ms) for r in reports])

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"model": Problem}})
    async def readyz() -> Response:
        """Readiness: the upstream channel is not known to be down."""
        if ingest.reachable():
            return Response(b'{"status":"ready"}', media_type=_JSON)
        return _problem(503, "upstream unreachable")

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps({"detail": detail}), status, headers, media_type=_JSON)


def create_api(settings: ApiSettings) -> ASGIApp:
    """The api's ASGI stack around one Ingest that both lanes use: BodyLimit (for every
    lane) > FastIngest (plainly valid POST bodies) > the FastAPI app (everything else)."""
    ingest = Ingest(settings)
    lanes = FastIngest(create_app(settings, ingest), ingest, settings.max_batch_items)
    return BodyLimit(lanes, settings.max_body_bytes)
