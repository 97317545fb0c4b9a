"""A tiny HTTP endpoint for processes that have no web framework: /healthz, /readyz, /metrics.

Kubernetes probes and Prometheus need only these three paths, so a few lines of asyncio
serve them without pulling a web stack into the writer and the consumers.
"""

import asyncio
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

logger = logging.getLogger(__name__)

ReadyCheck = Callable[[], bool]
Reason = Callable[[], str]


async def serve_probes(
    host: str,
    port: int,
    ready: ReadyCheck,
    alive: ReadyCheck = lambda: True,
    why: Reason = lambda: "",
) -> asyncio.Server:
    """Starts the endpoint; `ready` decides /readyz (`why` says what is missing when it is
    not); /healthz answers while the loop runs and `alive` holds (False: a part of the
    process is wedged, and only a restart mends it)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            status, ctype, body = _answer(request_line, ready, alive, why)
            head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
            head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    logger.info("probes listening on %s:%s", host, port)
    return server


def _answer(
    request_line: bytes, ready: ReadyCheck, alive: ReadyCheck, why: Reason
) -> tuple[str, str, bytes]:
    parts = request_line.decode("latin-1").split()
    path = parts[1] if len(parts) > 1 else "/"
    if path == "/healthz":
        if alive():
            return "200 OK", "text/plain", b"ok\n"
        return "503 Service Unavailable", "text/plain", b"stalled\n"
    if path == "/readyz":
        if ready():
            return "200 OK", "text/plain", b"ready\n"
        reason = why()
        text = f"not ready: {reason}\n" if reason else "not ready\n"
        return "503 Service Unavailable", "text/plain; charset=utf-8", text.encode()
    if path == "/metrics":
        return "200 OK", CONTENT_TYPE_LATEST, generate_latest()
    return "404 Not Found", "text/plain", b"not found\n"
