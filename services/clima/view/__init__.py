"""The dashboards, runnable without Grafana.

`dashboards/clima.json` is what Grafana shows; this package runs each of its panels against
Valkey exactly as Grafana's Redis data source would (the same command, the same data frame,
the same transformations) and shapes the result like the panel. Tests use that to pin what
every panel shows; `clima view` serves it as a small self-refreshing page.
"""

from clima.view._dashboard import (
    DASHBOARD_UID,
    DATASOURCE_TYPE,
    DATASOURCE_UID,
    PLUGIN_COMMANDS,
    Dashboard,
    Panel,
    Target,
    default_dashboard_path,
    load_dashboard,
    validate,
)
from clima.view._plugin import TimeRange, command_of
from clima.view._queries import (
    PanelData,
    PanelResult,
    SeriesData,
    TableData,
    ValuesData,
    run_dashboard,
    run_panel,
)

__all__ = [
    "DASHBOARD_UID",
    "DATASOURCE_TYPE",
    "DATASOURCE_UID",
    "PLUGIN_COMMANDS",
    "Dashboard",
    "Panel",
    "PanelData",
    "PanelResult",
    "SeriesData",
    "TableData",
    "Target",
    "TimeRange",
    "ValuesData",
    "command_of",
    "default_dashboard_path",
    "load_dashboard",
    "run_dashboard",
    "run_panel",
    "validate",
]
