#!/usr/bin/env bash
# The Clima image (./Dockerfile): one image for every Clima process and the operator.
#   images.sh build    build $IMAGE for $PLATFORM (linux/amd64; or linux/arm64) with docker,
#                      podman or buildah (the first that works)
#   images.sh push     push $IMAGE (build it first); loopback registries over plain http
#   images.sh check    without any engine: build the wheel from the Dockerfile's build context
#                      (only what Dockerfile.dockerignore admits) as the builder stage does, install
#                      it into a fresh venv as the runtime stage does, run both entry points
# IMAGE defaults to $REGISTRY/$REPOSITORY:$TAG =
#   ${REGISTRY:-127.0.0.1:5000}/${REPOSITORY:-clima/clima}:${TAG:-<version in pyproject.toml>}
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n1)"
registry="${REGISTRY:-127.0.0.1:5000}"
registry="${registry#oci://}"; registry="${registry%/}"
image="${IMAGE:-$registry/${REPOSITORY:-clima/clima}:${TAG:-$version}}"
# The nodes' platform: linux/amd64 (GKE's default) or linux/arm64 (Arm node pools, e.g. T2A,
# C4A). Building for another architecture than the builder's needs QEMU's binfmt handlers
# (Debian: qemu-user-static), or a builder of that architecture.
platform="${PLATFORM:-linux/amd64}"
case "$platform" in
  linux/amd64|linux/arm64) ;;
  *) echo "images: PLATFORM=$platform is not supported; use linux/amd64 or linux/arm64" >&2; exit 2 ;;
esac

# The first engine that can build here: a docker CLI with a reachable daemon, podman, buildah.
engine() {
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then echo docker; return; fi
  if command -v podman >/dev/null && podman info >/dev/null 2>&1; then echo podman; return; fi
  if command -v buildah >/dev/null; then echo buildah; return; fi
  cat >&2 <<MSG
No container engine can build here: docker (with a running daemon), podman or buildah is
needed. $(command -v docker >/dev/null && echo "A docker CLI is installed, but no daemon answers.")
Build and push the image where one runs (a workstation, CI), e.g.:
  REGISTRY=zot.example.com tools/dev/images.sh build && REGISTRY=zot.example.com tools/dev/images.sh push
The local cluster (kwok) never pulls images, so the chart's e2e tests do not need it;
'tools/dev/images.sh check' verifies the wheel the image is built from without an engine.
MSG
  exit 1
}

loopback() {
  case "${image%%/*}" in 127.*|localhost|localhost:*|\[::1\]*) return 0 ;; *) return 1 ;; esac
}

build() {
  local tool; tool="$(engine)"
  echo "==> building $image for $platform with $tool"
  case "$tool" in
    docker) DOCKER_BUILDKIT=1 docker build --platform "$platform" --build-arg VERSION="$version" -t "$image" . ;;
    podman|buildah)
      # No registry serves python:3.11-slim here: unless PYTHON_IMAGE names a base, build
      # the Debian one (tools/node/images.sh base). PyPI is reached through a proxy whose CA
      # only the host trusts: mount the host's bundle for the build (never into the image).
      local base="${PYTHON_IMAGE:-}"
      if [ -z "$base" ]; then bash tools/node/images.sh base; base=localhost/clima-node/python:3.11; fi
      # --no-cache: buildah reuses a `RUN --mount=...,from=builder` layer without looking at
      # the mounted files, which would install the previous build's wheels
      CONTAINERS_CONF="$root/tools/node/config/containers.conf" "$tool" build --network host --no-cache \
        --platform "$platform" --ignorefile Dockerfile.dockerignore --build-arg VERSION="$version" \
        --build-arg PYTHON_IMAGE="$base" --volume /etc/ssl/certs:/host-certs:ro \
        --build-arg PIP_CERT=/host-certs/ca-certificates.crt -t "$image" . ;;
  esac
}

push() {
  local tool; tool="$(engine)"
  local tls=()
  if loopback && [ "$tool" != docker ]; then tls=(--tls-verify=false); fi  # docker: loopback is insecure by default
  echo "==> pushing $image with $tool"
  CONTAINERS_CONF="$root/tools/node/config/containers.conf" "$tool" push "${tls[@]}" "$image"
}

# context <dir>: copies the Dockerfile's build context into dir: the paths that
# Dockerfile.dockerignore lets through (its "!" lines), nothing else.
context() {
  local entry
  sed -n 's/^!\(.*\)$/\1/p' Dockerfile.dockerignore | while read -r entry; do
    entry="${entry%/}"
    mkdir -p "$1/$(dirname "$entry")"
    cp -r "$entry" "$1/$entry"
  done
  find "$1" \( -name __pycache__ -o -name '*.pyc' -o -name .mypy_cache -o -name .ruff_cache \) -prune -exec rm -rf {} +
}

check() {
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT  # global: the trap runs after this function has returned
  echo "==> build context as the Dockerfile sees it (Dockerfile.dockerignore) in $work/context"
  context "$work/context"
  echo "==> builder stage: the locked runtime dependencies (uv.lock) and the clima wheel"
  bash tools/dev/venv.sh uv-path >/dev/null  # installs the pinned uv on first use
  "$(bash tools/dev/venv.sh uv-path)" export --project "$work/context" --frozen --no-emit-project \
    --no-header --format requirements-txt --output-file "$work/requirements.txt" >/dev/null
  python3 -m venv "$work/build"
  "$work/build/bin/pip" wheel -q --require-hashes --no-deps --wheel-dir "$work/wheels" -r "$work/requirements.txt"
  (cd "$work/context" && "$work/build/bin/pip" wheel -q --no-deps --wheel-dir "$work/wheels" .)
  echo "==> runtime stage: pip install --no-index --no-deps of exactly those wheels"
  python3 -m venv "$work/run"
  "$work/run/bin/pip" install -q --no-index --no-deps "$work"/wheels/*.whl
  "$work/run/bin/pip" check
  "$work/run/bin/clima" --help >/dev/null
  "$work/run/bin/python" -c 'import clima_operator.main, kubernetes, clima.api.app, clima.view'
  [ -x "$work/run/bin/clima-operator" ]
  echo "ok: the wheel builds from the Dockerfile's context, installs offline and both entry points load"
}

case "${1:-}" in
  build) build ;;
  push) push ;;
  check) check ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
