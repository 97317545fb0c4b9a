#!/usr/bin/env bash
# Regenerates the Python code of proto/ into services/clima/contract/_pb (never edit it by hand).
# With --check, fails when the checked-in code is not what the .proto files generate. The
# generator (grpcio-tools, mypy-protobuf) is the one uv.lock pins, installed by `make venv`.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=services/clima/contract/_pb
gen() {
  local dest=$1
  rm -rf "$dest" && mkdir -p "$dest"
  PATH="$PWD/.venv/bin:$PATH" .venv/bin/python -m grpc_tools.protoc -Iproto --python_out="$dest" --grpc_python_out="$dest" \
    --mypy_out="$dest" proto/clima/v1/clima.proto
  touch "$dest/__init__.py" "$dest/clima/__init__.py" "$dest/clima/v1/__init__.py"
  # generated modules import "clima.v1..."; make them relative to the wrapper package
  sed -i 's/^from clima\.v1 import/from . import/' "$dest/clima/v1/clima_pb2_grpc.py"
}
if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  gen "$tmp/_pb"
  diff -r -x __pycache__ "$tmp/_pb" "$out" >/dev/null || { echo "proto: generated code is stale; run 'make proto'" >&2; exit 1; }
  echo "proto: generated code is current"
else
  gen "$out"
  echo "proto: generated $out"
fi
