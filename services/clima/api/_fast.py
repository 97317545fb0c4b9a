"""A fast lane for plainly valid POST /clima and /clima/batch bodies.

FastAPI's request machinery costs far more than the work of the api itself. Bodies that are
plainly valid (orjson parses them; every field has the exact type, range and name that
`ReportIn` accepts) become protobuf reports here, with the same checks as `ReportIn`.
Anything else (wrong type, extra key, unknown name, out of range, bad id, not JSON) is
replayed to the FastAPI route, which answers exactly as before (422 naming the field).
Every other path goes to FastAPI untouched.
"""

import os
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clima.api._ingest import Ingest
from clima.contract import Report
from clima.contract.catalogue import Municipality, Weather, parse_municipality, parse_weather
from clima.contract.rules import (
    HUMIDITY_MAX_PCT,
    HUMIDITY_MIN_PCT,
    TEMPERATURE_MAX_C,
    TEMPERATURE_MIN_C,
    valid_id,
)

_KEYS = frozenset(("municipality", "temperature", "humidity", "weather", "id"))
_PATHS = ("/clima", "/clima/batch")
_IDS: list[str] = []


def new_id() -> str:
    """32 random hex digits like uuid4().hex, drawn from the OS 256 ids at a time."""
    if not _IDS:
        raw = os.urandom(16 * 256).hex()
        _IDS.extend(raw[i : i + 32] for i in range(0, len(raw), 32))
    return _IDS.pop()


def _code(value: object, parse: Callable[[int | str], Municipality | Weather]) -> int | None:
    if type(value) is not int and type(value) is not str:  # not bool, as StrictInt
        return None
    try:
        return parse(value).code
    except ValueError:
        return None


def _number(value: object, low: float, high: float) -> float | None:
    if type(value) is not int and type(value) is not float:
        return None
    return float(value) if low <= value <= high else None


def plain_report(data: Any, now_ms: int) -> Report | None:
    """The report of a plainly valid body, or None to let FastAPI judge it."""
    if type(data) is not dict or len(data) < 4 or not data.keys() <= _KEYS:
        return None
    temperature = _number(data.get("temperature"), TEMPERATURE_MIN_C, TEMPERATURE_MAX_C)
    humidity = _number(data.get("humidity"), HUMIDITY_MIN_PCT, HUMIDITY_MAX_PCT)
    municipality = _code(data.get("municipality"), parse_municipality)
    weather = _code(data.get("weather"), parse_weather)
    if temperature is None or humidity is None or municipality is None or weather is None:
        return None
    report_id = data.get("id")
    if report_id is None:
        report_id = new_id()
    elif type(report_id) is not str or not valid_id(report_id):
        return None
    return Report(
        id=report_id,
        event_time_ms=now_ms,
        municipality=municipality,  # type: ignore[arg-type]
        temperature_c=temperature,
        humidity_pct=humidity,
        weather=weather,  # type: ignore[arg-type]
    )


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
            answer = orjson.dumps({"id": reports[0].id, "status": "accepted"})
        else:
            ids = [r.id for r in reports]
            answer = orjson.dumps({"ids": ids, "accepted": len(ids)})
        response = await self._ingest.accept(reports, answer)
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
