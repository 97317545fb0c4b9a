"""Errors of the api.

ApiError
├── PipelineUnavailableError   the writer or a broker cannot make reports durable -> 503
└── PipelineRejectedError      the writer refused the reports as invalid -> 422
"""


class ApiError(Exception):
    """Base of the api's errors."""


class PipelineUnavailableError(ApiError):
    """Reports could not be made durable now; the client may retry (same id counts once)."""


class PipelineRejectedError(ApiError):
    """The writer refused the reports; its message names the field."""
