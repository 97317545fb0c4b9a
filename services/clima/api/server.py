"""The api process: uvicorn with httptools on uvloop, drained on SIGTERM."""

import uvloop

from clima.api.app import create_api
from clima.api.settings import ApiSettings
from clima.common.logs import configure
from clima.common.web import serve_until_signal


async def serve(settings: ApiSettings) -> None:
    """Serves until SIGTERM/SIGINT, then finishes requests in flight and their batches."""
    await serve_until_signal(create_api(settings), settings.host, settings.port)


def main() -> None:
    """Entry point of `clima api`."""
    settings = ApiSettings()
    configure(settings.log_level, settings.log_json)
    uvloop.run(serve(settings))
