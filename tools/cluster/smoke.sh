#!/usr/bin/env bash
# End-to-end check of the local cluster, kubectl, helm and the OCI registry.
# Brings the cluster and the registry up if needed and stops again whatever it
# started itself (set CLIMA_KEEP_UP=1 to leave everything running).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
registry="$CLIMA_TOOLS_CLUSTER/../registry/registry.sh"
reg_addr="${CLIMA_REGISTRY_ADDR:-127.0.0.1:5000}"
ns=clima-smoke
passed=0 failed=0

started=()
cleanup() {
  rm -rf "${work:-}"
  [ "${CLIMA_KEEP_UP:-0}" = 1 ] && return 0
  local s
  for s in "${started[@]}"; do "$s" down >/dev/null || true; done
}
trap cleanup EXIT

check() {
  local what="$1"; shift
  if "$@"; then echo "ok   - $what"; passed=$((passed + 1))
  else echo "FAIL - $what"; failed=$((failed + 1)); fi
}

"$here/cluster.sh" status >/dev/null 2>&1 || started+=("$here/cluster.sh")
"$registry" status >/dev/null 2>&1 || started+=("$registry")
"$here/cluster.sh" up
"$registry" up
eval "$("$here/cluster.sh" env)"
work="$(mktemp -d)"
export HELM_CONFIG_HOME="$work/helm/config" HELM_CACHE_HOME="$work/helm/cache" HELM_DATA_HOME="$work/helm/data"

# --- versions -------------------------------------------------------------
versions_match() {
  local v; v="$(kubectl version)"
  grep -qx "Client Version: $K8S_VERSION" <<<"$v" && grep -qx "Server Version: $K8S_VERSION" <<<"$v"
}
check "kubectl and kube-apiserver both report $K8S_VERSION" versions_match

# --- nodes ----------------------------------------------------------------
nodes_ready() { [ "$(kubectl get nodes --no-headers | awk '$2 == "Ready"' | wc -l)" -ge 3 ]; }
check "3 kwok nodes are Ready" nodes_ready

# --- a Deployment becomes ready, then is garbage-collected ------------------
kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
kubectl create namespace "$ns" >/dev/null
kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=restricted >/dev/null
kubectl apply -n "$ns" -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: web
        image: registry.k8s.io/pause:3.10
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
EOF
deployment_ready() {
  kubectl rollout status -n "$ns" deployment/web --timeout=90s >/dev/null &&
    [ "$(kubectl get -n "$ns" deployment web -o jsonpath='{.status.readyReplicas}')" = 2 ] &&
    [ "$(kubectl get -n "$ns" pods -l app=web --no-headers | awk '$3 == "Running"' | wc -l)" = 2 ]
}
check "Deployment with 2 replicas reaches 2 ready, Running pods" deployment_ready

privileged_rejected() {
  local out
  ! out="$(kubectl run -n "$ns" privileged --image=registry.k8s.io/pause:3.10 \
    --overrides='{"spec":{"containers":[{"name":"privileged","image":"registry.k8s.io/pause:3.10","securityContext":{"privileged":true}}]}}' 2>&1)" &&
    grep -q 'violates PodSecurity' <<<"$out"
}
check "PodSecurity admission rejects a privileged pod in a restricted namespace" privileged_rejected

gc_done() {
  local i
  for ((i = 0; i < 120; i++)); do
    [ -z "$(kubectl get -n "$ns" replicasets,pods -l app=web -o name)" ] && return 0
    sleep 0.5
  done
  return 1
}
kubectl delete -n "$ns" deployment web >/dev/null
check "deleting the Deployment garbage-collects its ReplicaSet and pods" gc_done

# --- helm + OCI registry -----------------------------------------------------
mkdir -p "$work/chart/templates" "$work/pulled"
cat > "$work/chart/Chart.yaml" <<EOF
apiVersion: v2
name: clima-smoke
version: 0.1.0
kubeVersion: ">=1.36.0-0"
EOF
cat > "$work/chart/templates/configmap.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}-smoke}
data: {kube: {{ .Capabilities.KubeVersion.Version | quote }}}
EOF
helm package "$work/chart" -d "$work" >/dev/null
check "helm push to oci://$reg_addr/charts" \
  helm push "$work/clima-smoke-0.1.0.tgz" "oci://$reg_addr/charts" --plain-http
pull_same() {
  helm pull "oci://$reg_addr/charts/clima-smoke" --version 0.1.0 --plain-http -d "$work/pulled" &&
    cmp "$work/clima-smoke-0.1.0.tgz" "$work/pulled/clima-smoke-0.1.0.tgz"
}
check "helm pull returns the same chart" pull_same
install_from_registry() {
  helm install smoke "oci://$reg_addr/charts/clima-smoke" --version 0.1.0 --plain-http -n "$ns" --wait >/dev/null &&
    [ "$(kubectl get -n "$ns" configmap smoke-smoke -o jsonpath='{.data.kube}')" = "$K8S_VERSION" ]
}
check "helm install from the registry creates its objects" install_from_registry

kubectl delete namespace "$ns" --wait=false >/dev/null
echo "smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
