"""Registers a ReportWriter on a gRPC server so that undecodable requests reach our code.

grpcio answers a request whose bytes do not parse with `UNKNOWN: Unexpected DecodeError`
before any servicer runs. Registered here, such a request arrives as `Undecodable`, and the
servicer refuses it with INVALID_ARGUMENT naming the message it expected.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError

from clima.contract._pb.clima.v1 import clima_pb2 as _pb

SERVICE_NAME = "clima.v1.ReportWriter"
METHODS = ("SendReport", "SendBatch")
Forward = Callable[[str, bytes, grpc.aio.ServicerContext], Awaitable[bytes]]
"""A pass-through: (method name, request bytes, context) -> response bytes."""


@dataclass(frozen=True, slots=True)
class Undecodable:
    """Request bytes that are not the message the method takes."""

    expected: str
    error: str

    @property
    def problem(self) -> str:
        """The refusal's text: `request: not a clima.v1.ReportBatch (…)`."""
        return f"request: not a {self.expected} ({self.error})"


async def refuse_undecodable(request: Undecodable, context: grpc.aio.ServicerContext) -> NoReturn:
    """Ends the call with INVALID_ARGUMENT naming the message that was expected."""
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.problem)
    raise AssertionError("abort() returns only by raising")


def _tolerant(message: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return message.FromString(data)
        except DecodeError as exc:
            return Undecodable(message.DESCRIPTOR.full_name, str(exc))

    return parse


def add_writer_service(servicer: Any, server: grpc.aio.Server) -> None:
    """Serves `servicer` (SendReport, SendBatch) as clima.v1.ReportWriter on `server`."""
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=_tolerant(message),
            response_serializer=_pb.Ack.SerializeToString,
        )
        for name, message in zip(METHODS, (_pb.Report, _pb.ReportBatch), strict=True)
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))


def add_forwarding_service(forward: Forward, server: grpc.aio.Server) -> None:
    """Serves clima.v1.ReportWriter on `server` without decoding anything: `forward` gets each
    method's request bytes as they came and answers with the response bytes."""

    def handler(name: str) -> grpc.RpcMethodHandler:
        async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return await forward(name, request, context)

        return grpc.unary_unary_rpc_method_handler(call)

    handlers = {name: handler(name) for name in METHODS}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
