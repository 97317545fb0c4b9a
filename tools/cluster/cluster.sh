#!/usr/bin/env bash
# Local Kubernetes control plane on 127.0.0.1, no containers:
# etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok
# (kwok plays the kubelets: fake nodes, pods get Running/Ready, nothing runs).
#   cluster.sh up | down [--purge] | status | env
# State (pki, etcd data, kubeconfigs, logs, pidfiles): $CLIMA_STATE_DIR/cluster.
# Ports (127.0.0.1) can be moved with CLIMA_APISERVER_PORT (6443), CLIMA_ETCD_PORT (2379),
# CLIMA_ETCD_PEER_PORT (2380), CLIMA_CONTROLLER_MANAGER_PORT (10257), CLIMA_SCHEDULER_PORT (10259).
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

state="$CLIMA_STATE/cluster"
pki="$state/pki" logs="$state/logs" run="$state/run"
kubeconfig="$state/kubeconfig"
apiserver_port="${CLIMA_APISERVER_PORT:-6443}"
etcd_client_port="${CLIMA_ETCD_PORT:-2379}" etcd_peer_port="${CLIMA_ETCD_PEER_PORT:-2380}"
kcm_port="${CLIMA_CONTROLLER_MANAGER_PORT:-10257}" scheduler_port="${CLIMA_SCHEDULER_PORT:-10259}"
service_cidr=10.96.0.0/16 service_ip=10.96.0.1
nodes="${CLIMA_NODES:-3}"

# Components in start order, and the binary of each.
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
declare -A binary=(
  [etcd]="$ETCD_BIN/etcd"
  [kube-apiserver]="$K8S_BIN/kube-apiserver"
  [kube-controller-manager]="$K8S_BIN/kube-controller-manager"
  [kube-scheduler]="$K8S_BIN/kube-scheduler"
  [kwok]="$KWOK_BIN/kwok"
)
declare -A port=([etcd]="$etcd_client_port" [kube-apiserver]="$apiserver_port"
  [kube-controller-manager]="$kcm_port" [kube-scheduler]="$scheduler_port")

kubectl() { "$K8S_BIN/kubectl" --kubeconfig "$kubeconfig" "$@"; }
t0=$SECONDS
step() { echo "[$((SECONDS - t0))s] $*"; }

ensure_openssl() {
  command -v openssl >/dev/null && return 0
  echo "installing openssl ..."
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq openssl >/dev/null
}

# ca <name> <CN>: self-signed EC CA, unless it exists.
ca() {
  [ -f "$pki/$1.crt" ] && return 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$1.key" 2>/dev/null
  openssl req -x509 -new -key "$pki/$1.key" -subj "/CN=$2" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$pki/$1.crt" 2>/dev/null
}

# cert <ca> <name> <subject> <extendedKeyUsage> [subjectAltName]: EC key and
# certificate signed by <ca>, unless it exists.
cert() {
  local signer="$1" name="$2" subj="$3" eku="$4" san="${5:-}"
  [ -f "$pki/$name.crt" ] && return 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } > "$pki/$name.ext"
  openssl req -new -key "$pki/$name.key" -subj "$subj" 2>/dev/null |
    openssl x509 -req -CA "$pki/$signer.crt" -CAkey "$pki/$signer.key" -set_serial "0x$(openssl rand -hex 16)" \
      -days 3650 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.ext"
}

# write_kubeconfig <file> <cert-name>: client-certificate kubeconfig with embedded data.
write_kubeconfig() {
  [ -f "$1" ] && return 0
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: clima-local
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority-data: $(base64 -w0 < "$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 < "$pki/$2.crt")
    client-key-data: $(base64 -w0 < "$pki/$2.key")
contexts:
- name: clima-local
  context: {cluster: clima-local, user: $2}
current-context: clima-local
EOF
  chmod 600 "$1"
}

# make_pki: creates whichever CA, certificate, key or kubeconfig is missing.
make_pki() {
  [ -f "$pki/kube-proxy.crt" ] && [ -f "$state/kwok.kubeconfig" ] && return 0
  ensure_openssl
  step "generating CA, certificates and service-account keys in $pki"
  mkdir -p "$pki"; chmod 700 "$pki"
  ca ca clima-local-ca
  cert ca apiserver "/CN=kube-apiserver" serverAuth \
    "IP:127.0.0.1,IP:$service_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert ca admin "/O=system:masters/CN=clima-admin" clientAuth
  cert ca controller-manager "/CN=system:kube-controller-manager" clientAuth
  cert ca scheduler "/CN=system:kube-scheduler" clientAuth
  cert ca kwok "/O=system:masters/CN=kwok-controller" clientAuth
  # Request-header (front proxy) authentication, as used by aggregated API servers.
  ca front-proxy-ca clima-front-proxy-ca
  cert front-proxy-ca front-proxy-client "/CN=front-proxy-client" clientAuth
  # The real node (tools/node/): the kubelet's client and serving certificates, kube-proxy's,
  # and the API server's own client certificate for the kubelet (logs, exec, port-forward).
  cert ca kubelet "/O=system:nodes/CN=system:node:$CLIMA_NODE_NAME" clientAuth
  cert ca kubelet-serving "/CN=$CLIMA_NODE_NAME" serverAuth "IP:$CLIMA_NODE_IP,DNS:$CLIMA_NODE_NAME"
  cert ca kube-proxy "/CN=system:kube-proxy" clientAuth
  cert ca apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  if [ ! -f "$pki/sa.pub" ]; then
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  fi
  write_kubeconfig "$kubeconfig" admin
  write_kubeconfig "$state/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$state/scheduler.kubeconfig" scheduler
  write_kubeconfig "$state/kwok.kubeconfig" kwok
  write_kubeconfig "$state/kubelet.kubeconfig" kubelet
  write_kubeconfig "$state/kube-proxy.kubeconfig" kube-proxy
}

# set_args <name>: sets the array args to the command line flags of a component.
# shellcheck disable=SC2054  # commas inside flag values, not array separators
set_args() {
  case "$1" in
    etcd) args=(--name=clima --data-dir="$state/etcd" \
        --listen-client-urls="http://127.0.0.1:$etcd_client_port" --advertise-client-urls="http://127.0.0.1:$etcd_client_port" \
        --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
        --initial-cluster="clima=http://127.0.0.1:$etcd_peer_port" \
        --quota-backend-bytes=2147483648 --log-level=warn) ;;
    # Admission: --enable-admission-plugins adds to the default set (NamespaceLifecycle,
    # ServiceAccount, PodSecurity, ResourceQuota, ...), which stays enabled.
    # It listens on every address (client certificates required for anything but health) so
    # that pods on the real node reach it through the `kubernetes` Service at the node's IP.
    kube-apiserver) args=(--bind-address=0.0.0.0 --secure-port="$apiserver_port" --advertise-address=127.0.0.1 \
        --etcd-servers="http://127.0.0.1:$etcd_client_port" \
        --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
        --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
        --service-cluster-ip-range="$service_cidr" \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
        --requestheader-client-ca-file="$pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
        --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
        --requestheader-extra-headers-prefix=X-Remote-Extra- \
        --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
        --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
        --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
        --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname \
        --endpoint-reconciler-type=none --profiling=false) ;;
    kube-controller-manager) args=(--kubeconfig="$state/controller-manager.kubeconfig" \
        --authentication-kubeconfig="$state/controller-manager.kubeconfig" --authorization-kubeconfig="$state/controller-manager.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$kcm_port" --leader-elect=false --controllers='*' \
        --root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" --use-service-account-credentials=true \
        --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
        --service-cluster-ip-range="$service_cidr" --profiling=false) ;;
    kube-scheduler) args=(--kubeconfig="$state/scheduler.kubeconfig" \
        --authentication-kubeconfig="$state/scheduler.kubeconfig" --authorization-kubeconfig="$state/scheduler.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$scheduler_port" --leader-elect=false --profiling=false) ;;
    kwok) args=(--kubeconfig="$state/kwok.kubeconfig" \
        --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake --node-lease-duration-seconds=40 \
        --cidr=10.244.0.0/16 --node-ip=127.0.0.1)
      local f
      for f in "$KWOK_DIR"/stages/*.yaml; do args+=("--config=$f"); done ;;
  esac
}

start() {
  local name="$1"
  if pid_alive "$run/$name.pid" "${binary[$name]}"; then return 0; fi
  step "starting $name (log $logs/$name.log)"
  local args; set_args "$name"
  start_bg "$run/$name.pid" "$logs/$name.log" "${binary[$name]}" "${args[@]}"
}

# healthy <name>: the component answers its health endpoint.
healthy() {
  case "$1" in
    etcd) if command -v curl >/dev/null; then curl -fsS "http://127.0.0.1:$etcd_client_port/health" | grep -q '"health":"true"'
          else ! port_free 127.0.0.1 "$etcd_client_port"; fi ;;
    kube-apiserver) kubectl get --raw /readyz ;;
    kube-controller-manager) kubectl --server="https://127.0.0.1:$kcm_port" --insecure-skip-tls-verify get --raw /healthz ;;
    kube-scheduler) kubectl --server="https://127.0.0.1:$scheduler_port" --insecure-skip-tls-verify get --raw /healthz ;;
    kwok) pid_alive "$run/kwok.pid" "${binary[kwok]}" ;;
  esac
}

wait_healthy() {
  local name="$1"
  wait_until 120 "$name to become healthy" healthy "$name" || {
    echo "--- last lines of $logs/$name.log:" >&2; tail -n 30 "$logs/$name.log" >&2; exit 1; }
}

node_manifest() {
  local i
  for ((i = 0; i < nodes; i++)); do cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: clima-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {type: kwok, kubernetes.io/hostname: clima-node-$i, kubernetes.io/os: linux, kubernetes.io/arch: amd64}
status:
  capacity: {cpu: "16", memory: 64Gi, pods: "110"}
  allocatable: {cpu: "16", memory: 64Gi, pods: "110"}
---
EOF
  done
}

all_running() {
  local c
  for c in "${components[@]}"; do pid_alive "$run/$c.pid" "${binary[$c]}" || return 1; done
}

up() {
  if all_running && kubectl get --raw /readyz >/dev/null 2>&1; then
    echo "cluster already up (KUBECONFIG=$kubeconfig)"; return 0
  fi
  step "ensuring binaries (tools/cluster/build.sh)"
  "$CLIMA_TOOLS_CLUSTER/build.sh" >/dev/null
  make_state_dir "$logs"; mkdir -p "$run"
  make_pki
  local c
  for c in "${components[@]}"; do
    if [ -n "${port[$c]:-}" ] && ! pid_alive "$run/$c.pid" "${binary[$c]}" && ! port_free 127.0.0.1 "${port[$c]}"; then
      echo "port ${port[$c]} of $c is held by another process; stop it or move the port (see the header of $0)" >&2
      exit 1
    fi
    start "$c"
    wait_healthy "$c"
  done
  step "control plane healthy; registering $nodes kwok nodes"
  node_manifest | kubectl apply -f - >/dev/null
  wait_until 120 "nodes to become Ready" kubectl wait --for=condition=Ready node --all --timeout=5s
  wait_until 120 "default ServiceAccount" kubectl get serviceaccount default -n default
  ensure_pods_run
  step "cluster up: $(kubectl get nodes --no-headers | awk '$2 == "Ready"' | wc -l)/$nodes nodes Ready"
  echo "  eval \"\$($0 env)\"   # sets KUBECONFIG=$kubeconfig and PATH"
}

# A probe pod proves kwok brings pods to Ready. kwok sometimes starts without ever doing
# so (seen on a first start); restarting kwok alone cures it, so try that a few times.
probe_pod() {
  kubectl delete pod clima-kwok-probe -n default --ignore-not-found --wait=false >/dev/null 2>&1 || true
  kubectl run clima-kwok-probe -n default --image=registry.k8s.io/pause:3.10 --restart=Never \
    --overrides='{"spec":{"nodeSelector":{"type":"kwok"}}}' >/dev/null &&
    kubectl wait --for=condition=Ready pod/clima-kwok-probe -n default --timeout=20s >/dev/null 2>&1
}

ensure_pods_run() {
  local attempt
  for attempt in 1 2 3; do
    if probe_pod; then
      kubectl delete pod clima-kwok-probe -n default --wait=false >/dev/null
      return 0
    fi
    step "kwok did not bring the probe pod to Ready (attempt $attempt); restarting kwok"
    stop kwok
    start kwok
    wait_healthy kwok
  done
  echo "kwok does not bring pods to Ready; see $logs/kwok.log" >&2
  exit 1
}

stop() {
  if pid_alive "$run/$1.pid" "${binary[$1]}"; then echo "stopping $1"; fi
  stop_pidfile "$run/$1.pid" "${binary[$1]}" 20
}

down() {
  local c
  # API clients first (in parallel), then the apiserver, then etcd.
  for c in kwok kube-scheduler kube-controller-manager; do stop "$c" & done
  wait
  stop kube-apiserver
  stop etcd
  echo "cluster down"
  if [ "${1:-}" = "--purge" ]; then rm -rf "$state"; echo "removed $state"; fi
}

status() {
  local c rc=0
  for c in "${components[@]}"; do
    if pid_alive "$run/$c.pid" "${binary[$c]}"; then
      printf '%-24s running (pid %s)\n' "$c" "$(cat "$run/$c.pid")"
    else
      printf '%-24s stopped\n' "$c"; rc=1
    fi
  done
  if [ "$rc" = 0 ] && kubectl get --raw /readyz >/dev/null 2>&1; then
    echo "apiserver https://127.0.0.1:$apiserver_port ready; KUBECONFIG=$kubeconfig"
    kubectl get nodes
  fi
  return "$rc"
}

case "${1:-}" in
  up) up ;;
  down) shift; down "$@" ;;
  status) status ;;
  env) printf 'export KUBECONFIG=%q\n' "$kubeconfig"; printf 'export PATH=%q:"$PATH"\n' "$CLIMA_PATH" ;;
  *) echo "usage: $0 up|down [--purge]|status|env" >&2; exit 2 ;;
esac
