#!/usr/bin/env bash
# The Helm chart's chores:
#   chart.sh lint                  schema current, helm lint (default values and a pipeline)
#   chart.sh package [dir]         helm package into dir (default out/chart); prints the .tgz
#   chart.sh push oci://host/path  package, then helm push (--plain-http for loopback hosts)
#   chart.sh schema [--check]      regenerate (or check) pipeline.spec of values.schema.json
#                                  from the CRD in chart/files/crds/
# Dashboards: chart/files/dashboards is a symbolic link to dashboards/, so the chart always
# ships the current JSON files; `helm package` stores them as regular files (helm prints one
# "found symbolic link" line when it reads the chart folder; that is expected).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
chart="$root/chart"

find_helm() {
  if command -v helm >/dev/null; then return 0; fi
  # shellcheck source=SCRIPTDIR/../cluster/lib.sh
  source "$root/tools/cluster/lib.sh"  # HELM_BIN: the version-keyed build of tools/cluster
  if [ -x "$HELM_BIN/helm" ]; then PATH="$HELM_BIN:$PATH"; return 0; fi
  echo "helm not found: install Helm 3 or build it with tools/cluster/build.sh" >&2
  exit 1
}

python_bin() {
  if [ -x "$root/.venv/bin/python" ]; then echo "$root/.venv/bin/python"; else echo python3; fi
}

# Rewrites properties.pipeline.properties.spec of values.schema.json from the CRD's spec
# schema, adding additionalProperties: false to every object so typos are refused by name.
schema() {
  "$(python_bin)" - "$chart" "${1:-}" <<'PY'
import json, sys
from pathlib import Path
import yaml

chart, mode = Path(sys.argv[1]), sys.argv[2]
crd = yaml.safe_load((chart / "files/crds/climapipelines.clima.io.yaml").read_text())
spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
KEEP = ("description", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern",
        "required", "minItems", "maxItems")

def convert(node):
    out = {key: node[key] for key in KEEP if key in node}
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    elif "type" in node:
        out["type"] = node["type"]
    if "properties" in node:
        out["properties"] = {name: convert(child) for name, child in node["properties"].items()}
        out["additionalProperties"] = False
    if "items" in node:
        out["items"] = convert(node["items"])
    return out

generated = convert(spec)
generated["description"] = ("The ClimaPipeline spec, one to one. Generated from "
                            "files/crds/climapipelines.clima.io.yaml by tools/dev/chart.sh schema.")
path = chart / "values.schema.json"
document = json.loads(path.read_text())
document["properties"]["pipeline"]["properties"]["spec"] = generated
text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
if mode == "--check":
    if path.read_text() != text:
        sys.exit("chart/values.schema.json is stale: run tools/dev/chart.sh schema")
else:
    path.write_text(text)
PY
}

lint() {
  schema --check
  helm lint "$chart" --strict
  helm lint "$chart" --strict --set pipeline.enabled=true
  helm lint "$chart" --strict --set pipeline.enabled=true \
    --set 'operator.watchNamespaces[0]=default' --namespace default
}

package() {
  local dest="${1:-$root/out/chart}"
  mkdir -p "$dest"
  schema --check >&2
  helm package "$chart" --destination "$dest" >&2
  local version
  version="$(awk '/^version:/ {print $2}' "$chart/Chart.yaml")"
  echo "$dest/clima-$version.tgz"
}

push() {
  local target="${1:-}"
  case "$target" in
    oci://*) ;;
    *) echo "usage: chart.sh push oci://<host>[:port]/<path>   e.g. oci://127.0.0.1:5000/charts" >&2
       exit 2 ;;
  esac
  local host="${target#oci://}"; host="${host%%/*}"; host="${host%:*}"
  local flags=()
  case "$host" in
    127.*|localhost|\[::1\]|::1) flags+=(--plain-http) ;;  # loopback registries speak plain http
  esac
  local tgz
  tgz="$(package)"
  helm push "$tgz" "$target" "${flags[@]}"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  lint) find_helm; lint ;;
  package) find_helm; package "$@" ;;
  push) find_helm; push "$@" ;;
  schema) schema "$@" ;;
  *) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
