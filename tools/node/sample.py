"""Prints samples/pipeline.yaml with the local node's overrides, for `kubectl apply -f -`.

    python sample.py [--grafana=false] [--name NAME] [--set path=value ...]

Grafana is the one part no image of which can be built here, so `make kube-up` turns it off.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "pipeline.yaml"


def put(doc: dict[str, Any], path: str, value: Any) -> None:
    """Sets ``doc[a][b][c] = value`` for ``path`` "a.b.c", making the maps on the way."""
    *parents, last = path.split(".")
    for key in parents:
        doc = doc.setdefault(key, {})
    doc[last] = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grafana", choices=["true", "false"], default="true")
    parser.add_argument("--name", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="PATH=JSON")
    args = parser.parse_args()
    doc = yaml.safe_load(SAMPLE.read_text())
    put(doc, "spec.grafana.enabled", args.grafana == "true")
    if args.name:
        doc["metadata"]["name"] = args.name
    for item in args.set:
        path, _, raw = item.partition("=")
        put(doc, path, json.loads(raw))
    yaml.safe_dump(doc, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
