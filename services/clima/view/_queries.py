"""Runs dashboard panels against Valkey and shapes each result the way its panel shows it.

A panel's targets go through the data source (`_plugin`), its transformations
(`_transform`), then its visualisation:
- table: columns and rows in frame order (a stream table from XREVRANGE is newest first);
- stat, bar gauge: one number per numeric field, reduced by the panel's first calculation;
- time series: per numeric field, (time in ms, value) points from the frame's time field.
"""

from dataclasses import dataclass

import valkey

from clima.view._dashboard import Dashboard, Panel
from clima.view._frames import Frame, Value
from clima.view._plugin import TimeRange, command_of, run_target
from clima.view._transform import reduce_field, transform
from clima.view.errors import UnsupportedQueryError


@dataclass(frozen=True, slots=True)
class TableData:
    """What a table panel shows: column names and rows, top row first."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]

    def records(self) -> list[dict[str, Value]]:
        """Rows as column -> value, top row first."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True, slots=True)
class ValuesData:
    """What a stat or bar gauge panel shows: one number per field, in display order."""

    values: dict[str, float]


@dataclass(frozen=True, slots=True)
class SeriesData:
    """What a time series panel draws: per series, (Unix ms, value) points in frame order."""

    series: dict[str, list[tuple[int, float]]]


PanelData = TableData | ValuesData | SeriesData


@dataclass(frozen=True, slots=True)
class PanelResult:
    """A panel, the commands it sent and what it shows (None for a row header)."""

    panel: Panel
    commands: tuple[str, ...]
    data: PanelData | None


def run_dashboard(
    client: "valkey.Valkey", dashboard: Dashboard, time_range: TimeRange | None = None
) -> list[PanelResult]:
    """Every panel of the dashboard, in reading order."""
    return [run_panel(client, panel, time_range) for panel in dashboard.panels]


def run_panel(
    client: "valkey.Valkey", panel: Panel, time_range: TimeRange | None = None
) -> PanelResult:
    """Runs one panel's queries and shapes the result like the panel.

    Without a time range, stream queries that follow the dashboard range read the whole
    stream. Raises UnsupportedQueryError for what the runner cannot reproduce, and valkey's
    errors when Valkey does not answer.
    """
    commands = tuple(" ".join(command_of(t, time_range)) for t in panel.targets)
    if panel.type == "row":
        return PanelResult(panel, commands, None)
    frames = [
        transform(run_target(client, t, time_range), panel.transformations) for t in panel.targets
    ]
    return PanelResult(panel, commands, shape(panel, frames))


def shape(panel: Panel, frames: list[Frame]) -> PanelData:
    """Turns the transformed frames into what the panel's visualisation shows."""
    if panel.type == "table":
        if len(frames) != 1:
            raise UnsupportedQueryError(f"table panel {panel.id} must have exactly one query")
        frame = frames[0]
        columns = tuple(f.name for f in frame.fields)
        return TableData(columns, tuple(tuple(row) for row in frame.rows()))
    if panel.type in ("stat", "bargauge"):
        return ValuesData(_reduced(panel, frames))
    if panel.type == "timeseries":
        return SeriesData(_series(panel, frames))
    raise UnsupportedQueryError(f"panel type {panel.type!r} is not reproduced")


def _reduced(panel: Panel, frames: list[Frame]) -> dict[str, float]:
    reduce_options = panel.options.get("reduceOptions") or {}
    if reduce_options.get("values"):
        raise UnsupportedQueryError(f"panel {panel.id}: 'all values' mode is not reproduced")
    calc = str((reduce_options.get("calcs") or ["lastNotNull"])[0])
    values: dict[str, float] = {}
    for frame in frames:
        for column in frame.fields:
            if column.kind == "number":
                reduced = reduce_field(column.values, calc)
                if reduced is not None:
                    values[column.name] = float(reduced)
    return values


def _series(panel: Panel, frames: list[Frame]) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    for frame in frames:
        times = next((f for f in frame.fields if f.kind == "time"), None)
        if times is None:
            if frame.length == 0:
                continue
            raise UnsupportedQueryError(f"panel {panel.id}: its data has no time field")
        for column in frame.fields:
            if column.kind == "number":
                points = zip(times.values, column.values, strict=True)
                series[column.name] = [(int(t), float(v)) for t, v in points]
    return series
