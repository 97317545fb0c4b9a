"""Process life: wait for SIGTERM or SIGINT so servers can drain before exit."""

import asyncio
import signal


async def wait_for_signal() -> None:
    """Returns when the process is asked to stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
