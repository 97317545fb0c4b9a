"""One mapping from the writer's gRPC status to the HTTP answer of the api and the proxy."""

import grpc
import orjson
from grpc.aio import Metadata

from clima.common.refusal import Refusal, refusal_of
from clima.contract.outcome import OUTCOME_KEY, REFUSED


def _error(code: grpc.StatusCode, details: str, trailing: Metadata | None = None) -> Exception:
    return grpc.aio.AioRpcError(code, Metadata(), trailing or Metadata(), details)


def test_invalid_argument_is_422_naming_the_field() -> None:
    """The writer's INVALID_ARGUMENT text is the 422's detail, and nothing else is said."""
    refusal = refusal_of(_error(grpc.StatusCode.INVALID_ARGUMENT, "reports[0].humidity_pct: x"))
    assert refusal == Refusal(422, "reports[0].humidity_pct: x")
    response = refusal.response(["a"])
    assert response.status_code == 422
    assert orjson.loads(response.body) == {"detail": "reports[0].humidity_pct: x"}
    assert "retry-after" not in response.headers


def test_other_codes_are_503_with_outcome_ids_and_retry_after() -> None:
    """UNAVAILABLE with `clima-outcome: refused` is a 503 whose outcome is refused; without
    it (or for a deadline) the outcome is unknown."""
    refused = refusal_of(
        _error(grpc.StatusCode.UNAVAILABLE, "kafka: down", Metadata((OUTCOME_KEY, REFUSED)))
    )
    response = refused.response(["a", "b"])
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert orjson.loads(response.body) == {
        "detail": "pipeline unavailable: UNAVAILABLE: kafka: down",
        "outcome": "refused",
        "ids": ["a", "b"],
    }
    late = refusal_of(_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
    assert late == Refusal(503, "DEADLINE_EXCEEDED: Deadline Exceeded", "unknown")
