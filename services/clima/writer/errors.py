"""Errors of the writer.

WriterError
├── BrokerUnavailableError   a broker did not confirm; gRPC UNAVAILABLE, the api says 503
└── ConfigurationError       settings that cannot work; the process exits at start-up
"""


class WriterError(Exception):
    """Base of the writer's errors."""


class BrokerUnavailableError(WriterError):
    """A broker the mode chose did not durably acknowledge; nothing may be reported as accepted."""


class ConfigurationError(WriterError):
    """The writer's settings cannot work."""
