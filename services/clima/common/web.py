"""Uvicorn under our own signal handling, so every process drains the same way and exits 0."""

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from clima.common.lifecycle import wait_for_signal


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the process (it would re-raise them on exit)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def start_http(app: ASGIApp, host: str, port: int) -> tuple[uvicorn.Server, "asyncio.Task[None]"]:
    """Starts serving `app` on the running loop; set `server.should_exit` to drain and stop."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="none",
        http="httptools",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=15,
    )
    server = _QuietServer(config)
    return server, asyncio.create_task(server.serve())


async def serve_until_signal(app: ASGIApp, host: str, port: int) -> None:
    """Serves `app` until SIGTERM/SIGINT, then finishes the requests in flight."""
    server, task = start_http(app, host, port)
    await wait_for_signal()
    server.should_exit = True
    await task
