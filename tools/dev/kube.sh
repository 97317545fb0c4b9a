#!/usr/bin/env bash
# `make kube-up`: the platform on a real node of this machine, the way a user meets it:
# build and push every image, push the chart, `helm install` the operator from oci://, apply
# samples/pipeline.yaml (Grafana off: no Grafana image can be built here), wait for Ready,
# send reports through the api Service and the proxy's /tweet, and print what Valkey counted.
#   kube.sh up | down [--keep-cluster] | env
# NODES=2 kube.sh up adds a second real node (tools/node/node2.sh) before the pipeline.
# (--keep-cluster: stop the pipeline, the operator and the node, leave the control plane and
# the registry to whoever else uses them, as the test suites do)
# A second `up` reuses everything built and running. Progress lines carry elapsed seconds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
source tools/cluster/lib.sh
registry="${CLIMA_REGISTRY_ADDR:-127.0.0.1:5000}"
namespace="${KUBE_NAMESPACE:-clima}"
pipeline=clima
version="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n1)"
export KUBECONFIG="$CLIMA_STATE/cluster/kubeconfig"
export PATH="$CLIMA_PATH:$PATH"
t0=$SECONDS
step() { echo; echo "==> [$((SECONDS - t0))s] $*"; }

# cordon_kwok on|off: the kwok nodes take no pipeline pods while the real node runs.
cordon_kwok() {
  local verb=cordon; [ "$1" = off ] && verb=uncordon
  kubectl get nodes -l type=kwok -o name 2>/dev/null | while read -r n; do kubectl "$verb" "$n" >/dev/null; done
}

# adopt_crd: a ClimaPipeline CRD left by an earlier release (the chart keeps it on uninstall)
# or applied by hand would make helm refuse to install; mark it as this release's, as helm
# documents for adopting existing objects.
adopt_crd() {
  local crd=crd/climapipelines.clima.io
  kubectl get "$crd" >/dev/null 2>&1 || return 0
  kubectl annotate "$crd" --overwrite meta.helm.sh/release-name=clima \
    "meta.helm.sh/release-namespace=$namespace" >/dev/null
  kubectl label "$crd" --overwrite app.kubernetes.io/managed-by=Helm >/dev/null
}

up() {
  step "Debian packages of the node (containerd, runc, CNI plugins, podman, buildah, ...)"
  bash tools/node/node.sh install
  step "Kubernetes $K8S_VERSION binaries, CoreDNS, crictl (built once, cached in $CLIMA_CACHE)"
  bash tools/cluster/build.sh >/dev/null
  step "control plane and registry ($registry)"
  bash tools/registry/registry.sh up
  bash tools/cluster/cluster.sh up
  step "images: pause, CoreDNS, Kafka/RabbitMQ/Valkey, Clima $version (cached by their inputs)"
  REGISTRY="$registry" bash tools/node/images.sh all
  step "chart: package and push to oci://$registry/charts"
  bash tools/dev/chart.sh push "oci://$registry/charts" >/dev/null
  step "the real node"
  cordon_kwok on
  bash tools/node/node.sh up
  case "${NODES:-1}" in
    1) ;;
    2) step "the second real node"; bash tools/node/node2.sh up ;;
    *) echo "NODES=${NODES} is not supported: 1 or 2" >&2; exit 2 ;;
  esac
  step "helm install the operator from oci://$registry/charts/clima"
  adopt_crd
  if [ "$(kubectl get namespace "$namespace" -o jsonpath='{.status.phase}' 2>/dev/null)" = Terminating ]; then
    echo "namespace $namespace is still being deleted (an earlier kube-down); waiting for it"
    kubectl wait --for=delete "namespace/$namespace" --timeout=300s >/dev/null
  fi
  kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl label namespace "$namespace" --overwrite pod-security.kubernetes.io/enforce=restricted >/dev/null
  helm upgrade --install clima "oci://$registry/charts/clima" --version "$version" --plain-http \
    -n "$namespace" --set image.registry="$registry" \
    --set image.tag="$(cat "$CLIMA_STATE/node/clima-image-tag")" --wait --timeout 5m
  step "ClimaPipeline from samples/pipeline.yaml (spec.grafana.enabled=false; smaller CPU requests)"
  # Three nodes of every store: their CPU requests, sized for GKE nodes, would not all fit on
  # this machine's 2 cores beside the api's, so each asks for less here (limits unchanged).
  .venv/bin/python tools/node/sample.py --grafana=false \
    --set 'spec.kafka.managed.resources={"requests": {"cpu": "100m", "memory": "768Mi"}, "limits": {"memory": "1Gi"}}' \
    --set 'spec.rabbitmq.managed.resources={"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}' \
    --set 'spec.valkey.managed.resources={"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}' \
    | kubectl -n "$namespace" apply -f -
  if ! kubectl -n "$namespace" wait --for=condition=Ready "climapipeline/$pipeline" --timeout=600s; then
    kubectl -n "$namespace" describe climapipeline "$pipeline" | tail -30
    kubectl -n "$namespace" get pods -o wide
    exit 1
  fi
  step "traffic: reports through the api Service and the proxy's /tweet"
  .venv/bin/python tools/node/traffic.py --namespace "$namespace" --pipeline "$pipeline" \
    --reports "${KUBE_REPORTS:-1000}" --tweets "${KUBE_TWEETS:-100}"
  step "where things stand"
  kubectl -n "$namespace" get climapipeline
  kubectl -n "$namespace" get pods -o wide
  echo
  echo "make kube-up took $((SECONDS - t0))s. Use the cluster from this shell with:"
  echo "  eval \"\$(make -s kube-env)\"; kubectl -n $namespace describe climapipeline $pipeline"
  echo "make kube-down stops the node, the control plane and the registry."
}

down() {
  step "pipeline, operator and node"
  if kubectl get --raw /readyz >/dev/null 2>&1; then
    kubectl -n "$namespace" delete climapipeline --all --wait=true --timeout=120s >/dev/null 2>&1 || true
    helm uninstall clima -n "$namespace" --wait --timeout 2m >/dev/null 2>&1 || true
    kubectl delete namespace "$namespace" --wait=false >/dev/null 2>&1 || true
    cordon_kwok off
    # the node's addons (CoreDNS, the default StorageClass clima-local, the node's endpoint):
    # a kept cluster must not offer a default class whose provisioner is gone (claims of
    # later suites would stay Pending)
    if [ -f "$CLIMA_STATE/node/addons.yaml" ]; then
      kubectl delete -f "$CLIMA_STATE/node/addons.yaml" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    fi
  fi
  # first: node one's down removes every shim
  bash tools/node/node2.sh down >/dev/null || echo "kube.sh: node two did not stop cleanly" >&2
  bash tools/node/node.sh down
  if [ "${1:-}" = --keep-cluster ]; then
    echo "kube-down (node only) took $((SECONDS - t0))s; the control plane and registry stay up"
    return 0
  fi
  step "control plane and registry"
  bash tools/cluster/cluster.sh down
  bash tools/registry/registry.sh down
  echo "make kube-down took $((SECONDS - t0))s"
}

env_() {
  printf 'export KUBECONFIG=%q\n' "$KUBECONFIG"
  printf 'export PATH=%q:"$PATH"\n' "$CLIMA_PATH"
  printf '# kubectl, helm and crictl (CONTAINER_RUNTIME_ENDPOINT below) for the local node\n'
  printf 'export CONTAINER_RUNTIME_ENDPOINT=unix:///run/containerd/containerd.sock\n'
}

case "${1:-}" in
  up) up ;;
  down) shift; down "$@" ;;
  env) env_ ;;
  *) sed -n '2,7p' "$0" >&2; exit 2 ;;
esac
