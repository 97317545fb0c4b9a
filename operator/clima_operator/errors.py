"""Errors the operator raises, so callers can tell a bad spec from a failing cluster.

The hierarchy::

    ClimaOperatorError                 anything the operator itself raises
    ├── InvalidSpecError               the ClimaPipeline spec cannot be reconciled (names the field)
    └── ClusterError                   the API server refused or could not be reached
        ├── NotFoundError              404: the object does not exist
        ├── ConflictError              409: the object exists already / changed meanwhile
        └── RejectedError              400/422: the server refused the object as invalid

Only the kopf adapters in ``clima_operator.handlers`` translate these into kopf's
``TemporaryError``; everything below them raises these classes.
"""

from __future__ import annotations


class ClimaOperatorError(Exception):
    """Base class of every error raised by the Clima operator."""


class InvalidSpecError(ClimaOperatorError):
    """The spec of a ClimaPipeline cannot be reconciled; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ClusterError(ClimaOperatorError):
    """A request to the Kubernetes API server failed; ``status`` is 0 when none was answered."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message


class NotFoundError(ClusterError):
    """The API server answered 404 Not Found."""


class ConflictError(ClusterError):
    """The API server answered 409 Conflict (already exists, or a precondition failed)."""


class RejectedError(ClusterError):
    """The API server refused an object as invalid (400 Bad Request, 422 Unprocessable)."""
