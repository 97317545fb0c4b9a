"""One persistent gRPC channel to a ReportWriter (the proxy or the writer itself)."""

import grpc

from clima.contract import Ack, Report, ReportBatch, ReportWriterStub

_OPTIONS = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


class Upstream:
    """Sends reports over a channel opened once and kept for the process's life."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.aio.insecure_channel(target, options=_OPTIONS)
        self._stub = ReportWriterStub(self._channel)  # type: ignore[no-untyped-call]

    async def send_batch(self, batch: ReportBatch, timeout_s: float) -> Ack:
        """Calls SendBatch; raises grpc.aio.AioRpcError as the upstream answered."""
        ack: Ack = await self._stub.SendBatch(batch, timeout=timeout_s)
        return ack

    async def send_report(self, report: Report, timeout_s: float) -> Ack:
        """Calls SendReport; raises grpc.aio.AioRpcError as the upstream answered."""
        ack: Ack = await self._stub.SendReport(report, timeout=timeout_s)
        return ack

    def reachable(self) -> bool:
        """False while the channel knows the upstream is down."""
        state = self._channel.get_state(try_to_connect=True)
        return state not in (
            grpc.ChannelConnectivity.TRANSIENT_FAILURE,
            grpc.ChannelConnectivity.SHUTDOWN,
        )

    async def close(self) -> None:
        """Closes the channel."""
        await self._channel.close()
