"""The proxy's /tweet refuses a body over its limit with 413 naming the limit, before
reading it whole or calling the writer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson

from clima.proxy.server import create_http
from clima.proxy.settings import ProxySettings

LIMIT = 2048


class _Writer:
    """Accepts every report and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def send_report(self, report: object, timeout_s: float) -> None:
        self.calls += 1

    def reachable(self) -> bool:
        return True


async def _post(writer: _Writer, body: bytes, chunked: bool = False) -> httpx.Response:
    app = create_http(writer, ProxySettings(max_body_bytes=LIMIT))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        if not chunked:
            return await client.post(
                "/tweet", content=body, headers={"content-type": "application/json"}
            )

        async def stream() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 512):
                yield body[start : start + 512]

        return await client.post(
            "/tweet", content=stream(), headers={"content-type": "application/json"}
        )


def _report(padding: int) -> bytes:
    return (
        orjson.dumps(
            {"municipality": 1, "temperature": 20, "humidity": 50, "weather": 1, "id": "a" * 8}
        )[:-1]
        + b" " * padding
        + b"}"
    )


async def test_body_over_the_limit_is_413_naming_it() -> None:
    """A declared length over the limit: 413 with the limit in the detail, no writer call."""
    writer = _Writer()
    answer = await _post(writer, _report(LIMIT))
    assert answer.status_code == 413
    assert answer.json() == {"detail": f"body: larger than {LIMIT} bytes"}
    assert writer.calls == 0


async def test_streamed_body_over_the_limit_is_413() -> None:
    """A body sent without a length is counted as it arrives and refused past the limit."""
    writer = _Writer()
    answer = await _post(writer, _report(LIMIT), chunked=True)
    assert answer.status_code == 413
    assert writer.calls == 0


async def test_body_within_the_limit_is_forwarded() -> None:
    """A report under the limit reaches the writer: 202."""
    writer = _Writer()
    answer = await _post(writer, _report(LIMIT // 2))
    assert answer.status_code == 202, answer.text
    assert writer.calls == 1


def test_default_limit_is_64_kib() -> None:
    """One report is a few hundred bytes; 64 KiB leaves room and stops a flood."""
    assert ProxySettings().max_body_bytes == 65_536
