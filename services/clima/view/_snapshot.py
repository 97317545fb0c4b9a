"""One JSON snapshot of every panel, the body of `/api/panels` that the page draws.

Each panel keeps its dashboard id, title, grid position and display settings, the commands it
sent, and what it shows (`kind`: row, table, values, series, or error when the runner cannot
reproduce it).
"""

import time
from typing import Any

import valkey
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from clima.view._dashboard import Dashboard, Panel
from clima.view._plugin import TimeRange
from clima.view._queries import PanelResult, SeriesData, TableData, ValuesData, run_panel
from clima.view.errors import UnsupportedQueryError, ValkeyUnavailableError

Json = dict[str, Any]
# Grafana's names for the threshold colours the dashboard uses.
_COLORS = {"green": "#73bf69", "red": "#f2495c", "yellow": "#fade2a", "orange": "#ff9830"}


def snapshot(client: "valkey.Valkey", dashboard: Dashboard, now_ms: int | None = None) -> Json:
    """Runs every panel over the dashboard's default time span ending now.

    Raises ValkeyUnavailableError when Valkey does not answer.
    """
    time_range = TimeRange.last(dashboard.span_s, now_ms)
    panels = []
    for panel in dashboard.panels:
        try:
            panels.append(_panel_json(run_panel(client, panel, time_range)))
        except UnsupportedQueryError as exc:
            panels.append({**_common(panel, ()), "kind": "error", "error": str(exc)})
        except (ValkeyConnectionError, ValkeyTimeoutError, OSError) as exc:
            raise ValkeyUnavailableError(f"Valkey unavailable: {exc}") from exc
    return {
        "dashboard": {"uid": dashboard.uid, "title": dashboard.title},
        "updated_ms": time.time_ns() // 1_000_000,
        "range": {"from_ms": time_range.from_ms, "to_ms": time_range.to_ms},
        "panels": panels,
    }


def _common(panel: Panel, commands: tuple[str, ...]) -> Json:
    grid = panel.grid
    return {
        "id": panel.id,
        "type": panel.type,
        "title": panel.title,
        "grid": {"x": grid.x, "y": grid.y, "w": grid.w, "h": grid.h},
        "commands": list(commands),
        "unit": panel.defaults.get("unit"),
        "decimals": panel.defaults.get("decimals"),
        "draw": (panel.defaults.get("custom") or {}).get("drawStyle"),
    }


def _panel_json(result: PanelResult) -> Json:
    out = _common(result.panel, result.commands)
    data = result.data
    if isinstance(data, TableData):
        return {**out, "kind": "table", "columns": list(data.columns), "rows": list(data.rows)}
    if isinstance(data, ValuesData):
        values = [
            {"name": name, "value": value, "color": color_of(result.panel, name, value)}
            for name, value in data.values.items()
        ]
        return {**out, "kind": "values", "values": values}
    if isinstance(data, SeriesData):
        series = [{"name": n, "points": points} for n, points in data.series.items()]
        return {**out, "kind": "series", "series": series}
    return {**out, "kind": "row"}


def color_of(panel: Panel, field: str, value: float) -> str | None:
    """The colour Grafana's thresholds give a value (field overrides by name win)."""
    thresholds = panel.defaults.get("thresholds")
    for override in panel.overrides:
        matcher = override.get("matcher") or {}
        if matcher.get("id") == "byName" and matcher.get("options") == field:
            for prop in override.get("properties") or []:
                if prop.get("id") == "thresholds":
                    thresholds = prop.get("value")
    if not thresholds:
        return None
    color = None
    for step in thresholds.get("steps") or []:
        if step.get("value") is None or value >= float(step["value"]):
            color = step.get("color")
    return _COLORS.get(str(color), color)
