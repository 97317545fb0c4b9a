"""The view process: uvicorn serving the page and its JSON, drained on SIGTERM."""

import logging

import uvloop

from clima.common.lifecycle import wait_for_signal
from clima.common.logs import configure
from clima.common.web import start_http
from clima.view.app import create_app
from clima.view.settings import ViewSettings

logger = logging.getLogger(__name__)


async def serve(settings: ViewSettings) -> None:
    """Serves until SIGTERM/SIGINT."""
    server, task = start_http(create_app(settings), settings.host, settings.port)
    logger.info("view on http://%s:%s/", settings.host, settings.port)
    await wait_for_signal()
    server.should_exit = True
    await task


def main() -> None:
    """Entry point of `clima view`."""
    settings = ViewSettings()
    configure(settings.log_level, settings.log_json)
    uvloop.run(serve(settings))
