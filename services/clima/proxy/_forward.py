"""Forwards ReportWriter calls to the writer, keeping the caller's deadline and status."""

import grpc

from clima.common.upstream import Upstream
from clima.contract import Ack, Report, ReportBatch, ReportWriterServicer


class ForwardingService(ReportWriterServicer):
    """A ReportWriter that is the writer, one persistent channel away."""

    def __init__(self, upstream: Upstream, max_timeout_s: float) -> None:
        self._upstream = upstream
        self._max_timeout_s = max_timeout_s

    async def SendReport(self, request: Report, context: grpc.aio.ServicerContext) -> Ack:  # noqa: N802
        try:
            return await self._upstream.send_report(request, self._timeout(context))
        except grpc.aio.AioRpcError as exc:
            await context.abort(exc.code(), exc.details() or "", exc.trailing_metadata() or ())
            raise

    async def SendBatch(self, request: ReportBatch, context: grpc.aio.ServicerContext) -> Ack:  # noqa: N802
        try:
            return await self._upstream.send_batch(request, self._timeout(context))
        except grpc.aio.AioRpcError as exc:
            await context.abort(exc.code(), exc.details() or "", exc.trailing_metadata() or ())
            raise

    def _timeout(self, context: grpc.aio.ServicerContext) -> float:
        remaining = context.time_remaining()
        if remaining is None:
            return self._max_timeout_s
        return max(0.001, min(float(remaining) - 0.05, self._max_timeout_s))
