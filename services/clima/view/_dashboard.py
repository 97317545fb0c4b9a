"""The Grafana dashboard as data: its panels, their queries and the contract they keep.

Grafana and the local view read the same `dashboards/clima.json`; this module turns it into
small typed objects and checks what both rely on: the fixed uid, the data source uid every
query names, and only commands the Redis data source can run on plain Valkey.
"""

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from clima.view.errors import DashboardError

DASHBOARD_UID = "clima-overview"
DATASOURCE_UID = "clima-valkey"
DATASOURCE_TYPE = "redis-datasource"
# Commands of redis-datasource 2.2 that need no Redis module, by the plugin's own ids.
PLUGIN_COMMANDS = frozenset(
    {
        "get", "hget", "hgetall", "hkeys", "hlen", "hmget", "info", "llen", "scard",
        "smembers", "ttl", "type", "xinfoStream", "xlen", "xrange", "xrevrange", "zrange",
        "clientList", "slowlogGet", "tmscan",
    }
)  # fmt: skip
_RELATIVE_TIME = re.compile(r"^now-(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Target:
    """One query of a panel, in the Redis data source's own field names."""

    ref_id: str
    command: str
    key: str
    field: str = ""
    start: str = ""
    end: str = ""
    count: int = 0
    query: str = ""
    datasource_uid: str = ""

    @classmethod
    def from_json(cls, raw: Json) -> "Target":
        """Reads a target as the plugin unmarshals it (missing fields are empty)."""
        return cls(
            ref_id=str(raw.get("refId", "")),
            command=str(raw.get("command", "")),
            key=str(raw.get("keyName", "")),
            field=str(raw.get("field", "")),
            start=str(raw.get("start", "")),
            end=str(raw.get("end", "")),
            count=int(raw.get("count") or 0),
            query=str(raw.get("query", "")),
            datasource_uid=str((raw.get("datasource") or {}).get("uid", "")),
        )


@dataclass(frozen=True, slots=True)
class Grid:
    """Where a panel sits on Grafana's 24-column grid (h in rows of about 30 px)."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True, slots=True)
class Panel:
    """One panel: its visualisation, queries, transformations and display settings."""

    id: int
    type: str
    title: str
    grid: Grid
    targets: tuple[Target, ...]
    transformations: tuple[Json, ...]
    options: Json
    defaults: Json
    overrides: tuple[Json, ...] = ()

    @classmethod
    def from_json(cls, raw: Json) -> "Panel":
        """Reads one panel of the dashboard's `panels` list."""
        pos = raw.get("gridPos") or {}
        return cls(
            id=int(raw["id"]),
            type=str(raw["type"]),
            title=str(raw.get("title", "")),
            grid=Grid(
                int(pos.get("x", 0)), int(pos.get("y", 0)), pos.get("w", 24), pos.get("h", 8)
            ),
            targets=tuple(Target.from_json(t) for t in raw.get("targets") or []),
            transformations=tuple(
                t for t in raw.get("transformations") or [] if not t.get("disabled")
            ),
            options=dict(raw.get("options") or {}),
            defaults=dict((raw.get("fieldConfig") or {}).get("defaults") or {}),
            overrides=tuple((raw.get("fieldConfig") or {}).get("overrides") or []),
        )


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The dashboard: uid, title, default time span and panels in reading order."""

    uid: str
    title: str
    span_s: int
    panels: tuple[Panel, ...]

    def panel(self, title: str) -> Panel:
        """The panel with this title; KeyError when there is none."""
        for panel in self.panels:
            if panel.title == title:
                return panel
        raise KeyError(title)


def default_dashboard_path() -> Path:
    """The packaged copy of the dashboard when the wheel carries one, else the repository's."""
    packaged = resources.files("clima.view").joinpath("clima.json")
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "dashboards" / "clima.json"


def load_dashboard(path: Path | None = None) -> Dashboard:
    """Reads and checks the dashboard; DashboardError names every broken rule."""
    source = path or default_dashboard_path()
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DashboardError(f"cannot read dashboard {source}: {exc}") from exc
    problems = validate(raw)
    if problems:
        raise DashboardError(f"{source}: " + "; ".join(problems))
    panels = sorted((Panel.from_json(p) for p in raw["panels"]), key=lambda p: (p.grid.y, p.grid.x))
    return Dashboard(raw["uid"], raw.get("title", ""), _span_s(raw), tuple(panels))


def validate(raw: Json) -> list[str]:
    """Every way the dashboard breaks the contract Grafana and the view rely on."""
    problems = []
    if raw.get("uid") != DASHBOARD_UID:
        problems.append(f"uid must be {DASHBOARD_UID!r}, not {raw.get('uid')!r}")
    panels = raw.get("panels") or []
    ids = [p.get("id") for p in panels]
    if len(set(ids)) != len(ids) or not all(isinstance(i, int) for i in ids):
        problems.append(f"panel ids must be unique integers: {ids}")
    for panel in panels:
        problems.extend(_panel_problems(panel))
    return problems


def _panel_problems(panel: Json) -> list[str]:
    where = f"panel {panel.get('id')} ({panel.get('title', '')})"
    problems = []
    if panel.get("type") != "row" and not panel.get("targets"):
        problems.append(f"{where} has no query")
    sources = [panel.get("datasource")] if "datasource" in panel else []
    sources += [t.get("datasource") for t in panel.get("targets") or []]
    for source in sources:
        if source != {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}:
            problems.append(f"{where} must use data source uid {DATASOURCE_UID!r}: {source}")
    for target in panel.get("targets") or []:
        if target.get("query"):
            problems.append(f"{where} uses a free-text query; use a command")
        if target.get("command") not in PLUGIN_COMMANDS:
            problems.append(f"{where} uses {target.get('command')!r}, not a plain Valkey command")
    return problems


def _span_s(raw: Json) -> int:
    """The default time span (`now-15m` -> 900 s) that the view queries time ranges with."""
    found = _RELATIVE_TIME.match(str((raw.get("time") or {}).get("from", "")))
    return int(found.group(1)) * _UNIT_S[found.group(2)] if found else 3600
