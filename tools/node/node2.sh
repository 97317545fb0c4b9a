#!/usr/bin/env bash
# A second real node, clima-host-2, beside tools/node/node.sh's clima-host on this machine:
# its own containerd (socket, root and state under *containerd2), kubelet (root dir
# /var/lib/kubelet2, ports 10350/10348, cgroup root /node2), node address 10.254.0.2/32,
# bridge clima-cni1 with the pods' range 10.245.1.0/24, certificates signed by the cluster CA,
# and volume provisioner. Node one's kube-proxy serves both (both use the host's network
# namespace). Node one labels itself zone local-a, node two zone local-b.
#   node2.sh up | down | status   start (idempotent) / stop and clean up node two
#   node2.sh kill                 lose the node: SIGKILL its kubelet, containerd, shims and
#                                 every container process, leaving the Node object behind
# `up` needs node one up (make kube-up). Stop node two before node one: node one's `down`
# removes every shim and resets ip_forward. State and logs: $CLIMA_STATE_DIR/node2.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../cluster/lib.sh"

one="$CLIMA_STATE/node"
state="$CLIMA_STATE/node2"
cluster="$CLIMA_STATE/cluster"
logs="$state/logs" run="$state/run" pki="$state/pki"
name=clima-host-2 ip=10.254.0.2 cidr=10.245.1.0/24
veth=clima-n2a veth_peer=clima-n2b bridge=clima-cni1
sock=/run/containerd2/containerd.sock croot=/var/lib/containerd2 cstate=/run/containerd2
kubelet_root=/var/lib/kubelet2 cgroup_root=/node2
python="${CLIMA_PYTHON:-$CLIMA_REPO/.venv/bin/python}"
t0=$SECONDS
step() { echo "[node2 $((SECONDS - t0))s] $*"; }
die() { echo "node2: $*" >&2; exit 1; }
kubectl() { "$K8S_BIN/kubectl" --kubeconfig "$cluster/kubeconfig" "$@"; }
crictl() { "$CRICTL_BIN/crictl" --runtime-endpoint "unix://$sock" --timeout 20s "$@"; }

# cert <name> <subject> <extendedKeyUsage> [subjectAltName], signed by the cluster CA
cert() {
  [ -f "$pki/$1.crt" ] && return 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$1.key" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' "$3" > "$pki/$1.ext"
  [ -z "${4:-}" ] || echo "subjectAltName=$4" >> "$pki/$1.ext"
  openssl req -new -key "$pki/$1.key" -subj "$2" 2>/dev/null |
    openssl x509 -req -CA "$cluster/pki/ca.crt" -CAkey "$cluster/pki/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 3650 -extfile "$pki/$1.ext" -out "$pki/$1.crt" 2>/dev/null
  rm -f "$pki/$1.ext"
}

kubeconfig() {
  cat > "$state/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: clima-local
  cluster:
    server: https://127.0.0.1:${CLIMA_APISERVER_PORT:-6443}
    certificate-authority-data: $(base64 -w0 < "$cluster/pki/ca.crt")
users:
- name: kubelet
  user:
    client-certificate-data: $(base64 -w0 < "$pki/kubelet.crt")
    client-key-data: $(base64 -w0 < "$pki/kubelet.key")
contexts:
- name: clima-local
  context: {cluster: clima-local, user: kubelet}
current-context: clima-local
EOF
  chmod 600 "$state/kubelet.kubeconfig"
}

# node one's rendered files, with what is node two's own put in
configure() {
  mkdir -p "$pki" "$state/cni" "$state/pod-logs" "$state/volumes" "$logs" "$run"
  make_state_dir "$state"
  cert kubelet "/O=system:nodes/CN=system:node:$name" clientAuth
  cert kubelet-serving "/CN=$name" serverAuth "IP:$ip,DNS:$name"
  kubeconfig
  rm -rf "$state/certs.d" && cp -r "$one/certs.d" "$state/certs.d"
  sed -e "s|^root = .*|root = \"$croot\"|" -e "s|^state = .*|state = \"$cstate\"|" \
    -e "s|address = \"/run/containerd/containerd.sock\"|address = \"$sock\"|" \
    -e "s|$one/|$state/|g" \
    -e "s|BinaryName = \"/usr/sbin/runc\"|BinaryName = \"/usr/sbin/runc\"\n        Root = \"$cstate/runc\"|" \
    "$one/containerd.toml" > "$state/containerd.toml"
  printf '[ttrpc]\n  address = "%s.ttrpc"\n[debug]\n  address = ""\n[metrics]\n  address = ""\n' \
    "$sock" >> "$state/containerd.toml"
  sed -e 's|"clima-node"|"clima-node2"|' -e "s|\"clima-cni0\"|\"$bridge\"|" \
    -e "s|\"subnet\": \"[^\"]*\"|\"subnet\": \"$cidr\"|" -e "s|$one/|$state/|g" \
    "$one/cni/10-clima.conflist" > "$state/cni/10-clima.conflist"
  sed -e "s|^address: .*|address: $ip|" -e "s|^port: .*|port: 10350|" \
    -e "s|^healthzPort: .*|healthzPort: 10348|" \
    -e "s|unix:///run/containerd/containerd.sock|unix://$sock|" \
    -e "s|$cluster/pki/kubelet-serving|$pki/kubelet-serving|g" -e "s|$one/|$state/|g" \
    "$one/kubelet.yaml" > "$state/kubelet.yaml"
  printf 'cgroupRoot: %s\n' "$cgroup_root" >> "$state/kubelet.yaml"
}

# the cgroup root in every v1 hierarchy; cpuset needs its parent's cpus and mems
cgroups_up() {
  local d
  for d in /sys/fs/cgroup/*/; do
    [ -f "$d/cgroup.procs" ] || continue
    mkdir -p "$d${cgroup_root#/}"
    if [ -f "$d/cpuset.cpus" ]; then
      cat "$d/cpuset.cpus" > "$d${cgroup_root#/}/cpuset.cpus"
      cat "$d/cpuset.mems" > "$d${cgroup_root#/}/cpuset.mems"
    fi
  done
}

up() {
  [ "$(id -u)" = 0 ] || die "the node needs root"
  kubectl get node clima-host >/dev/null 2>&1 || die "node one is not up: make kube-up"
  [ -f "$one/containerd.toml" ] || die "node one's configuration is missing: make kube-up"
  configure
  cgroups_up
  if ! ip link show "$veth" >/dev/null 2>&1; then
    step "node address $ip/32 on veth $veth"
    ip link add "$veth" type veth peer name "$veth_peer"
    ip addr add "$ip/32" dev "$veth"
    ip link set "$veth" up; ip link set "$veth_peer" up
  fi
  if ! pid_alive "$run/containerd.pid" /usr/bin/containerd; then
    step "starting containerd on $sock (log $logs/containerd.log)"
    start_bg "$run/containerd.pid" "$logs/containerd.log" /usr/bin/containerd --config "$state/containerd.toml"
  fi
  wait_until 30 "containerd of node two" crictl info || { tail -20 "$logs/containerd.log" >&2; exit 1; }
  if ! pid_alive "$run/kubelet.pid" "$K8S_BIN/kubelet"; then
    step "starting kubelet as node $name (log $logs/kubelet.log)"
    start_bg "$run/kubelet.pid" "$logs/kubelet.log" "$K8S_BIN/kubelet" \
      --config="$state/kubelet.yaml" --kubeconfig="$state/kubelet.kubeconfig" \
      --root-dir="$kubelet_root" --node-ip="$ip" --hostname-override="$name" \
      --node-labels="clima.io/node=second" --v=1
  fi
  wait_until 90 "node $name to become Ready" kubectl wait --for=condition=Ready "node/$name" --timeout=5s ||
    { tail -30 "$logs/kubelet.log" >&2; exit 1; }
  kubectl label node clima-host topology.kubernetes.io/zone=local-a --overwrite >/dev/null
  kubectl label node "$name" topology.kubernetes.io/zone=local-b --overwrite >/dev/null
  if ! pid_alive "$run/provisioner.pid" "$python"; then
    step "starting node two's volume provisioner (log $logs/provisioner.log)"
    start_bg "$run/provisioner.pid" "$logs/provisioner.log" "$python" \
      "$here/provisioner.py" --kubeconfig "$cluster/kubeconfig" --node "$name" --root "$state/volumes"
  fi
  step "node $name Ready (zone local-b; clima-host is zone local-a)"
}

# every process in node two's pods (its cgroup tree), and the shims serving its containerd
container_pids() {
  cat /sys/fs/cgroup/pids"$cgroup_root"/kubepods/cgroup.procs \
    /sys/fs/cgroup/pids"$cgroup_root"/kubepods/*/cgroup.procs \
    /sys/fs/cgroup/pids"$cgroup_root"/kubepods/*/*/cgroup.procs \
    /sys/fs/cgroup/pids"$cgroup_root"/kubepods/*/*/*/cgroup.procs 2>/dev/null || true
}
shim_pids() { pgrep -f "containerd-shim-runc-v2 .*-address $sock" || true; }

# kill: the node is lost at once, as a power cut would: nothing is stopped in order.
kill_node() {
  local pids
  pids="$(pid_of kubelet) $(pid_of containerd) $(shim_pids) $(container_pids)"
  # shellcheck disable=SC2086 # a list of pids
  kill -KILL $pids 2>/dev/null || true
  step "node $name lost: kubelet, containerd, shims and $(echo $pids | wc -w) processes SIGKILLed"
}
pid_of() { [ -f "$run/$1.pid" ] && cat "$run/$1.pid" || true; }

down() {
  if kubectl get --raw /readyz >/dev/null 2>&1; then
    kubectl delete node "$name" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    kubectl label node clima-host topology.kubernetes.io/zone- >/dev/null 2>&1 || true
  fi
  stop_pidfile "$run/provisioner.pid" "$python" 10
  stop_pidfile "$run/kubelet.pid" "$K8S_BIN/kubelet" 20
  if [ -S "$sock" ] && crictl info >/dev/null 2>&1; then
    step "removing node two's pods"
    crictl rmp --force --all >/dev/null 2>&1 || true
  fi
  stop_pidfile "$run/containerd.pid" /usr/bin/containerd 20
  local pid sockets m d
  for pid in $(shim_pids); do
    sockets="$(ss -xlp 2>/dev/null | grep "pid=$pid," | grep -o '/run/containerd/s/[0-9a-f]*' || true)"
    kill -KILL "$pid" 2>/dev/null || true
    [ -z "$sockets" ] || rm -f $sockets
  done
  for pid in $(container_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  for m in $(awk '{print $2}' /proc/mounts | { grep -E "^($kubelet_root|$cstate|$croot)" || true; } | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
  ip link del "$veth" 2>/dev/null || true
  rm -rf "$kubelet_root" "$cstate" "$croot" "$state/cni-ipam" "$state/volumes"
  for d in $(find /sys/fs/cgroup/*"$cgroup_root" -depth -type d 2>/dev/null); do rmdir "$d" 2>/dev/null || true; done
  echo "node2 down"
}

status() { daemons_status "$run" containerd kubelet provisioner; }

case "${1:-}" in
  up) up ;;
  down) down ;;
  kill) kill_node ;;
  status) status ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
