"""How an HTTP face answers when the writer did not make reports durable: one mapping from
a gRPC status to an HTTP status and body, for the api's routes and the proxy's /tweet.

INVALID_ARGUMENT (the writer judged the reports invalid) is 422 naming the field; any other
code is 503 with the cause, the reports' `outcome` and their ids, and `Retry-After: 1`.
"""

from dataclasses import dataclass

import grpc
import orjson
from starlette.responses import Response

from clima.contract.outcome import UNKNOWN, Outcome, outcome_of, unavailable_body

_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why reports were not accepted, as an HTTP status (422 or 503) and a detail."""

    status: int
    detail: str
    outcome: Outcome = UNKNOWN

    def response(self, ids: list[str]) -> Response:
        """The answer to the client: 422 `{"detail"}`, or 503 with the outcome and `ids`."""
        if self.status == 422:
            return Response(orjson.dumps({"detail": self.detail}), 422, media_type=_JSON)
        body = unavailable_body(self.detail, self.outcome, ids)
        return Response(body, self.status, {"Retry-After": "1"}, media_type=_JSON)


def refusal_of(exc: grpc.aio.AioRpcError) -> Refusal:
    """The HTTP refusal of a failed call to the writer (or the proxy in front of it)."""
    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
        return Refusal(422, exc.details() or "invalid")
    return Refusal(503, f"{exc.code().name}: {exc.details()}", outcome_of(exc.trailing_metadata()))
