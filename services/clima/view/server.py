"""The view process: uvicorn serving the page and its JSON, drained on SIGTERM."""

import logging

import uvloop

from clima.common.logs import configure
from clima.common.web import serve_until_signal
from clima.view.app import create_app
from clima.view.settings import ViewSettings

logger = logging.getLogger(__name__)


async def serve(settings: ViewSettings) -> None:
    """Serves until SIGTERM/SIGINT."""
    logger.info("view on http://%s:%s/", settings.host, settings.port)
    await serve_until_signal(create_app(settings), settings.host, settings.port)


def main() -> None:
    """Entry point of `clima view`."""
    settings = ViewSettings()
    configure(settings.log_level, settings.log_json)
    uvloop.run(serve(settings))
