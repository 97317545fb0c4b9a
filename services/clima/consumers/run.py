"""The consumer processes: `clima consumer kafka` and `clima consumer rabbit`."""

import asyncio
import logging

import uvloop

from clima import wiring
from clima.common.lifecycle import wait_for_signal
from clima.common.logs import configure
from clima.common.probe import serve_probes
from clima.consumers._holding import HOLD
from clima.consumers._kafka import KafkaSource
from clima.consumers._rabbit import RabbitSource
from clima.consumers.settings import ConsumerSettings
from clima.store import Store, StoreSettings, StoreUnavailableError

logger = logging.getLogger(__name__)
Source = wiring.Broker


async def serve(
    source_name: Source, settings: ConsumerSettings, store_settings: StoreSettings
) -> None:
    """Consumes until SIGTERM/SIGINT, finishing the batch in hand before exit."""
    store = Store(store_settings)
    source: KafkaSource | RabbitSource
    if source_name == wiring.KAFKA:
        source = KafkaSource(settings, store)
    else:
        source = RabbitSource(settings, store)
    probes = await serve_probes(
        settings.host,
        settings.probe_port,
        lambda: source.connected and not HOLD.held,
        why=lambda: HOLD.describe() or f"not connected to {source_name}",
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(source.run(stop))
    signal_task = asyncio.create_task(wait_for_signal())
    logger.info("consumer started", extra={"source": source_name})
    await asyncio.wait({worker, signal_task}, return_when=asyncio.FIRST_COMPLETED)
    asked_to_stop = signal_task.done()
    stop.set()
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
    logger.info("consumer stopped", extra={"source": source_name})


def main(source_name: Source) -> None:
    """Entry point of `clima consumer <source>`."""
    settings = ConsumerSettings()
    configure(settings.log_level, settings.log_json)
    uvloop.run(serve(source_name, settings, StoreSettings()))
