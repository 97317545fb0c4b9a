#!/usr/bin/env bash
# Local OCI registry (CNCF Distribution, Debian's docker-registry package) for
# `helm push ... --plain-http`. Listens on 127.0.0.1:5000 by default.
#   registry.sh up | down [--purge] | status
# State (config, blobs, log, pidfile) lives in $CLIMA_STATE_DIR/registry.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../cluster" && pwd)/lib.sh"

addr="${CLIMA_REGISTRY_ADDR:-127.0.0.1:5000}"
host="${addr%:*}" port="${addr##*:}"
state="$CLIMA_STATE/registry"
bin=/usr/bin/docker-registry
pidfile="$state/registry.pid"

install_registry() {
  local pkgs=() sudo=""
  [ -x "$bin" ] || pkgs+=(docker-registry)
  command -v curl >/dev/null || pkgs+=(curl)
  [ "${#pkgs[@]}" -gt 0 ] || return 0
  echo "installing Debian packages: ${pkgs[*]} ..."
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${pkgs[@]}" >/dev/null
  # The package registers a system service on :5000; it must not hold our port.
  $sudo systemctl disable --now docker-registry >/dev/null 2>&1 || true
  $sudo service docker-registry stop >/dev/null 2>&1 || true
}

healthy() { curl -fsS -o /dev/null "http://$addr/v2/"; }

up() {
  install_registry
  if pid_alive "$pidfile" "$bin"; then
    echo "registry already up at http://$addr (pid $(cat "$pidfile"))"
    return 0
  fi
  if ! port_free "$host" "$port"; then
    echo "port $addr is taken by another process (is the system docker-registry service running? try: service docker-registry stop)" >&2
    exit 1
  fi
  make_state_dir "$state/data"
  cat > "$state/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $state/data
  delete:
    enabled: true
http:
  addr: $addr
EOF
  start_bg "$pidfile" "$state/registry.log" "$bin" serve "$state/config.yml"
  wait_until 30 "registry on $addr" healthy || { tail -n 20 "$state/registry.log" >&2; exit 1; }
  echo "registry up at http://$addr (pid $(cat "$pidfile"), log $state/registry.log)"
}

down() {
  stop_pidfile "$pidfile" "$bin"
  echo "registry down"
  if [ "${1:-}" = "--purge" ]; then rm -rf "$state"; echo "removed $state"; fi
}

status() {
  if pid_alive "$pidfile" "$bin" && healthy; then
    echo "registry up at http://$addr (pid $(cat "$pidfile"))"
  else
    echo "registry down"; return 1
  fi
}

case "${1:-}" in
  up) up ;;
  down) shift; down "$@" ;;
  status) status ;;
  *) echo "usage: $0 up|down [--purge]|status" >&2; exit 2 ;;
esac
