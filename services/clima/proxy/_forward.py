"""Forwards ReportWriter calls to the writer as bytes, keeping the caller's deadline and status.

Nothing is decoded here: the writer judges the request (an undecodable one included, which
it refuses with INVALID_ARGUMENT naming the message) and the proxy relays its answer.
"""

from typing import NoReturn

import grpc

from clima.common.upstream import Upstream


class Forwarder:
    """A ReportWriter that is the writer, one persistent channel away."""

    def __init__(self, upstream: Upstream, max_timeout_s: float) -> None:
        self._upstream = upstream
        self._max_timeout_s = max_timeout_s

    async def __call__(
        self, method: str, request: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        """Sends the request bytes to the writer's `method`; answers with its response."""
        try:
            return await self._upstream.forward(method, request, self._timeout(context))
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
