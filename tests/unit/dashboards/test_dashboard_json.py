"""The Grafana dashboard keeps the contract that the chart, Grafana and the local view rely on."""

import copy
import json
from typing import Any

import pytest

from clima.contract import MUNICIPALITIES
from clima.store import AVERAGES_STREAM, STATS_HASH, WEATHER_COUNTS_HASH, stream_key
from clima.view import (
    DASHBOARD_UID,
    DATASOURCE_TYPE,
    DATASOURCE_UID,
    PLUGIN_COMMANDS,
    command_of,
    default_dashboard_path,
    load_dashboard,
    validate,
)
from clima.view._transform import _HANDLERS

# what the Redis data source runs on plain Valkey (no TS.*, FT.*, JSON.*, no free-text CLI)
PLAIN_VALKEY = {
    "get", "hget", "hgetall", "hkeys", "hlen", "hmget", "info", "llen", "scard", "smembers",
    "ttl", "type", "xinfoStream", "xlen", "xrange", "xrevrange", "zrange", "clientList",
    "slowlogGet", "tmscan",
}  # fmt: skip


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The dashboard JSON as Grafana reads it."""
    data: dict[str, Any] = json.loads(default_dashboard_path().read_text(encoding="utf-8"))
    return data


def _targets(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for p in raw["panels"] for t in p.get("targets", [])]


def test_fixed_uid_and_schema(raw: dict[str, Any]) -> None:
    """The dashboard has the fixed uid links depend on and a current schema version."""
    assert raw["uid"] == DASHBOARD_UID == "clima-overview"
    assert 36 <= raw["schemaVersion"] <= 41
    assert raw["id"] is None, "provisioned dashboards carry no database id"


def test_panel_ids_are_unique(raw: dict[str, Any]) -> None:
    """Every panel, rows included, has its own integer id."""
    ids = [p["id"] for p in raw["panels"]]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids))


def test_every_query_names_the_valkey_data_source(raw: dict[str, Any]) -> None:
    """Each target and each panel reference the data source by the fixed uid and type."""
    expected = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
    assert expected == {"type": "redis-datasource", "uid": "clima-valkey"}
    assert _targets(raw)
    for target in _targets(raw):
        assert target["datasource"] == expected
    for panel in raw["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == expected, panel["title"]


def test_only_commands_plain_valkey_can_run(raw: dict[str, Any]) -> None:
    """Targets use the plugin's command mode with commands that need no Redis module."""
    assert PLAIN_VALKEY == PLUGIN_COMMANDS
    for target in _targets(raw):
        assert target["type"] == "command"
        assert target["command"] in PLAIN_VALKEY
        assert not target.get("query"), "free-text queries flatten replies into one column"


def test_transformations_are_reproduced_by_the_runner(raw: dict[str, Any]) -> None:
    """The local view and the tests reproduce every transformation the dashboard uses."""
    used = {t["id"] for p in raw["panels"] for t in p.get("transformations", [])}
    assert used <= set(_HANDLERS)


def test_panels_fit_the_grid_without_overlap(raw: dict[str, Any]) -> None:
    """Panels sit inside Grafana's 24 columns and no two cover the same cell."""
    taken: dict[tuple[int, int], str] = {}
    for panel in raw["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, (panel["title"], taken.get((x, y)))
                taken[(x, y)] = panel["title"]


def test_seed_panels_query_the_store_keys() -> None:
    """The seed's panels exist and read the keys the store writes, with the seed's commands."""
    board = load_dashboard()
    commands = {p.title: [command_of(t, None) for t in p.targets] for p in board.panels}
    for m in MUNICIPALITIES:
        table = board.panel(f"Last 10 reports — {m.name}")
        assert table.type == "table"
        assert commands[table.title] == [["XREVRANGE", stream_key(m.slug), "+", "-", "COUNT", "10"]]
    assert board.panel("Reports per weather condition").type == "bargauge"
    assert commands["Reports per weather condition"] == [["HGETALL", WEATHER_COUNTS_HASH]]
    for title in ("Average temperature", "Average humidity", "Reports applied per interval"):
        assert board.panel(title).type == "timeseries"
        assert commands[title] == [["XRANGE", AVERAGES_STREAM, "-", "+"]]
    assert board.panel("Pipeline totals").type == "stat"
    assert commands["Pipeline totals"] == [["HGETALL", STATS_HASH]]


def test_validate_names_each_broken_rule(raw: dict[str, Any]) -> None:
    """A wrong uid, a duplicate id, another data source and a module command are all reported."""
    assert validate(raw) == []
    broken = copy.deepcopy(raw)
    broken["uid"] = "other"
    broken["panels"][2]["id"] = broken["panels"][1]["id"]
    broken["panels"][3]["targets"][0]["datasource"] = {"type": "redis-datasource", "uid": "x"}
    broken["panels"][5]["targets"][0]["command"] = "ts.range"
    problems = " | ".join(validate(broken))
    assert "uid must be 'clima-overview'" in problems
    assert "unique" in problems
    assert "data source uid 'clima-valkey'" in problems
    assert "'ts.range'" in problems
