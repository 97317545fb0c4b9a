"""The chart's copies of the wiring agree with clima.wiring: the modes that need each broker
(chart/templates/validate.yaml, which refuses a disabled broker the mode writes to), the
default mode, and the modes values.schema.json accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from clima import wiring
from clima_operator.spec import BROKER_FIELDS

CHART = Path(__file__).resolve().parents[3] / "chart"
VALIDATE = CHART / "templates" / "validate.yaml"


def _validate_rule() -> tuple[str, dict[str, tuple[str, ...]]]:
    """The default mode and the `dict "<broker field>" (list "<mode>" …) …` of validate.yaml."""
    text = VALIDATE.read_text()
    default = re.search(r'\$mode := \$spec\.mode \| default "([a-z]+)"', text)
    assert default, "validate.yaml no longer defaults $mode"
    table = re.search(r"\$modes := dict ((?:\"[a-z]+\" \(list(?: \"[a-z]+\")+\) ?)+)", text)
    assert table, "validate.yaml no longer lists the modes of each broker"
    pairs = re.findall(r"\"([a-z]+)\" \(list((?: \"[a-z]+\")+)\)", table.group(1))
    return default.group(1), {
        field: tuple(re.findall(r'"([a-z]+)"', modes)) for field, modes in pairs
    }


def test_validate_yaml_lists_the_modes_of_each_broker() -> None:
    """validate.yaml's modes per broker field and its default mode are clima.wiring's."""
    default, modes = _validate_rule()
    assert default == wiring.DEFAULT_MODE
    expected = {BROKER_FIELDS[b]: wiring.modes_using(b) for b in wiring.BROKERS}
    assert modes == expected


def test_values_schema_accepts_exactly_the_modes() -> None:
    """values.schema.json's pipeline.spec.mode enum is clima.wiring's modes."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    mode = schema["properties"]["pipeline"]["properties"]["spec"]["properties"]["mode"]
    assert tuple(mode["enum"]) == wiring.MODES
    assert mode.get("default", wiring.DEFAULT_MODE) == wiring.DEFAULT_MODE


def test_the_mode_rule_holds_for_every_mode() -> None:
    """Each mode uses at least one broker, and modes_using is brokers_of read backwards."""
    for mode in wiring.MODES:
        assert wiring.brokers_of(mode)
        for broker in wiring.BROKERS:
            assert (broker in wiring.brokers_of(mode)) == (mode in wiring.modes_using(broker))
