"""One persistent gRPC channel to a ReportWriter (the proxy or the writer itself), and the
server options of both ends, which must agree on keepalive pings."""

import grpc

from clima.common.retry import RECONNECT_CAP_S
from clima.contract import METHODS, SERVICE_NAME, Ack, Report, ReportBatch, ReportWriterStub

_MAX_MESSAGE = 16 * 1024 * 1024
# a ping every 5 s, unanswered for 2 s, closes a half-open connection (a peer whose node died
# without a reset); a crashed peer is tried again within RECONNECT_CAP_S once it listens
KEEPALIVE_MS = 5_000
_OPTIONS = [
    ("grpc.keepalive_time_ms", KEEPALIVE_MS),
    ("grpc.keepalive_timeout_ms", 2_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_send_message_length", _MAX_MESSAGE),
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", int(RECONNECT_CAP_S * 1000)),
    # gRPC core reads this as the minimum time a connection attempt may take (default 20 s):
    # a peer that accepts TCP but never completes the HTTP/2 handshake is given up after 3 s
    ("grpc.min_reconnect_backoff_ms", 3_000),
]
# the servers (proxy, writer) accept those pings: by default a server answers a client that
# pings more often than every 5 min without data with GOAWAY "too_many_pings"
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    # a second server on a port in use fails to start instead of sharing it (gRPC's default
    # SO_REUSEPORT let the fault suite's proxy take half of another pipeline's writer traffic)
    ("grpc.so_reuseport", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", KEEPALIVE_MS - 1_000),
    ("grpc.http2.max_ping_strikes", 0),
]


class Upstream:
    """Sends reports over a channel opened once and kept for the process's life."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.aio.insecure_channel(target, options=_OPTIONS)
        self._stub = ReportWriterStub(self._channel)  # type: ignore[no-untyped-call]
        # the same methods without (de)serializers: bytes in, bytes out, for the proxy
        self._raw = {name: self._channel.unary_unary(f"/{SERVICE_NAME}/{name}") for name in METHODS}

    async def send_batch(self, batch: ReportBatch, timeout_s: float) -> Ack:
        """Calls SendBatch; raises grpc.aio.AioRpcError as the upstream answered."""
        ack: Ack = await self._stub.SendBatch(batch, timeout=timeout_s)
        return ack

    async def send_report(self, report: Report, timeout_s: float) -> Ack:
        """Calls SendReport; raises grpc.aio.AioRpcError as the upstream answered."""
        ack: Ack = await self._stub.SendReport(report, timeout=timeout_s)
        return ack

    async def forward(self, method: str, request: bytes, timeout_s: float) -> bytes:
        """Calls `method` with request bytes as they came; returns the response's bytes.
        Raises grpc.aio.AioRpcError as the upstream answered."""
        response: bytes = await self._raw[method](request, timeout=timeout_s)
        return response

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
