"""The view's HTTP routes: the page, the panels as JSON, and probes. Thin adapters only."""

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

import orjson
import valkey
from fastapi import FastAPI, Response
from fastapi.responses import HTMLResponse
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from clima.view._dashboard import Dashboard, load_dashboard
from clima.view._snapshot import snapshot
from clima.view.errors import ValkeyUnavailableError
from clima.view.settings import ViewSettings

_JSON = "application/json"


def create_app(settings: ViewSettings, dashboard: Dashboard | None = None) -> FastAPI:
    """Builds the view; the dashboard is read and checked now, so a broken one stops start-up."""
    board = dashboard or load_dashboard(settings.dashboard)
    client = valkey.Valkey.from_url(
        settings.valkey_url, decode_responses=True, socket_timeout=3, socket_connect_timeout=2
    )
    page = render_page(board.title, settings.refresh_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        client.close()

    app = FastAPI(
        title="Clima view",
        version="0.1.0",
        description="The Grafana dashboard's panels read from Valkey, where Grafana is absent.",
        lifespan=lifespan,
    )

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        """The page; it fetches /api/panels and redraws every `refresh_s` seconds."""
        return HTMLResponse(page)

    @app.get("/api/panels")
    def panels() -> Response:
        """Every panel of the dashboard as it shows now; 503 while Valkey does not answer."""
        try:
            body = orjson.dumps(snapshot(client, board))
        except ValkeyUnavailableError as exc:
            return _problem(503, str(exc))
        return Response(body, media_type=_JSON, headers={"Cache-Control": "no-store"})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> Response:
        """Readiness: Valkey answers."""
        try:
            client.ping()
        except (ValkeyConnectionError, ValkeyTimeoutError, OSError) as exc:
            return _problem(503, f"Valkey unavailable: {exc}")
        return Response(b'{"status":"ready"}', media_type=_JSON)

    return app


def render_page(title: str, refresh_s: float) -> str:
    """The page with its title and refresh period filled in."""
    template = resources.files("clima.view").joinpath("page.html").read_text(encoding="utf-8")
    return template.replace("__TITLE__", html.escape(title)).replace(
        "__REFRESH_MS__", str(round(refresh_s * 1000))
    )


def _problem(status: int, detail: str) -> Response:
    return Response(orjson.dumps({"detail": detail}), status, media_type=_JSON)
