"""The api's and the proxy's channel gives up a peer that accepts TCP but never completes the
HTTP/2 handshake after ~3 s (gRPC's default waits 20 s), then reaches the real writer."""

import asyncio
import contextlib
import time

import grpc

from clima.common.upstream import SERVER_OPTIONS, Upstream
from clima.contract import Ack, Report, ReportBatch, add_writer_service


class AcceptingWriter:
    """Accepts every batch."""

    async def SendReport(self, request: Report, context: grpc.aio.ServicerContext) -> Ack:
        return Ack(accepted=1)

    async def SendBatch(self, request: ReportBatch, context: grpc.aio.ServicerContext) -> Ack:
        return Ack(accepted=len(request.reports))


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    sink.close()


async def test_a_silent_first_peer_is_given_up_within_seconds() -> None:
    """The first connection is accepted and never answered; the next ones reach the writer."""
    server = grpc.aio.server(options=SERVER_OPTIONS)
    add_writer_service(AcceptingWriter(), server)
    writer_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    seen: list[asyncio.StreamWriter] = []
    tasks: set[asyncio.Task[None]] = set()

    async def front(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer)
        if len(seen) == 1:
            return  # holds the socket open, silent
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", writer_port)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(_pipe(source, sink))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    relay = await asyncio.start_server(front, "127.0.0.1", 0)
    upstream = Upstream(f"127.0.0.1:{relay.sockets[0].getsockname()[1]}")
    began = time.monotonic()
    try:
        codes: list[grpc.StatusCode] = []
        ack = None
        while ack is None and time.monotonic() - began < 8:
            try:
                ack = await upstream.send_batch(ReportBatch(reports=[Report(id="a")]), 10)
            except grpc.aio.AioRpcError as exc:
                codes.append(exc.code())
                await asyncio.sleep(0.1)
        assert ack is not None, f"still not connected: {codes[-3:]}"
        assert set(codes) <= {grpc.StatusCode.UNAVAILABLE}
        assert ack.accepted == 1
        assert time.monotonic() - began < 8
        assert len(seen) >= 2
    finally:
        await upstream.close()
        for writer in seen:
            writer.close()
        relay.close()
        await server.stop(None)
