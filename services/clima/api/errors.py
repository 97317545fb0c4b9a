"""Errors of the api.

ApiError
├── PipelineUnavailableError   the writer or a broker cannot make reports durable -> 503
└── PipelineRejectedError      the writer refused the reports as invalid -> 422
"""

from clima.contract.outcome import UNKNOWN, Outcome


class ApiError(Exception):
    """Base of the api's errors."""


class PipelineUnavailableError(ApiError):
    """Reports could not be made durable now; the client may retry (same id counts once).

    `outcome` is `refused` when nothing was published (none of the reports will be counted),
    `unknown` when a broker may hold some of them (a resend with the same ids settles it).
    """

    def __init__(self, message: str, outcome: Outcome = UNKNOWN) -> None:
        super().__init__(message)
        self.outcome: Outcome = outcome


class PipelineRejectedError(ApiError):
    """The writer refused the reports; its message names the field."""
