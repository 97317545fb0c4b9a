#!/usr/bin/env bash
# A real Kubernetes node beside the local control plane (tools/cluster/): containerd (Debian)
# with runc and the Debian CNI plugins, kubelet and kube-proxy built from the same Kubernetes
# source as the API server, CoreDNS for Service names, a default StorageClass whose claims a
# local provisioner binds, and the local registry as the source of every image.
#   node.sh install             Debian packages (containerd, runc, CNI plugins, podman, ...)
#   node.sh up | down | status  start (idempotent) / stop and clean up the node
# `up` needs the control plane and the registry up and the images pushed (tools/node/images.sh);
# tools/dev/kube.sh does all of it in order. State and logs: $CLIMA_STATE_DIR/node.
# The host's network is touched only as follows, and `down` undoes each: a veth pair holding
# the node address (10.254.0.1/32), the pods' bridge clima-cni0, kube-proxy's and the CNI
# plugins' iptables chains (KUBE-*, CNI-*), net.ipv4.ip_forward (restored to its old value).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../cluster/lib.sh"

state="$CLIMA_STATE/node"
cluster="$CLIMA_STATE/cluster"
pki="$cluster/pki"
logs="$state/logs" run="$state/run"
registry="${CLIMA_REGISTRY_ADDR:-127.0.0.1:5000}"
apiserver_port="${CLIMA_APISERVER_PORT:-6443}"
kubelet_root=/var/lib/kubelet
veth=clima-node0 veth_peer=clima-node1 bridge=clima-cni0
python="${CLIMA_PYTHON:-$CLIMA_REPO/.venv/bin/python}"
t0=$SECONDS
step() { echo "[node $((SECONDS - t0))s] $*"; }
die() { echo "node: $*" >&2; exit 1; }
kubectl() { "$K8S_BIN/kubectl" --kubeconfig "$cluster/kubeconfig" "$@"; }
crictl() { "$CRICTL_BIN/crictl" --runtime-endpoint unix:///run/containerd/containerd.sock --timeout 20s "$@"; }

packages=(containerd runc containernetworking-plugins iptables conntrack podman buildah skopeo
  mmdebstrap catatonit netavark conmon docker-registry)

install() {
  local missing=() p
  for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  if [ "${#missing[@]}" = 0 ]; then step "packages present"; return 0; fi
  step "installing Debian packages: ${missing[*]} (~30 s)"
  # another apt may be running (a session, unattended upgrades): wait for its lock
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
  # Packages that register system services must not hold our ports or sockets.
  service docker-registry stop >/dev/null 2>&1 || true
  service containerd stop >/dev/null 2>&1 || true
  step "packages installed"
}

# render <template> <output>: fills in the @NAMES@ of a configuration template.
render() {
  sed -e "s|@STATE@|$state|g" -e "s|@PKI@|$pki|g" -e "s|@NODE_IP@|$CLIMA_NODE_IP|g" \
    -e "s|@NODE_NAME@|$CLIMA_NODE_NAME|g" -e "s|@POD_CIDR@|$CLIMA_POD_CIDR|g" \
    -e "s|@DNS_IP@|$CLIMA_DNS_IP|g" -e "s|@REGISTRY@|$registry|g" \
    -e "s|@COREDNS_VERSION@|$COREDNS_VERSION|g" -e "s|@APISERVER_PORT@|$apiserver_port|g" \
    "$here/config/$1" > "$2"
}

configure() {
  mkdir -p "$state/cni" "$state/certs.d" "$state/volumes" "$state/pod-logs" "$logs" "$run"
  make_state_dir "$state"
  render containerd.toml "$state/containerd.toml"
  render cni.conflist "$state/cni/10-clima.conflist"
  render kubelet.yaml "$state/kubelet.yaml"
  render kube-proxy.yaml "$state/kube-proxy.yaml"
  cp "$cluster/kube-proxy.kubeconfig" "$state/kube-proxy.kubeconfig"
  # Pulls from the local registry go over plain http; so do docker.io's, which is how the
  # operator's default images (apache/kafka, rabbitmq, valkey/valkey) resolve to the
  # stand-ins tools/node/images.sh built, with the very names a GKE cluster pulls.
  local host
  for host in "$registry" docker.io; do
    mkdir -p "$state/certs.d/$host"
    printf 'server = "http://%s"\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' \
      "$registry" "$registry" > "$state/certs.d/$host/hosts.toml"
  done
}

network_up() {
  if ! ip link show "$veth" >/dev/null 2>&1; then
    step "node address $CLIMA_NODE_IP/32 on veth $veth"
    ip link add "$veth" type veth peer name "$veth_peer"
    ip addr add "$CLIMA_NODE_IP/32" dev "$veth"
    ip link set "$veth" up; ip link set "$veth_peer" up
  fi
  [ -f "$state/ip_forward.saved" ] || cat /proc/sys/net/ipv4/ip_forward > "$state/ip_forward.saved"
  echo 1 > /proc/sys/net/ipv4/ip_forward  # pods' traffic crosses the host between bridge and veth
}

containerd_up() {
  if ! pid_alive "$run/containerd.pid" /usr/bin/containerd; then
    [ -S /run/containerd/containerd.sock ] && ! pid_alive "$run/containerd.pid" /usr/bin/containerd &&
      pgrep -x containerd >/dev/null && die "a containerd we did not start is running; stop it first"
    step "starting containerd (log $logs/containerd.log)"
    start_bg "$run/containerd.pid" "$logs/containerd.log" /usr/bin/containerd --config "$state/containerd.toml"
  fi
  wait_until 30 "containerd" crictl info || { tail -20 "$logs/containerd.log" >&2; exit 1; }
}

# forget_stale_images: containerd keeps what it pulled across runs; a tag pushed again with
# new content (a rebuilt stand-in) would never be pulled again under IfNotPresent, so drop
# every cached image whose digest the registry no longer serves under that name.
forget_stale_images() {
  local ref path have want
  crictl images -o json | "$python" -c '
import json, sys
for image in json.load(sys.stdin)["images"]:
    for tag in image.get("repoTags") or []:
        digests = [d.split("@", 1)[1] for d in image.get("repoDigests") or []]
        print(tag, digests[0] if digests else "-")' | while read -r ref have; do
    case "$ref" in
      docker.io/*) path="${ref#docker.io/}" ;;
      "$registry"/*) path="${ref#"$registry"/}" ;;
      *) continue ;;
    esac
    want="$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$registry/$path" 2>/dev/null || true)"
    if [ -n "$want" ] && [ "$want" != "$have" ]; then
      step "forgetting $ref: the registry now serves another build"
      crictl rmi "$ref" >/dev/null 2>&1 || true
    fi
  done
}

kubelet_up() {
  if ! pid_alive "$run/kubelet.pid" "$K8S_BIN/kubelet"; then
    step "starting kubelet as node $CLIMA_NODE_NAME (log $logs/kubelet.log)"
    start_bg "$run/kubelet.pid" "$logs/kubelet.log" "$K8S_BIN/kubelet" \
      --config="$state/kubelet.yaml" --kubeconfig="$cluster/kubelet.kubeconfig" \
      --root-dir="$kubelet_root" --node-ip="$CLIMA_NODE_IP" --hostname-override="$CLIMA_NODE_NAME" \
      --node-labels="clima.io/node=real" --v=1
  fi
  wait_until 90 "node $CLIMA_NODE_NAME to become Ready" \
    kubectl wait --for=condition=Ready "node/$CLIMA_NODE_NAME" --timeout=5s ||
    { tail -30 "$logs/kubelet.log" >&2; exit 1; }
}

proxy_up() {
  if ! pid_alive "$run/kube-proxy.pid" "$K8S_BIN/kube-proxy"; then
    step "starting kube-proxy (iptables mode; log $logs/kube-proxy.log)"
    start_bg "$run/kube-proxy.pid" "$logs/kube-proxy.log" "$K8S_BIN/kube-proxy" \
      --config="$state/kube-proxy.yaml" --v=1
  fi
}

provisioner_up() {
  [ -x "$python" ] || die "$python is missing: run make venv"
  # the venv's own python (not the interpreter its link resolves to), for its packages
  if ! pid_alive "$run/provisioner.pid" "$python"; then
    step "starting the volume provisioner (log $logs/provisioner.log)"
    start_bg "$run/provisioner.pid" "$logs/provisioner.log" "$python" \
      "$here/provisioner.py" --kubeconfig "$cluster/kubeconfig" --node "$CLIMA_NODE_NAME" \
      --root "$state/volumes"
  fi
}

# kube_dns_answers: the DNS Service has a ready endpoint and kube-proxy has its rules.
kube_dns_answers() {
  kubectl -n kube-system get endpointslices -l kubernetes.io/service-name=kube-dns \
    -o jsonpath='{.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}' | grep -q . &&
    iptables -t nat -S KUBE-SERVICES 2>/dev/null | grep -q "$CLIMA_DNS_IP/32"
}

up() {
  [ "$(id -u)" = 0 ] || die "the node needs root (containerd, kubelet, iptables)"
  kubectl get --raw /readyz >/dev/null 2>&1 || die "the control plane is not up: tools/cluster/cluster.sh up"
  curl -fsS -o /dev/null "http://$registry/v2/" || die "no registry at $registry: tools/registry/registry.sh up"
  for b in "$K8S_BIN/kubelet" "$K8S_BIN/kube-proxy" "$CRICTL_BIN/crictl"; do
    [ -x "$b" ] || die "$b is missing: run tools/cluster/build.sh"
  done
  configure
  network_up
  containerd_up
  forget_stale_images
  kubelet_up
  proxy_up
  provisioner_up
  step "cluster DNS (CoreDNS) and the default StorageClass clima-local"
  render addons.yaml "$state/addons.yaml"
  kubectl apply -f "$state/addons.yaml" >/dev/null
  kubectl -n kube-system rollout status deploy/coredns --timeout=120s >/dev/null ||
    { kubectl -n kube-system describe pods -l k8s-app=kube-dns | tail -20 >&2; exit 1; }
  wait_until 60 "kube-proxy's rules for the DNS Service" kube_dns_answers ||
    { tail -20 "$logs/kube-proxy.log" >&2; exit 1; }
  step "node $CLIMA_NODE_NAME Ready: containerd, kubelet, kube-proxy, CoreDNS, provisioner"
}

# Stop order: the pods (through the CRI, so CNI releases their addresses and links), then
# the daemons, then what they leave behind (mounts, shims, links, rules).
down() {
  if kubectl get --raw /readyz >/dev/null 2>&1; then
    kubectl delete node "$CLIMA_NODE_NAME" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  stop_pidfile "$run/provisioner.pid" "$python" 10
  stop_pidfile "$run/kubelet.pid" "$K8S_BIN/kubelet" 20
  if [ -x "$CRICTL_BIN/crictl" ] && crictl info >/dev/null 2>&1; then
    step "removing the node's pods"
    crictl rmp --force --all >/dev/null 2>&1 || true
  fi
  stop_pidfile "$run/kube-proxy.pid" "$K8S_BIN/kube-proxy" 10
  [ -x "$K8S_BIN/kube-proxy" ] && "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  stop_pidfile "$run/containerd.pid" /usr/bin/containerd 20
  pkill -f 'containerd-shim-runc-v2 -namespace k8s.io' 2>/dev/null || true
  # kubelet's volume mounts, containerd's sandbox and rootfs mounts, pods' network namespaces
  local m
  for m in $(awk '{print $2}' /proc/mounts | { grep -E "^($kubelet_root|/run/containerd|/run/netns/cni-)" || true; } | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -f /run/netns/cni-* 2>/dev/null || true
  local table chain rule
  for table in filter nat mangle; do
    local chains; chains="$(iptables -t "$table" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/{print $2}')"
    for chain in $chains; do iptables -t "$table" -F "$chain" 2>/dev/null || true; done
    # what is left jumping to them lives in the built-in chains
    { iptables -t "$table" -S 2>/dev/null | grep -E -- "-j (KUBE-|CNI-)" || true; } | sed 's/^-A/-D/' |
      while read -r rule; do eval "iptables -t $table $rule" 2>/dev/null || true; done
    for chain in $chains; do iptables -t "$table" -X "$chain" 2>/dev/null || true; done
  done
  ip link del "$bridge" 2>/dev/null || true
  ip link del "$veth" 2>/dev/null || true
  if [ -f "$state/ip_forward.saved" ]; then
    cat "$state/ip_forward.saved" > /proc/sys/net/ipv4/ip_forward
    rm -f "$state/ip_forward.saved"
  fi
  rm -rf "$state/cni-ipam" "$state/volumes"
  echo "node down"
}

status() { daemons_status "$run" containerd kubelet kube-proxy provisioner; }

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) down ;;
  status) status ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
