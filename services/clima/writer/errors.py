"""Errors of the writer.

WriterError
├── BrokerUnavailableError   a broker did not confirm; gRPC UNAVAILABLE, the api says 503
│   └── BrokerRefusedError   a broker of the mode is known down: nothing was published
│       └── BacklogFullError a broker holds more unapplied messages than the bound
└── ConfigurationError       settings that cannot work; the process exits at start-up
"""


class WriterError(Exception):
    """Base of the writer's errors."""


class BrokerUnavailableError(WriterError):
    """A broker the mode chose did not durably acknowledge; nothing may be reported as accepted."""


class BrokerRefusedError(BrokerUnavailableError):
    """Refused before publishing anything: no broker holds any report of the request."""


class BacklogFullError(BrokerRefusedError):
    """Refused before publishing: a broker of the batch holds more messages the consumers have
    not applied than the writer's bound (`max_backlog_messages`)."""


class ConfigurationError(WriterError):
    """The writer's settings cannot work."""
