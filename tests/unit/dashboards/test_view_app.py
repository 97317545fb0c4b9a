"""The view's routes serve the page and answer 503 fast while Valkey is away."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from clima.local import free_port
from clima.view.app import create_app
from clima.view.errors import DashboardError
from clima.view.settings import ViewSettings


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The app, in process, pointed at a loopback port where no Valkey listens."""
    settings = ViewSettings(valkey_url=f"redis://127.0.0.1:{free_port()}/0", refresh_s=1.5)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://view") as client:
        yield client


async def test_page_is_self_contained_and_refreshes(client: httpx.AsyncClient) -> None:
    """The page carries its script inline, loads nothing from elsewhere, and polls the panels."""
    answer = await client.get("/")
    assert answer.status_code == 200
    assert "const REFRESH_MS = 1500;" in answer.text
    assert 'fetch("api/panels"' in answer.text
    assert "<title>Clima · Clima local view</title>" in answer.text
    for remote in ("http://", "https://", "src=", "<link"):
        assert remote not in answer.text


async def test_panels_and_readiness_say_valkey_is_unavailable(client: httpx.AsyncClient) -> None:
    """Without Valkey, /api/panels and /readyz answer 503 with the reason; /healthz stays ok."""
    panels = await client.get("/api/panels")
    ready = await client.get("/readyz")
    alive = await client.get("/healthz")
    assert panels.status_code == 503
    assert panels.json()["detail"].startswith("Valkey unavailable")
    assert ready.status_code == 503
    assert alive.json() == {"status": "ok"}


def test_a_broken_dashboard_stops_start_up(tmp_path: Path) -> None:
    """The view refuses a dashboard that breaks the data source contract."""
    broken = tmp_path / "board.json"
    broken.write_text('{"uid": "other", "panels": []}', encoding="utf-8")
    with pytest.raises(DashboardError, match="uid must be 'clima-overview'"):
        create_app(ViewSettings(dashboard=broken))
