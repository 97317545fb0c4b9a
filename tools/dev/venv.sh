#!/usr/bin/env bash
# Creates (or refreshes) the project's virtualenv in .venv with uv, cached outside the repo.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${CLIMA_CACHE_DIR:-$HOME/.cache/clima}"
uv_bin="$cache/uv/bin/uv"
if [ ! -x "$uv_bin" ]; then
  echo "==> installing uv into $cache/uv (first time only)"
  python3 -m venv "$cache/uv"
  "$cache/uv/bin/pip" install -q uv==0.13.8
fi
stamp=.venv/.clima-stamp
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "==> syncing Python environment in .venv (uv)"
[ -d .venv ] || "$uv_bin" venv -q --python python3 .venv
UV_CACHE_DIR="$cache/uv-cache" VIRTUAL_ENV=.venv "$uv_bin" pip install -q -e '.[dev]'
echo "$want" > "$stamp"
