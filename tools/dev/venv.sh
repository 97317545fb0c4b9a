#!/usr/bin/env bash
# The project's virtualenv in .venv: exactly what uv.lock names, nothing resolved afresh.
#   venv.sh          install the lock into .venv (fails, naming the fix, if pyproject.toml
#                    and uv.lock disagree)
#   venv.sh lock     re-resolve uv.lock on purpose (`make lock`; UPGRADE=pkg for one package,
#                    UPGRADE=all for every one), then install it
#   venv.sh uv-path  print the pinned uv's path (installing it first if needed)
# uv itself is pinned below and installed into the cache (~/.cache/clima) on first use.
set -euo pipefail
cd "$(dirname "$0")/../.."
UV_VERSION=0.13.8
cache="${CLIMA_CACHE_DIR:-$HOME/.cache/clima}"
uv_home="$cache/uv-$UV_VERSION"
uv_bin="$uv_home/bin/uv"
export UV_CACHE_DIR="$cache/uv-cache"
# the interpreter is this machine's python3 (3.11), never one uv downloads
export UV_PYTHON_DOWNLOADS=never
if [ ! -x "$uv_bin" ]; then
  echo "==> installing uv $UV_VERSION into $uv_home (first time only)"
  python3 -m venv "$uv_home"
  "$uv_home/bin/pip" install -q "uv==$UV_VERSION"
fi

if [ "${1:-}" = "uv-path" ]; then echo "$uv_bin"; exit 0; fi
if [ "${1:-}" = "lock" ]; then
  case "${UPGRADE:-}" in
    "") echo "==> re-resolving uv.lock for pyproject.toml (kept versions stay)"; "$uv_bin" lock ;;
    all) echo "==> re-resolving uv.lock, every package at its newest allowed version"; "$uv_bin" lock --upgrade ;;
    *) echo "==> re-resolving uv.lock, upgrading $UPGRADE"; "$uv_bin" lock --upgrade-package "$UPGRADE" ;;
  esac
  rm -f .venv/.clima-stamp
  echo "==> after an upgrade: 'make proto' if grpcio-tools or mypy-protobuf moved, then 'make test'"
fi

stamp=.venv/.clima-stamp
want=$(cat pyproject.toml uv.lock | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/python ]; then
  exit 0
fi
if ! "$uv_bin" lock --check >/dev/null 2>&1; then
  cat >&2 <<'MSG'
venv: uv.lock does not match pyproject.toml (a dependency was added, removed or changed).
Nothing was installed. Run 'make lock' to re-resolve the lock on purpose, review the diff of
uv.lock, and commit both files together.
MSG
  exit 1
fi
echo "==> installing the locked Python environment into .venv (uv sync --locked)"
"$uv_bin" sync --locked --extra dev --python python3 --quiet
echo "$want" > "$stamp"
