"""The consumer processes: `clima consumer kafka` and `clima consumer rabbit` (`--drain`:
stop once the broker holds nothing more to apply)."""

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from clima import wiring
from clima.common.lifecycle import wait_for_signal
from clima.common.logs import configure
from clima.common.probe import serve_probes
from clima.consumers._drain import leave_summary, wait_until_drained
from clima.consumers._holding import HOLD
from clima.consumers._kafka import KafkaSource
from clima.consumers._metrics import tally
from clima.consumers._rabbit import RabbitSource
from clima.consumers.settings import ConsumerSettings
from clima.store import Store, StoreSettings, StoreUnavailableError

logger = logging.getLogger(__name__)
Source = wiring.Broker


async def serve(
    source_name: Source, settings: ConsumerSettings, store_settings: StoreSettings
) -> bool:
    """Consumes until SIGTERM/SIGINT (or, in drain mode, until the broker holds nothing more
    to apply), finishing the batch in hand before exit; True when it stopped drained."""
    started = time.monotonic()
    store = Store(store_settings)
    source: KafkaSource | RabbitSource
    if source_name == wiring.KAFKA:
        source = KafkaSource(settings, store)
    else:
        source = RabbitSource(settings, store)
    probes = await serve_probes(
        settings.host,
        settings.probe_port,
        lambda: source.connected and not HOLD.held and source.idle() is None,
        alive=lambda: source.alive,
        why=lambda: (
            HOLD.describe()
            or (source.idle() if source.connected else None)
            or f"not connected to {source_name}"
        ),
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(source.run(stop))
    signal_task = asyncio.create_task(wait_for_signal())
    drain = None
    if settings.drain:
        drain = asyncio.create_task(
            wait_until_drained(
                source.remaining, stop, settings.drain_quiet_s, settings.drain_check_s
            )
        )
    waits: set[asyncio.Future[Any]] = {worker, signal_task, *([drain] if drain else [])}
    logger.info("consumer started", extra={"source": source_name, "drain": settings.drain})
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    asked_to_stop = signal_task.done()
    stop.set()
    finished = await drain if drain is not None else False
    try:
        await worker
    except StoreUnavailableError:
        if not asked_to_stop:
            raise
        # the batch in hand was never acknowledged: the broker delivers it again later
        logger.warning("stopped while Valkey was unavailable; the batch in hand stays queued")
    finally:
        signal_task.cancel()
        probes.close()
        await store.close()
    if finished:
        summary = tally(source_name).summary(source_name, time.monotonic() - started)
        logger.info(summary)
        leave_summary(Path(settings.termination_log), summary)
    logger.info("consumer stopped", extra={"source": source_name})
    return finished


def main(source_name: Source, drain: bool = False) -> None:
    """Entry point of `clima consumer <source> [--drain]`; in drain mode the exit status is
    0 only when the broker was drained (a Job's success means "nothing left")."""
    settings = ConsumerSettings()
    if drain:
        settings = settings.model_copy(update={"drain": True})
    configure(settings.log_level, settings.log_json)
    drained = uvloop.run(serve(source_name, settings, StoreSettings()))
    if settings.drain and not drained:
        sys.exit(f"{source_name} consumer stopped before the broker was drained")
