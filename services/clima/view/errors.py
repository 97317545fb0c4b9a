"""Errors of the view and of the panel query runner.

ViewError
├── DashboardError           the dashboard JSON breaks the contract (uid, data source, commands)
├── UnsupportedQueryError    a panel asks for a command or transformation the runner cannot mimic
└── ValkeyUnavailableError   Valkey does not answer; the page keeps its last numbers -> 503
"""


class ViewError(Exception):
    """Base of the view's errors."""


class DashboardError(ViewError):
    """The dashboard cannot be shown as Grafana would show it."""


class UnsupportedQueryError(ViewError):
    """A panel uses a command or a transformation the runner does not reproduce."""


class ValkeyUnavailableError(ViewError):
    """Valkey cannot be reached now."""
