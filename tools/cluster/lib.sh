# shellcheck shell=bash disable=SC2034
# Shared helpers for tools/cluster/*.sh and tools/registry/*.sh (sourced, not run).
# Defines where binaries are cached and where runtime state lives, and how
# background processes are started and stopped through pidfiles.

CLIMA_TOOLS_CLUSTER="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLIMA_REPO="$(cd "$CLIMA_TOOLS_CLUSTER/../.." && pwd)"
# shellcheck source=versions.env
source "$CLIMA_TOOLS_CLUSTER/versions.env"

CLIMA_CACHE="${CLIMA_CACHE_DIR:-$HOME/.cache/clima}"
K8S_BIN="$CLIMA_CACHE/k8s-$K8S_VERSION/bin"
ETCD_BIN="$CLIMA_CACHE/etcd-$ETCD_VERSION/bin"
KWOK_DIR="$CLIMA_CACHE/kwok-$KWOK_VERSION"
KWOK_BIN="$KWOK_DIR/bin"
HELM_BIN="$CLIMA_CACHE/helm-$HELM_VERSION/bin"
COREDNS_BIN="$CLIMA_CACHE/coredns-$COREDNS_VERSION/bin"
CRICTL_BIN="$CLIMA_CACHE/crictl-$CRICTL_VERSION/bin"
CLIMA_PATH="$K8S_BIN:$ETCD_BIN:$KWOK_BIN:$HELM_BIN:$CRICTL_BIN"

CLIMA_STATE="${CLIMA_STATE_DIR:-$CLIMA_REPO/.state}"

# The real node (tools/node/): its name, its address (a /32 on a veth of its own: the kubelet
# refuses a loopback node IP), the pods' range on its bridge (kwok's fake pods use
# 10.244.0.0/16) and the cluster DNS Service's address.
CLIMA_NODE_NAME=clima-host
CLIMA_NODE_IP=10.254.0.1
CLIMA_POD_CIDR=10.245.0.0/24
CLIMA_DNS_IP=10.96.0.10

# make_state_dir <dir>: creates it under the state root, which ignores itself in git.
make_state_dir() {
  mkdir -p "$1"
  [ -f "$CLIMA_STATE/.gitignore" ] || echo '*' > "$CLIMA_STATE/.gitignore"
}

# pid_alive <pidfile> <binary-path>: true if the pid in the file is running that binary.
pid_alive() {
  local pid
  [ -f "$1" ] || return 1
  pid="$(cat "$1")"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$2")" ]
}

# start_bg <pidfile> <logfile> <binary> [args...]: starts it detached (own session),
# appending output to the log, unless the pidfile already names a live copy.
start_bg() {
  local pidfile="$1" logfile="$2"; shift 2
  if pid_alive "$pidfile" "$1"; then return 0; fi
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  echo "--- $(date -Is) starting: $*" >> "$logfile"
  # Without job control a background child is no process-group leader, so
  # setsid calls setsid() itself and execs: $! is the program's own pid.
  setsid "$@" >> "$logfile" 2>&1 < /dev/null &
  echo $! > "$pidfile"
}

# stop_pidfile <pidfile> <binary> [timeout-seconds]: TERM, wait, then KILL.
stop_pidfile() {
  local pidfile="$1" bin="$2" timeout="${3:-15}" pid i
  if pid_alive "$pidfile" "$bin"; then
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
      pid_alive "$pidfile" "$bin" || break
      sleep 0.1
    done
    if pid_alive "$pidfile" "$bin"; then
      echo "  $(basename "$bin") (pid $pid) ignored TERM, killing" >&2
      kill -KILL "$pid" 2>/dev/null || true
      while pid_alive "$pidfile" "$bin"; do sleep 0.1; done
    fi
    # Give init a moment to reap it, so no <defunct> entry lingers in ps.
    for ((i = 0; i < 30; i++)); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}

# wait_until <timeout-seconds> <what> <command...>: polls the command every 0.5s.
wait_until() {
  local timeout="$1" what="$2" deadline=$((SECONDS + $1)); shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "timed out after ${timeout}s waiting for $what" >&2
      return 1
    fi
    sleep 0.5
  done
}

# port_free <host> <port>: true if nothing accepts connections there.
port_free() {
  ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# daemons_status <run-dir> <name...>: "running (pid N)" or "stopped" for each pidfile
# <run-dir>/<name>.pid; fails when one is stopped.
daemons_status() {
  local run="$1" c rc=0; shift
  for c in "$@"; do
    if [ -f "$run/$c.pid" ] && [ -d "/proc/$(cat "$run/$c.pid")" ]; then
      printf '%-12s running (pid %s)\n' "$c" "$(cat "$run/$c.pid")"
    else
      printf '%-12s stopped\n' "$c"; rc=1
    fi
  done
  return "$rc"
}
