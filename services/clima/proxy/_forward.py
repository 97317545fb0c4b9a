"""Forwards ReportWriter calls to the writer, keeping the caller's deadline and status."""

from typing import NoReturn

import grpc

from clima.common.upstream import Upstream
from clima.contract import (
    Ack,
    Report,
    ReportBatch,
    ReportWriterServicer,
    Undecodable,
    refuse_undecodable,
)


class ForwardingService(ReportWriterServicer):
    """A ReportWriter that is the writer, one persistent channel away."""

    def __init__(self, upstream: Upstream, max_timeout_s: float) -> None:
        self._upstream = upstream
        self._max_timeout_s = max_timeout_s

    async def SendReport(  # noqa: N802
        self, request: Report | Undecodable, context: grpc.aio.ServicerContext
    ) -> Ack:
        if isinstance(request, Undecodable):
            await refuse_undecodable(request, context)
        try:
            return await self._upstream.send_report(request, self._timeout(context))
        except grpc.aio.AioRpcError as exc:
            await _relay(exc, context)

    async def SendBatch(  # noqa: N802
        self, request: ReportBatch | Undecodable, context: grpc.aio.ServicerContext
    ) -> Ack:
        if isinstance(request, Undecodable):
            await refuse_undecodable(request, context)
        try:
            return await self._upstream.send_batch(request, self._timeout(context))
        except grpc.aio.AioRpcError as exc:
            await _relay(exc, context)

    def _timeout(self, context: grpc.aio.ServicerContext) -> float:
        remaining = context.time_remaining()
        if remaining is None:
            return self._max_timeout_s
        return max(0.001, min(float(remaining) - 0.05, self._max_timeout_s))


async def _relay(exc: grpc.aio.AioRpcError, context: grpc.aio.ServicerContext) -> NoReturn:
    """Ends the call as the writer ended it: code, details and trailing metadata (the
    writer's `clima-outcome`)."""
    await context.abort(exc.code(), exc.details() or "", tuple(exc.trailing_metadata() or ()))
    raise AssertionError("abort() returns only by raising")
