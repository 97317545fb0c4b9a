#!/usr/bin/env bash
# Builds the local cluster toolchain from source into a versioned cache:
#   $CLIMA_CACHE_DIR/k8s-<v>/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   $CLIMA_CACHE_DIR/etcd-<v>/bin/etcd
#   $CLIMA_CACHE_DIR/kwok-<v>/bin/kwok  (+ kwok-<v>/stages/*.yaml)
#   $CLIMA_CACHE_DIR/helm-<v>/bin/helm
#   $CLIMA_CACHE_DIR/{coredns,crictl}-<v>/bin/  (the real node, tools/node/)
# Only missing pieces are built, so a second run is instant. Needs only Go.
# Progress goes to stderr; stdout is the k8s bin dir.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"  # versions and cache paths
export CGO_ENABLED=0
jobs="${CLIMA_BUILD_JOBS:-2}"

log() { echo "[build] $*" >&2; }
command -v go >/dev/null || { log "Go is required (https://go.dev/dl)"; exit 1; }
# The wrapper modules must match versions.env, or the cache key would lie.
grep -Eq "^[[:space:]]*k8s.io/kubernetes $K8S_VERSION( |\$)" "$here/k8s/go.mod" ||
  { log "k8s/go.mod is not for k8s.io/kubernetes $K8S_VERSION: run tools/cluster/gen-gomod.sh"; exit 1; }
grep -Eq "go.etcd.io/etcd/server/v3 $ETCD_VERSION( |\$)" "$here/etcd/go.mod" ||
  { log "etcd/go.mod does not require go.etcd.io/etcd/server/v3 $ETCD_VERSION"; exit 1; }

# One build at a time per cache (others wait, then find everything built).
mkdir -p "$CLIMA_CACHE"
exec 9> "$CLIMA_CACHE/.build.lock"
flock -n 9 || { log "another build.sh is running; waiting for it ..."; flock 9; }

# build_one <out-file> <name> <hint> <command...>: the command writes <out-file>.tmp,
# which is then renamed, so an interrupted build never looks cached.
build_one() {
  local out="$1" what="$2" hint="$3" t0=$SECONDS; shift 3
  [ -x "$out" ] && return 0
  mkdir -p "$(dirname "$out")"
  log "building $what ($hint) ..."
  "$@"
  mv -f "$out.tmp" "$out"
  log "built $what in $((SECONDS - t0))s"
}

# build_in <module-dir> <out-file> <ldflags> <package>: go build inside a wrapper module.
build_in() {
  (cd "$1" && go build -buildvcs=false -p "$jobs" -ldflags "$3" -o "$2.tmp" "$4")
}

# go_install <out-file> <ldflags> <package@version>: go install into a scratch GOBIN.
go_install() {
  local gobin; gobin="$(mktemp -d)"
  GOBIN="$gobin" go install -p "$jobs" -ldflags "$2" "$3"
  mv "$gobin/$(basename "${3%@*}")" "$1.tmp"
  rm -rf "$gobin"
}

# --- Kubernetes control plane + kubectl (wrapper module k8s/) ---
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
v=k8s.io/component-base/version
k8s_ldflags="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
hint="~10-20 min on 2 cores with a cold Go build cache"
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
  [ -x "$K8S_BIN/$cmd" ] && continue
  build_one "$K8S_BIN/$cmd" "$cmd $K8S_VERSION" "$hint" \
    build_in "$here/k8s" "$K8S_BIN/$cmd" "$k8s_ldflags" "k8s.io/kubernetes/cmd/$cmd"
  hint="~1-3 min more: shares most packages with the first"
done

# --- etcd (wrapper module etcd/, whose main.go calls etcdmain.Main) ---
build_one "$ETCD_BIN/etcd" "etcd $ETCD_VERSION" "~2-4 min with a cold Go build cache" \
  build_in "$here/etcd" "$ETCD_BIN/etcd" "-s -w" .

# --- kwok + the stage files it plays (nodes become Ready, pods Running) ---
build_one "$KWOK_BIN/kwok" "kwok $KWOK_VERSION" "~3-6 min with a cold Go build cache" \
  go_install "$KWOK_BIN/kwok" "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
if [ ! -f "$KWOK_DIR/stages/.complete" ]; then
  src="$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  mkdir -p "$KWOK_DIR/stages"
  # The set kwokctl uses by default: fast node start, lease heartbeats, fast pods.
  for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
           pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    install -m 0644 "$src/kustomize/stage/$f.yaml" "$KWOK_DIR/stages/${f##*/}.yaml"
  done
  touch "$KWOK_DIR/stages/.complete"
  log "copied kwok stage files to $KWOK_DIR/stages"
fi

# --- helm ---
build_one "$HELM_BIN/helm" "helm $HELM_VERSION" "~3-6 min with a cold Go build cache" \
  go_install "$HELM_BIN/helm" "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"

# --- the real node's cluster DNS and CRI client (tools/node/) ---
if [ "${CLIMA_BUILD_NODE:-1}" = 1 ]; then
  build_one "$COREDNS_BIN/coredns" "coredns $COREDNS_VERSION" "~3-6 min with a cold Go build cache" \
    go_install "$COREDNS_BIN/coredns" "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  build_one "$CRICTL_BIN/crictl" "crictl $CRICTL_VERSION" "~1-2 min with a cold Go build cache" \
    go_install "$CRICTL_BIN/crictl" "-s -w" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
fi

echo "$K8S_BIN"
