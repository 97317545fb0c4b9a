"""The writer process: a gRPC ReportWriter in front of the brokers, plus probes."""

import asyncio
import logging

import grpc
import uvloop
from prometheus_client import Counter, Histogram

from clima.common.grpc_server import GrpcServer
from clima.common.lifecycle import wait_for_signal
from clima.common.limits import InFlight
from clima.common.logs import configure
from clima.common.probe import serve_probes
from clima.contract import (
    Ack,
    Report,
    ReportBatch,
    ReportWriterServicer,
    Undecodable,
    add_writer_service,
    refuse_undecodable,
)
from clima.contract.outcome import OUTCOME_KEY, REFUSED
from clima.writer._backlog import Probes
from clima.writer._core import InvalidReportError, Publisher, Writer
from clima.writer._kafka import KafkaPublisher
from clima.writer._rabbit import RabbitPublisher
from clima.writer._route import KAFKA, RABBIT, brokers_of
from clima.writer.errors import (
    BacklogFullError,
    BrokerRefusedError,
    BrokerUnavailableError,
    ConfigurationError,
)
from clima.writer.settings import WriterSettings

logger = logging.getLogger(__name__)
WRITTEN = Counter("clima_writer_reports_total", "Reports made durable", ["broker"])
REFUSALS = Counter("clima_writer_refused_total", "Requests refused", ["reason"])
LATENCY = Histogram("clima_writer_batch_seconds", "Time to make a batch durable")


class ReportWriterService(ReportWriterServicer):
    """Adapts gRPC calls to Writer.write."""

    def __init__(self, writer: Writer, inflight: InFlight) -> None:
        self._writer = writer
        self._inflight = inflight

    async def SendReport(  # noqa: N802
        self, request: Report | Undecodable, context: grpc.aio.ServicerContext
    ) -> Ack:
        if isinstance(request, Undecodable):
            REFUSALS.labels("invalid").inc()
            await refuse_undecodable(request, context)
        return await self._write([request], context)

    async def SendBatch(  # noqa: N802
        self, request: ReportBatch | Undecodable, context: grpc.aio.ServicerContext
    ) -> Ack:
        if isinstance(request, Undecodable):
            REFUSALS.labels("invalid").inc()
            await refuse_undecodable(request, context)
        return await self._write(list(request.reports), context)

    async def _write(self, reports: list[Report], context: grpc.aio.ServicerContext) -> Ack:
        if not self._inflight.take(len(reports)):
            REFUSALS.labels("busy").inc()
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"writer {self._inflight.refusal(len(reports))}",
                trailing_metadata=((OUTCOME_KEY, REFUSED),),
            )
        try:
            brokers = await self._publish(reports, context)
        finally:
            self._inflight.give(len(reports))
        for broker in brokers:
            WRITTEN.labels(broker).inc(len(reports))
        return Ack(accepted=len(reports), brokers=brokers)

    async def _publish(self, reports: list[Report], context: grpc.aio.ServicerContext) -> list[str]:
        """The brokers that made `reports` durable; aborts the call with the refusal."""
        try:
            with LATENCY.time():
                brokers = await self._writer.write(reports)
        except InvalidReportError as exc:
            REFUSALS.labels("invalid").inc()
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except BrokerRefusedError as exc:
            REFUSALS.labels("backlog" if isinstance(exc, BacklogFullError) else "unavailable").inc()
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, str(exc), trailing_metadata=((OUTCOME_KEY, REFUSED),)
            )
        except BrokerUnavailableError as exc:
            REFUSALS.labels("unconfirmed").inc()
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return brokers


async def _publishers(settings: WriterSettings) -> dict[str, Publisher]:
    wanted = brokers_of(settings.mode)
    publishers: dict[str, Publisher] = {}
    if KAFKA in wanted:
        kafka = KafkaPublisher(settings.kafka, settings.kafka_topic, settings.publish_timeout_s)
        kafka.start(settings.kafka, settings.kafka_partitions)
        publishers[KAFKA] = kafka
    if RABBIT in wanted:
        if not settings.rabbitmq_url:
            raise ConfigurationError(f"RABBITMQ_URL is required in mode {settings.mode}")
        rabbit = RabbitPublisher(
            settings.rabbitmq_url,
            settings.rabbit_queue,
            settings.publish_timeout_s,
            settings.rabbit_queue_type,
        )
        rabbit.start()
        publishers[RABBIT] = rabbit
    return publishers


async def serve(settings: WriterSettings) -> None:
    """Runs until SIGTERM/SIGINT, then finishes in-flight calls and flushes the brokers."""
    publishers = await _publishers(settings)
    backlog = Probes(settings, brokers_of(settings.mode))
    backlog.start()
    writer = Writer(settings.mode, publishers, gate=backlog.backlog)
    inflight = InFlight(settings.max_inflight_reports, "CLIMA_WRITER_MAX_INFLIGHT_REPORTS")
    service = ReportWriterService(writer, inflight)
    server = GrpcServer(settings.host, settings.port, lambda s: add_writer_service(service, s))
    await server.start()
    watcher = asyncio.create_task(_follow_readiness(writer, server))
    probes = await serve_probes(
        settings.host,
        settings.probe_port,
        lambda: writer.ready,
        alive=lambda: writer.alive,
        why=lambda: describe_unready(writer.unready()),
    )
    logger.info(
        "writer listening on %s:%s, mode=%s, backlog bound %s messages",
        settings.host,
        server.port,
        settings.mode,
        settings.max_backlog_messages or "none",
    )
    await wait_for_signal()
    logger.info("writer draining")
    watcher.cancel()
    await server.stop()
    probes.close()
    await backlog.close()
    await writer.close()


def describe_unready(unready: dict[str, str]) -> str:
    """'rabbit unreachable (Connection refused)' for each broker of the mode that is down."""
    return "; ".join(f"{broker} unreachable ({why})" for broker, why in sorted(unready.items()))


async def _follow_readiness(writer: Writer, server: GrpcServer) -> None:
    """gRPC health (what Kubernetes probes) says SERVING only while every broker of the mode
    is reachable; each change is logged with the broker and why."""
    was: bool | None = None
    while True:
        unready = writer.unready()
        ready = not unready
        if ready != was:
            if ready:
                logger.info("writer ready: every broker of the mode is reachable")
            else:
                logger.warning("writer not ready: %s", describe_unready(unready))
            await server.set_serving(ready)
            was = ready
        await asyncio.sleep(0.25)


def main() -> None:
    """Entry point of `clima writer`."""
    settings = WriterSettings()
    configure(settings.log_level, settings.log_json)
    uvloop.run(serve(settings))
