"""Errors of the api.

ApiError
├── PipelineUnavailableError   the writer or a broker cannot make reports durable -> 503
└── PipelineRejectedError      the writer refused the reports as invalid -> 422

Each carries the `Refusal` (common/refusal.py) that answers the client.
"""

from clima.common.refusal import Refusal
from clima.contract.outcome import UNKNOWN, Outcome


class ApiError(Exception):
    """Base of the api's errors."""

    @property
    def refusal(self) -> Refusal:
        """The HTTP answer to the client."""
        raise NotImplementedError


class PipelineUnavailableError(ApiError):
    """Reports could not be made durable now; the client may retry (same id counts once).

    `outcome` is `refused` when nothing was published (none of the reports will be counted),
    `unknown` when a broker may hold some of them (a resend with the same ids settles it).
    """

    def __init__(self, message: str, outcome: Outcome = UNKNOWN) -> None:
        super().__init__(message)
        self.outcome: Outcome = outcome

    @property
    def refusal(self) -> Refusal:
        """503 with the cause, the outcome and the ids."""
        return Refusal(503, str(self), self.outcome)


class PipelineRejectedError(ApiError):
    """The writer refused the reports; its message names the field."""

    @property
    def refusal(self) -> Refusal:
        """422 naming the field."""
        return Refusal(422, str(self))


def error_of(refusal: Refusal) -> ApiError:
    """The api's error for a refusal of the writer."""
    if refusal.status == 422:
        return PipelineRejectedError(refusal.detail)
    return PipelineUnavailableError(refusal.detail, refusal.outcome)
