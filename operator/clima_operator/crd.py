"""The ClimaPipeline CustomResourceDefinition, derived from the pydantic spec model.

``chart/files/crds/climapipelines.clima.io.yaml`` is this module's output, checked in so the
chart and ``kubectl apply`` can use it; a unit test fails when the two differ. Regenerate with
``python -m clima_operator.crd chart/files/crds/climapipelines.clima.io.yaml``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from clima_operator.spec import MAX_NAME_LENGTH, PipelineSpec

GROUP = "clima.io"
VERSION = "v1alpha1"
KIND = "ClimaPipeline"
PLURAL = "climapipelines"
CRD_NAME = f"{PLURAL}.{GROUP}"

# Keys of pydantic's JSON schema a structural Kubernetes schema keeps, in the order written.
_ORDER = (
    "type",
    "description",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "maxItems",
    "required",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
)

Schema = dict[str, Any]


def structural(node: Schema, defs: dict[str, Schema]) -> Schema:
    """Turn one pydantic JSON-schema node into a structural OpenAPI v3 node (no $ref/anyOf)."""
    if "$ref" in node:
        target = structural(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {**target, **structural({k: v for k, v in node.items() if k != "$ref"}, defs)}
    if "anyOf" in node:
        choices = [choice for choice in node["anyOf"] if choice != {"type": "null"}]
        if len(choices) != 1:
            raise ValueError(f"cannot express {node['anyOf']} in a structural schema")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        return {**structural(choices[0], defs), **structural(rest, defs)}
    out: Schema = {k: node[k] for k in _ORDER if k in node and node[k] is not None}
    if "properties" in node:
        out["properties"] = {
            name: structural(child, defs) for name, child in node["properties"].items()
        }
    if "items" in node:
        out["items"] = structural(node["items"], defs)
    values = node.get("additionalProperties")
    if not isinstance(values, dict) and len(node.get("patternProperties") or {}) == 1:
        # a map with constrained keys: structural schemas cannot say what a key must look like
        # (the operator's model checks the keys), only what each value must be
        values = next(iter(node["patternProperties"].values()))
    if isinstance(values, dict):
        out["additionalProperties"] = structural(values, defs)
    return out


def spec_schema() -> Schema:
    """The OpenAPI schema of ``spec``, generated from :class:`PipelineSpec`."""
    raw = PipelineSpec.model_json_schema(by_alias=True)
    schema = structural(raw, raw.get("$defs", {}))
    schema["default"] = {}
    return schema


def _condition_schema() -> Schema:
    text: Schema = {"type": "string", "maxLength": 32768}
    return {
        "type": "object",
        "description": "One observation of the pipeline, as in metav1.Condition.",
        "required": ["type", "status"],
        "properties": {
            "type": {**text, "maxLength": 316, "description": "Ready, Progressing, Degraded, "
                     "or <Component>Ready (ApiReady, WriterReady, KafkaReady...)."},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"],
                       "description": "Whether the condition holds."},
            "reason": {**text, "maxLength": 1024,
                       "description": "CamelCase machine-readable cause, e.g. RollingOut."},
            "message": {**text, "description": "What is going on and what to do about it."},
            "lastTransitionTime": {"type": "string", "format": "date-time",
                                   "description": "When status last changed."},
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0,
                                   "description": "metadata.generation this was computed for."},
        },
    }  # fmt: skip


def _endpoint(what: str) -> Schema:
    return {"type": "string", "description": what}


def status_schema() -> Schema:
    """The OpenAPI schema of ``status``, written by the operator only."""
    return {
        "type": "object",
        "description": "Observed state, recomputed from the live children on every reconcile.",
        "properties": {
            "observedGeneration": {
                "type": "integer",
                "format": "int64",
                "description": "metadata.generation of the spec last reconciled.",
            },
            "phase": {
                "type": "string",
                "enum": [
                    "Pending",
                    "Progressing",
                    "Ready",
                    "Draining",
                    "Degraded",
                    "Suspended",
                    "Invalid",
                ],
                "description": "One-word summary of the conditions.",
            },
            "conditions": {
                "type": "array",
                "description": "Ready, Progressing, Degraded, one <Component>Ready each and "
                "<Broker>Draining while a broker the mode left is drained.",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "items": _condition_schema(),
            },
            "image": {
                "type": "string",
                "description": "The Clima image the pipeline's processes run: spec.image, or "
                "the image recorded in the annotation clima.io/image when the pipeline was "
                "first reconciled (an operator upgrade does not move it).",
            },
            "endpoints": {
                "type": "object",
                "description": "Where to reach the pipeline.",
                "properties": {
                    "api": _endpoint("In-cluster URL of the api Service."),
                    "proxy": _endpoint("In-cluster URL of the proxy's HTTP port."),
                    "grafana": _endpoint("In-cluster URL of Grafana, when enabled."),
                    "ingress": _endpoint("External URL of the api, when the Ingress has a host."),
                },
            },
        },
    }


def _root_rules() -> list[dict[str, str]]:
    return [
        {
            "rule": f"self.metadata.name.size() <= {MAX_NAME_LENGTH}",
            "message": f"metadata.name must be at most {MAX_NAME_LENGTH} characters so that "
            "child names such as <name>-rabbit-consumer stay valid",
            "reason": "FieldValueInvalid",
        },
        {
            "rule": "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
            "message": "metadata.name must start with a letter and hold only a-z, 0-9 and '-' "
            "(it names Services)",
            "reason": "FieldValueInvalid",
        },
    ]


def _printer_columns() -> list[dict[str, Any]]:
    ready = '.status.conditions[?(@.type=="Ready")]'
    return [
        {"name": "Mode", "type": "string", "jsonPath": ".spec.mode",
         "description": "Where the writer sends reports."},
        {"name": "Ready", "type": "string", "jsonPath": f"{ready}.status",
         "description": "Whether every component is ready."},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase",
         "description": "One-word summary."},
        {"name": "Reason", "type": "string", "jsonPath": f"{ready}.reason", "priority": 1,
         "description": "Why the pipeline is (not) ready."},
        {"name": "Image", "type": "string", "jsonPath": ".status.image", "priority": 1,
         "description": "The Clima image the pipeline runs."},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]  # fmt: skip


def build_crd() -> dict[str, Any]:
    """The complete CustomResourceDefinition manifest."""
    root: Schema = {
        "type": "object",
        "description": "A Clima weather-report pipeline: api, proxy, writer, Kafka and/or "
        "RabbitMQ, consumers, Valkey and Grafana, run and kept healthy by the Clima operator.",
        "x-kubernetes-validations": _root_rules(),
        "properties": {
            "apiVersion": {"type": "string", "description": "clima.io/v1alpha1"},
            "kind": {"type": "string", "description": KIND},
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": status_schema(),
        },
    }
    version = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "additionalPrinterColumns": _printer_columns(),
        "schema": {"openAPIV3Schema": root},
    }
    names = {
        "kind": KIND,
        "listKind": f"{KIND}List",
        "plural": PLURAL,
        "singular": KIND.lower(),
        "shortNames": ["cp"],
        "categories": ["clima"],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/name": "clima", "app.kubernetes.io/part-of": "clima"},
        },
        "spec": {"group": GROUP, "scope": "Namespaced", "names": names, "versions": [version]},
    }


def render() -> str:
    """The CRD as the YAML text of the checked-in file."""
    header = (
        "# Generated from operator/clima_operator/spec/ by `python -m clima_operator.crd`;\n"
        "# edit the model, not this file.\n"
    )
    return header + yaml.dump(build_crd(), Dumper=_PlainDumper, sort_keys=False, width=100)


class _PlainDumper(yaml.SafeDumper):
    """Writes a schema used twice in full both times, never as a YAML anchor and alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def main(argv: list[str] | None = None) -> None:
    """Write the CRD to the path given, or to standard output."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        Path(args[0]).write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())


if __name__ == "__main__":
    main()
