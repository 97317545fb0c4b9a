"""A fast lane for plainly valid POST /clima and /clima/batch bodies.

FastAPI's request machinery costs far more than the work of the api itself. Bodies that are
plainly valid (orjson parses them; every field has the exact type, range and name that
`ReportIn` accepts) become protobuf reports here, through `plain_report`, which judges by the
same rules as `ReportIn` (both in `contract/http.py`).
Anything else (wrong type, extra key, unknown name, out of range, bad id, not JSON) is
replayed to the FastAPI route, which answers exactly as before (422 naming the field).
Every other path goes to FastAPI untouched.
"""

import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clima.api._ingest import Ingest
from clima.contract import Report
from clima.contract.http import plain_report

_PATHS = ("/clima", "/clima/batch")


class FastIngest:
    """ASGI: the fast lane in front of the FastAPI app (which keeps lifespan and docs)."""

    def __init__(self, app: ASGIApp, ingest: Ingest, max_batch_items: int) -> None:
        self.app = app
        self._ingest = ingest
        self._max_batch_items = max_batch_items

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or path not in _PATHS
            or not _json_body(scope)
        ):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        reports = self._parse(body, path == "/clima/batch")
        if reports is None:
            await self.app(scope, _replay(body, receive), send)
            return
        if path == "/clima":
            response = await self._ingest.accept_report(reports[0])
        else:
            response = await self._ingest.accept_batch(reports)
        await response(scope, receive, send)

    def _parse(self, body: bytes, many: bool) -> list[Report] | None:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        now_ms = time.time_ns() // 1_000_000
        if not many:
            report = plain_report(data, now_ms)
            return None if report is None else [report]
        if type(data) is not list or not 1 <= len(data) <= self._max_batch_items:
            return None
        reports = []
        for item in data:
            report = plain_report(item, now_ms)
            if report is None:
                return None
            reports.append(report)
        return reports


def _json_body(scope: Scope) -> bool:
    """True when FastAPI would read the body as JSON: no content type, or application/*json."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            kind: bytes = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or (
                kind.startswith(b"application/") and kind.endswith(b"+json")
            )
    return True


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the body already read to FastAPI, then the client's events."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
