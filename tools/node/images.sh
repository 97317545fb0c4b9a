#!/usr/bin/env bash
# Every image the local node runs, built here (nothing can be pulled) and pushed to the local
# registry. Builds are keyed by their inputs: an unchanged image is neither rebuilt nor re-pushed.
#   images.sh all | base | pause | coredns | stores | clima     (REGISTRY=127.0.0.1:5000)
# Names in the registry:
#   pause:3.10, clima-node/coredns:<v>       the pod sandbox and the cluster DNS
#   clima/clima:<version>, :<version>-<key>  the project's Dockerfile on a Debian Python base
#                                            (<key>: a digest of its inputs)
#   apache/kafka, library/rabbitmq, valkey/valkey at the operator's pinned default tags
#       (operator/clima_operator/images.py): stand-ins for those upstream images, built from
#       Debian packages and Maven jars; containerd sends docker.io pulls to this registry
#       (tools/node/node.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../cluster/lib.sh"
root="$CLIMA_REPO"
registry="${REGISTRY:-127.0.0.1:5000}"
cache="$CLIMA_CACHE/node"
export CONTAINERS_CONF="$here/config/containers.conf"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/pyproject.toml" | head -n1)"
# the operator's default store images, pinned in one place (operator/clima_operator/images.py)
pins="$(python3 "$root/operator/clima_operator/images.py")" \
  || { echo "images: cannot read operator/clima_operator/images.py" >&2; exit 1; }
eval "$pins"
kafka_version=$KAFKA_TAG
t0=$SECONDS
say() { echo "[images $((SECONDS - t0))s] $*" >&2; }
die() { say "error: $*"; exit 1; }

need() {
  local missing=() c
  for c in podman buildah mmdebstrap catatonit; do command -v "$c" >/dev/null || missing+=("$c"); done
  [ "${#missing[@]}" = 0 ] || die "missing ${missing[*]}: run tools/node/node.sh install"
}

# key <files or folders...>: a digest of their contents (paths and bytes).
key() {
  find "$@" -type f -not -path '*/__pycache__/*' -not -name '*.pyc' -print0 | sort -z |
    xargs -0 sha256sum | sed "s|$root/||" | sha256sum | cut -c1-16
}

built_key() { podman image inspect --format '{{index .Labels "io.clima.build-key"}}' "$1" 2>/dev/null || true; }

# push <local-name> <registry-path>: copies the image to the registry unless it has it already.
push() {
  local digest remote
  digest="$(podman image inspect --format '{{.Digest}}' "$1")"
  remote="$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$registry/$2" 2>/dev/null || true)"
  if [ -n "$remote" ] && [ "$(built_key "$1")" = "$(skopeo inspect --tls-verify=false --format '{{index .Labels "io.clima.build-key"}}' "docker://$registry/$2" 2>/dev/null)" ]; then
    say "$registry/$2 is current"
    return 0
  fi
  say "pushing $registry/$2 ($digest)"
  podman push --quiet --tls-verify=false "$1" "docker://$registry/$2"
}

# build <name> <containerfile> <context> <key>: builds unless the image carries that key.
build() {
  local name="$1" file="$2" context="$3" k="$4" t=$SECONDS; shift 4
  if [ "$(built_key "$name")" = "$k" ]; then say "$name is built (key $k)"; return 0; fi
  say "building $name ..."
  podman build --quiet --network host --pull=never --label "io.clima.build-key=$k" \
    -f "$file" -t "$name" "$@" "$context" >/dev/null
  say "built $name in $((SECONDS - t))s ($(podman image inspect --format '{{.Size}}' "$name" | awk '{printf "%d MB", $1/1e6}'))"
}

base() {
  local tar="$cache/debian-bookworm-minbase.tar" name=localhost/clima-node/debian:bookworm
  if [ ! -s "$tar" ]; then
    say "making a Debian bookworm minbase root file system with mmdebstrap (~1 min, once)"
    mkdir -p "$cache"
    # the format follows the name's extension, so the partial file still ends in .tar
    mmdebstrap --quiet --variant=minbase --mode=root --include=ca-certificates bookworm "$cache/partial.tar" >&2
    mv "$cache/partial.tar" "$tar"
  fi
  local k; k="$(sha256sum < "$tar" | cut -c1-16)"
  if [ "$(built_key "$name")" != "$k" ]; then
    say "importing the base image $name"
    podman import --quiet --change "LABEL io.clima.build-key=$k" --change 'CMD ["bash"]' "$tar" "$name" >/dev/null
  fi
  build localhost/clima-node/python:3.11 "$here/images/debian-python.Containerfile" "$here/images" \
    "$(key "$here/images/debian-python.Containerfile")-$k"
}

pause() {
  local name=localhost/clima-node/pause:3.10 k c
  k="$(sha256sum < /usr/bin/catatonit | cut -c1-16)"
  if [ "$(built_key "$name")" != "$k" ]; then
    say "building $name from Debian's static catatonit"
    c="$(buildah from scratch)"
    buildah copy --quiet "$c" /usr/bin/catatonit /pause >/dev/null
    buildah config --entrypoint '["/pause","-P"]' --cmd '[]' --user 65535:65535 \
      --label "io.clima.build-key=$k" "$c"
    buildah commit --quiet --format docker "$c" "$name" >/dev/null
    buildah rm "$c" >/dev/null
  fi
  push "$name" pause:3.10
}

coredns() {
  local ctx name="localhost/clima-node/coredns:$COREDNS_VERSION"
  [ -x "$COREDNS_BIN/coredns" ] || die "$COREDNS_BIN/coredns is missing: run tools/cluster/build.sh"
  ctx="$(mktemp -d)"; cp "$COREDNS_BIN/coredns" "$here/images/coredns.Containerfile" "$ctx/"
  build "$name" "$ctx/coredns.Containerfile" "$ctx" \
    "$(cat "$ctx/coredns" "$ctx/coredns.Containerfile" | sha256sum | cut -c1-16)"
  rm -rf "$ctx"
  push "$name" "clima-node/coredns:$COREDNS_VERSION"
}

stores() {
  local home="$CLIMA_CACHE/kafka-$kafka_version" ctx
  if [ ! -f "$home/complete" ]; then
    say "resolving Kafka $kafka_version's jars from Maven Central"
    CLIMA_KAFKA_VERSION=$kafka_version bash "$root/tools/local/infra.sh" install kafka >&2
  fi
  ctx="$cache/kafka-context"; rm -rf "$ctx"; mkdir -p "$ctx"
  cp -r "$home/libs" "$ctx/libs"; cp "$here/images/kafka.Containerfile" "$ctx/"
  build localhost/clima-node/kafka:$kafka_version "$ctx/kafka.Containerfile" "$ctx" \
    "$(key "$here/images/kafka.Containerfile")-$(sha256sum < "$home/complete" | cut -c1-16)"
  build "localhost/clima-node/rabbitmq:$RABBITMQ_TAG" "$here/images/rabbitmq.Containerfile" "$here/images" \
    "$(key "$here/images/rabbitmq.Containerfile")"
  build "localhost/clima-node/valkey:$VALKEY_TAG" "$here/images/valkey.Containerfile" "$here/images" \
    "$(key "$here/images/valkey.Containerfile")"
  push "localhost/clima-node/kafka:$kafka_version" "$KAFKA_REPOSITORY:$kafka_version"
  push "localhost/clima-node/rabbitmq:$RABBITMQ_TAG" "library/$RABBITMQ_REPOSITORY:$RABBITMQ_TAG"
  push "localhost/clima-node/valkey:$VALKEY_TAG" "$VALKEY_REPOSITORY:$VALKEY_TAG"
}

# The project's own Dockerfile and build context, on the Debian Python base. Builds reach PyPI
# through a proxy whose CA only the host trusts: the host's bundle is mounted for the build
# and named by PIP_CERT, never copied into the image.
clima() {
  local name="localhost/clima/clima:$version" k
  k="$(cd "$root" && key Dockerfile Dockerfile.dockerignore pyproject.toml uv.lock README.md services operator dashboards)"
  # --no-cache: buildah reuses the runtime stage's `RUN --mount=...,from=builder` layer
  # without looking at the mounted wheels, so a cached build would install stale code
  # (the key above already decides when to build at all).
  build "$name" "$root/Dockerfile" "$root" "$k" --no-cache \
    --ignorefile "$root/Dockerfile.dockerignore" --build-arg "VERSION=$version" \
    --build-arg PYTHON_IMAGE=localhost/clima-node/python:3.11 \
    --volume /etc/ssl/certs:/host-certs:ro --build-arg PIP_CERT=/host-certs/ca-certificates.crt
  push "$name" "clima/clima:$version"
  # Also under a tag of its own inputs: a node that pulled an earlier <version> build
  # (pull policy IfNotPresent) would keep running it; `make kube-up` installs this tag.
  podman tag "$name" "localhost/clima/clima:$version-$k"
  push "localhost/clima/clima:$version-$k" "clima/clima:$version-$k"
  make_state_dir "$CLIMA_STATE/node"
  echo "$version-$k" > "$CLIMA_STATE/node/clima-image-tag"
}

need
case "${1:-all}" in
  base) base ;;
  pause) pause ;;
  coredns) coredns ;;
  stores) base; stores ;;
  clima) base; clima ;;
  all) base; pause; coredns; stores; clima ;;
  *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
say "images ready in $registry"
