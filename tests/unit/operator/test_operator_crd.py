"""The CRD: generated from the model, checked in, documented and structural."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from clima_operator.crd import build_crd, render
from clima_operator.spec import parse_spec

ROOT = Path(__file__).resolve().parents[3]
CRD_FILE = ROOT / "chart" / "files" / "crds" / "climapipelines.clima.io.yaml"
SAMPLE = ROOT / "samples" / "pipeline.yaml"


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(child, f"{path}.{name}")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]")


def test_checked_in_file_is_current() -> None:
    """The YAML in chart/files/crds is exactly what the model generates today."""
    assert CRD_FILE.read_text(encoding="utf-8") == render()


def test_every_field_is_described() -> None:
    """kubectl explain has something to say about every spec and status field."""
    schema = _schema()
    for section in ("spec", "status"):
        for path, node in _walk(schema["properties"][section], section):
            assert node.get("description"), f"{path} has no description"


def test_schema_is_structural() -> None:
    """No $ref, anyOf, title or null types survive: the API server would refuse them."""
    text = yaml.safe_dump(_schema())
    for word in ("$ref", "anyOf", "title:", "type: 'null'", "$defs"):
        assert word not in text


def test_bounds_enums_and_defaults() -> None:
    """Replicas are bounded, mode is an enum with a default, quantities are int-or-string."""
    spec = _schema()["properties"]["spec"]["properties"]
    replicas = spec["writer"]["properties"]["replicas"]
    assert (replicas["minimum"], replicas["maximum"], replicas["default"]) == (0, 100, 1)
    assert spec["mode"]["enum"] == ["kafka", "rabbit", "both", "random"]
    assert spec["mode"]["default"] == "both"
    cpu = spec["api"]["properties"]["resources"]["properties"]["requests"]["properties"]["cpu"]
    assert cpu["x-kubernetes-int-or-string"] is True
    assert spec["kafka"]["default"] == {}


def test_cross_field_rules_are_cel() -> None:
    """External brokers, autoscaling bounds and mode/broker pairs are CEL rules."""
    schema = _schema()
    spec = schema["properties"]["spec"]
    rules = [rule["rule"] for rule in spec["x-kubernetes-validations"]]
    assert any("self.kafka.type != 'disabled'" in rule for rule in rules)
    kafka_rules = spec["properties"]["kafka"]["x-kubernetes-validations"]
    assert kafka_rules[0]["fieldPath"] == ".external.address"
    autoscaling = spec["properties"]["api"]["properties"]["autoscaling"]
    assert autoscaling["x-kubernetes-validations"][0]["rule"].endswith(
        "self.minReplicas <= self.maxReplicas"
    )
    assert "self.metadata.name.size() <= 40" in [
        r["rule"] for r in schema["x-kubernetes-validations"]
    ]


def test_names_columns_and_status_subresource() -> None:
    """Short name cp, Mode/Ready/Phase/Age columns and a status subresource."""
    crd = build_crd()
    assert crd["spec"]["names"]["shortNames"] == ["cp"]
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"] if "priority" not in c]
    assert columns == ["Mode", "Ready", "Phase", "Age"]


def test_sample_is_a_valid_pipeline() -> None:
    """samples/pipeline.yaml passes the operator's own validation."""
    sample = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    assert sample["kind"] == "ClimaPipeline"
    parse_spec(sample["spec"])


def test_cel_rules_hold_on_bare_defaults() -> None:
    """The API server checks CEL rules against the literal default too, so every field a rule
    reads on an object defaulting to {} is guarded with has() (it refused the CRD otherwise)."""
    for path, node in _walk(_schema()["properties"]["spec"], "spec"):
        if node.get("default") != {}:
            continue
        for rule in node.get("x-kubernetes-validations", []):
            for field in set(re.findall(r"self\.(\w+)", rule["rule"])):
                assert f"has(self.{field})" in rule["rule"], f"{path}: {rule['rule']}"
