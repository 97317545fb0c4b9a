"""The proxy's probes: liveness never follows the writer, readiness does."""

from __future__ import annotations

import httpx

from clima.proxy.server import create_http
from clima.proxy.settings import ProxySettings


class _Upstream:
    def __init__(self, up: bool) -> None:
        self.up = up

    def reachable(self) -> bool:
        return self.up


async def _codes(up: bool) -> list[int]:
    app = create_http(_Upstream(up), ProxySettings())  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        return [(await client.get(path)).status_code for path in ("/healthz", "/readyz", "/health")]


async def test_writer_away_makes_the_proxy_unready_but_alive() -> None:
    """With the writer unreachable, /readyz and the seed's /health say 503, /healthz 200:
    the kubelet takes the proxy out of its Service instead of restarting it."""
    assert await _codes(up=False) == [200, 503, 503]


async def test_writer_reachable_makes_every_probe_pass() -> None:
    """With the writer reachable, every probe answers 200."""
    assert await _codes(up=True) == [200, 200, 200]
