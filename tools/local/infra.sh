#!/usr/bin/env bash
# Clima local infrastructure: Kafka 4.x (KRaft, one node), RabbitMQ and Valkey 8,
# all on 127.0.0.1, with their data, logs and pid files under the Clima state folder.
#
#   tools/local/infra.sh install [component...]         install what is missing
#   tools/local/infra.sh up      [component...]         start and wait until ready
#   tools/local/infra.sh down    [--purge] [component...]  stop (--purge: delete data too)
#   tools/local/infra.sh start|stop component...        same as up/down for chosen ones
#   tools/local/infra.sh status                         one line per component
#   tools/local/infra.sh config                         state folder, env file and ports, key=value
#   tools/local/infra.sh rabbitmqctl ARGS...            rabbitmqctl on the local RabbitMQ
#
# Components: kafka rabbit valkey (default: all three).
# After `up`, source "$CLIMA_STATE_DIR/infra/env" for KAFKA_BROKER, RABBITMQ_URL,
# VALKEY_SERVICE_URL and REDISCLI_AUTH (valkey-cli's password variable, so that
# `valkey-cli -p <port> -n 0 …` just works). Generated passwords live in
# "$CLIMA_STATE_DIR/infra/secrets.env". Ports: CLIMA_KAFKA_PORT (9092),
# CLIMA_KAFKA_CONTROLLER_PORT (Kafka's + 1), CLIMA_RABBIT_PORT (5672), CLIMA_RABBIT_DIST_PORT
# (RabbitMQ's + 20000), CLIMA_RABBIT_TLS_PORT (RabbitMQ's - 1), CLIMA_EPMD_PORT (4369),
# CLIMA_VALKEY_PORT (6379).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE=${CLIMA_STATE_DIR:-$REPO/.state}/infra
CACHE=${CLIMA_CACHE_DIR:-$HOME/.cache/clima}
HOST=127.0.0.1

# Pinned: every machine runs the same Kafka (CLIMA_KAFKA_VERSION picks another on purpose;
# a space-separated list takes the first that Maven Central serves).
KAFKA_VERSIONS=${CLIMA_KAFKA_VERSION:-4.3.1}
KAFKA_PORT=${CLIMA_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${CLIMA_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
RABBIT_PORT=${CLIMA_RABBIT_PORT:-5672}
RABBIT_DIST_PORT=${CLIMA_RABBIT_DIST_PORT:-$((RABBIT_PORT + 20000))}
# AMQP over TLS (amqps), one below AMQP, with a certificate of a CA made for this instance
RABBIT_TLS_PORT=${CLIMA_RABBIT_TLS_PORT:-$((RABBIT_PORT - 1))}
EPMD_PORT=${CLIMA_EPMD_PORT:-4369}
VALKEY_PORT=${CLIMA_VALKEY_PORT:-6379}
RABBIT_BIN=/usr/lib/rabbitmq/bin   # not /usr/sbin: those wrappers switch to the rabbitmq user
ALL=(kafka rabbit valkey)

say() { printf '[infra] %s\n' "$*"; }
die() { printf '[infra] error: %s\n' "$*" >&2; exit 1; }
port_listening() { [[ -n $(ss -Htln "sport = :$1") ]]; }
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }
java_bin() { echo "${JAVA_HOME:+$JAVA_HOME/bin/}java"; }

# wait_for SECONDS WHAT COMPONENT COMMAND...: retry COMMAND every second;
# fail early if COMPONENT (when given) is no longer running.
wait_for() {
  local limit=$1 what=$2 comp=$3 start=$SECONDS next=5; shift 3
  until "$@" >/dev/null 2>&1; do
    [[ -z $comp ]] || running_pid "$comp" >/dev/null || { say "$what: process exited"; return 1; }
    (( SECONDS - start < limit )) || { say "$what: gave up after ${limit}s"; return 1; }
    if (( SECONDS - start >= next )); then say "  $what: still waiting ($((SECONDS - start))s)"; next=$((next + 5)); fi
    sleep 1
  done
}

# ---------------------------------------------------------------- pid files
pid_file() { echo "$STATE/$1/$1.pid"; }

# Is PID the process of component $1 (and not a recycled pid)?
is_ours() {
  local cmd; cmd=$(tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null) || return 1
  case $1 in
    kafka)  [[ $cmd == *kafka.Kafka*"$STATE/kafka/"* ]] ;;
    rabbit) [[ $cmd == *beam*"$STATE/rabbit/"* ]] ;;
    valkey) [[ $(readlink "/proc/$2/exe" 2>/dev/null) == "$(readlink -f "$(command -v valkey-server)")" && $cmd == *":$VALKEY_PORT"* ]] ;;
  esac
}

# Prints the pid of component $1 if it runs.
running_pid() {
  local f pid; f=$(pid_file "$1")
  [[ -s $f ]] && pid=$(<"$f") && [[ $pid =~ ^[0-9]+$ ]] && is_ours "$1" "$pid" && { echo "$pid"; return 0; }
  return 1
}

# stop_pid COMPONENT PID SECONDS: SIGTERM, then SIGKILL after SECONDS.
stop_pid() {
  local t=0
  kill -TERM "$2" 2>/dev/null || return 0
  while is_ours "$1" "$2"; do   # not kill -0: an exited child of pid 1 may linger as a zombie
    if (( ++t > $3 * 5 )); then say "$1: no exit after $3s, sending SIGKILL"; kill -KILL "$2" 2>/dev/null || true; sleep 0.5; break; fi
    sleep 0.2
  done
}

ensure_port_free() {  # COMPONENT PORT...
  local c=$1 p; shift
  for p in "$@"; do
    port_listening "$p" && die "$c: port $p is already taken: $(ss -Htlnp "sport = :$p" | head -1)"
  done
  return 0
}

# ---------------------------------------------------------------- secrets and env
load_secrets() {
  local f=$STATE/secrets.env
  mkdir -p "$STATE"
  if [[ ! -s $f ]]; then
    say "generating credentials in $f"
    (umask 077; printf 'CLIMA_RABBIT_USER=clima\nCLIMA_RABBIT_PASSWORD=%s\nCLIMA_VALKEY_PASSWORD=%s\n' \
      "$(openssl rand -hex 16)" "$(openssl rand -hex 16)" >"$f")
  fi
  chmod 600 "$f"
  # shellcheck disable=SC1090
  source "$f"
}

# The URL names Valkey's `default` user: given `redis://:password@`, valkey-cli 8.0 sends AUTH
# with an empty user name and is refused (NOAUTH); valkey-py and the services accept both.
write_env() {
  local f=$STATE/env
  (umask 077; cat >"$f" <<EOF
# Clima local infrastructure, written by tools/local/infra.sh up
export KAFKA_BROKER=$HOST:$KAFKA_PORT
export RABBITMQ_URL=amqp://$CLIMA_RABBIT_USER:$CLIMA_RABBIT_PASSWORD@$HOST:$RABBIT_PORT/
export VALKEY_SERVICE_URL=redis://default:$CLIMA_VALKEY_PASSWORD@$HOST:$VALKEY_PORT/0
export REDISCLI_AUTH=$CLIMA_VALKEY_PASSWORD
EOF
  )
  say "wrote $f"
}

# ---------------------------------------------------------------- install
APT_UPDATED=
apt_log() { mkdir -p "$CACHE"; echo "$CACHE/apt-install.log"; }
apt_update() {
  [[ -n $APT_UPDATED ]] && return 0
  say "  apt-get update…"
  apt-get -o DPkg::Lock::Timeout=300 update >>"$(apt_log)" 2>&1 || { tail -20 "$(apt_log)"; die "apt-get update failed"; }
  APT_UPDATED=1
}
apt_install() {  # packages and options for apt-get install
  local log; log=$(apt_log)
  if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
         --no-install-recommends "$@" >>"$log" 2>&1; then
    [[ -n $APT_UPDATED ]] && { tail -20 "$log"; die "apt-get install $* failed (log: $log)"; }
    apt_update   # stale or missing package lists: refresh once and retry
    apt_install "$@"
  fi
}

# The package may start its own system service: stop and disable it so the ports stay free.
stop_system_service() {
  if [[ -d /run/systemd/system ]]; then
    systemctl disable --now "$1" >/dev/null 2>&1 || true
  elif [[ -x /etc/init.d/$1 ]]; then
    /etc/init.d/"$1" stop >/dev/null 2>&1 || true
    update-rc.d "$1" disable >/dev/null 2>&1 || true
  fi
}

kafka_home() {  # the installed Kafka folder, first one in KAFKA_VERSIONS order
  local v
  for v in $KAFKA_VERSIONS; do
    [[ -f $CACHE/kafka-$v/complete ]] && { echo "$CACHE/kafka-$v"; return 0; }
  done
  return 1
}

install_kafka() {
  local home v tmp
  if home=$(kafka_home); then say "kafka: present in $home"; return 0; fi
  command -v java >/dev/null || { say "kafka: installing Java 17 from Debian…"; apt_install openjdk-17-jre-headless; }
  command -v mvn >/dev/null || { say "kafka: installing Maven from Debian…"; apt_install maven; }
  for v in $KAFKA_VERSIONS; do
    say "kafka: resolving Kafka $v and an slf4j binding from Maven Central (first time, ~1 min)…"
    home=$CACHE/kafka-$v; tmp=$home.partial
    rm -rf "$tmp"; mkdir -p "$tmp"
    if mvn -B -q -Dstyle.color=never -f "$HERE/kafka-pom.xml" -Dkafka.version="$v" \
         org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
         -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1 \
       && [[ -f $tmp/libs/kafka_2.13-$v.jar ]]; then
      rm -rf "$home"; mv "$tmp" "$home"
      ls "$home/libs" >"$home/complete"
      say "kafka: $v installed in $home ($(wc -l <"$home/complete") jars)"
      return 0
    fi
    say "kafka: $v could not be resolved: $(grep -m1 -E 'ERROR|Could not' "$tmp/mvn.log" || true)"
  done
  die "kafka: none of $KAFKA_VERSIONS could be resolved"
}

install_rabbit() {
  if [[ -x $RABBIT_BIN/rabbitmq-server ]]; then say "rabbit: present ($(dpkg-query -W -f '${Version}' rabbitmq-server))"; return 0; fi
  say "rabbit: installing RabbitMQ from Debian (first time, ~1 min)…"
  apt_install rabbitmq-server
  stop_system_service rabbitmq-server
  epmd_kill_if_idle
  port_listening "$RABBIT_PORT" && say "rabbit: warning: port $RABBIT_PORT still taken: $(ss -Htlnp "sport = :$RABBIT_PORT")"
  say "rabbit: installed $(dpkg-query -W -f '${Version}' rabbitmq-server)"
}

install_valkey() {
  if command -v valkey-server >/dev/null && command -v valkey-cli >/dev/null; then
    say "valkey: present ($(valkey-server --version | grep -o 'v=[0-9.]*'))"; return 0
  fi
  say "valkey: installing Valkey 8 from Debian bookworm-backports (first time, ~1 min)…"
  if ! grep -qs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
    say "  adding bookworm-backports to the apt sources"
    cat >/etc/apt/sources.list.d/bookworm-backports.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    APT_UPDATED=
  fi
  apt-cache policy valkey-server 2>/dev/null | grep -q 'bpo' || apt_update
  apt_install -t bookworm-backports valkey-server
  stop_system_service valkey-server
  port_listening "$VALKEY_PORT" && say "valkey: warning: port $VALKEY_PORT still taken: $(ss -Htlnp "sport = :$VALKEY_PORT")"
  say "valkey: installed $(valkey-server --version | grep -o 'v=[0-9.]*')"
}

# ---------------------------------------------------------------- Kafka
kafka_java() {  # run a Kafka command-line class quietly, at most 60 s
  local home; home=$(kafka_home)
  timeout 60 "$(java_bin)" -Xmx256m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$home/libs/*" "$@"
}

kafka_launch() {
  local d=$STATE/kafka home pid
  home=$(kafka_home) || die "kafka: not installed, run: $0 install kafka"
  if pid=$(running_pid kafka); then say "kafka: already running (pid $pid)"; return 0; fi
  ensure_port_free kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
  mkdir -p "$d/data"
  # a random 16-byte id in URL-safe base64, as Kafka's own; one starting with "-" would be
  # read as an option by the format command, so draw again until it starts with a letter
  # or digit
  until [[ -s $d/cluster-id && $(<"$d/cluster-id") =~ ^[A-Za-z0-9] ]]; do
    openssl rand 16 | base64 | tr '+/' '-_' | tr -d '=\n' >"$d/cluster-id"
  done
  cat >"$d/server.properties" <<EOF
# Clima local Kafka: one KRaft node that is broker and controller, loopback only
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$d/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
# retention by bytes is checked as often as the operator renders it for a managed Kafka
log.retention.check.interval.ms=10000
EOF
  [[ -f $d/kafka.log ]] && mv -f "$d/kafka.log" "$d/kafka.log.1"   # keep the previous run's log
  if [[ ! -f $d/data/meta.properties ]]; then
    say "kafka: formatting storage (cluster id $(<"$d/cluster-id"))"
    kafka_java kafka.tools.StorageTool format -t "$(<"$d/cluster-id")" -c "$d/server.properties" \
      --ignore-formatted >>"$d/kafka.log" 2>&1 || { tail -5 "$d/kafka.log"; die "kafka: format failed"; }
  fi
  say "kafka: starting $(basename "$home") on $HOST:$KAFKA_PORT (JVM start takes ~10 s)…"
  setsid nohup "$(java_bin)" -Xms256m -Xmx512m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dorg.slf4j.simpleLogger.showDateTime=true \
    -cp "$home/libs/*" kafka.Kafka "$d/server.properties" >>"$d/kafka.log" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$(pid_file kafka)"
  # until the forked shell has exec'd java, /proc/PID/cmdline is still this script's: a
  # busy machine can take a while, and reading the pid as "exited" then would be wrong
  local t=0
  until is_ours kafka "$pid"; do
    [[ -d /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || break
    (( ++t <= 150 )) || { say "kafka: pid $pid did not become Kafka in 30 s"; break; }
    sleep 0.2
  done
}

kafka_started() { grep -q 'Kafka Server started' "$STATE/kafka/kafka.log"; }
kafka_serves_metadata() {  # the broker answers a cluster metadata request with our cluster id
  local out
  out=$(kafka_java org.apache.kafka.tools.ClusterTool cluster-id --bootstrap-server "$HOST:$KAFKA_PORT" 2>&1) \
    && [[ $out == *"$(<"$STATE/kafka/cluster-id")"* ]]
}

kafka_wait() {
  local pid d=$STATE/kafka
  pid=$(running_pid kafka) || { tail -20 "$d/kafka.log"; die "kafka: process exited, see $d/kafka.log"; }
  wait_for 120 kafka kafka kafka_started || { tail -20 "$d/kafka.log"; die "kafka: did not start, see $d/kafka.log"; }
  wait_for 60 "kafka metadata" kafka kafka_serves_metadata || die "kafka: broker does not answer metadata requests"
  say "kafka: ready on $HOST:$KAFKA_PORT (pid $pid)"
}

kafka_stop() {
  local pid
  if pid=$(running_pid kafka); then
    say "kafka: stopping (pid $pid)…"
    stop_pid kafka "$pid" 30
  fi
  rm -f "$(pid_file kafka)"
  say "kafka: stopped"
}

# ---------------------------------------------------------------- RabbitMQ
# Runs a command with the environment of our node: one HOME (Erlang cookie) for server and CLI.
rabbit_env() (
  local d=$STATE/rabbit
  export HOME=$d/home RABBITMQ_NODENAME=rabbit@localhost \
    RABBITMQ_NODE_IP_ADDRESS=$HOST RABBITMQ_NODE_PORT=$RABBIT_PORT RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT \
    ERL_EPMD_ADDRESS=$HOST ERL_EPMD_PORT=$EPMD_PORT \
    RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf \
    RABBITMQ_ADVANCED_CONFIG_FILE=$d/advanced.config RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins \
    RABBITMQ_MNESIA_BASE=$d/mnesia RABBITMQ_LOG_BASE=$d/log RABBITMQ_PID_FILE=$d/rabbit.pid \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    ERL_CRASH_DUMP=$d/log/erl_crash.dump
  cd "$d" && exec "$@" 9>&-   # fd 9 holds our lock: daemons must not inherit it
)
rabbitmqctl() { rabbit_env "$RABBIT_BIN/rabbitmqctl" "$@"; }

epmd_kill_if_idle() {  # epmd outlives the node; end it unless other Erlang nodes still use it
  command -v epmd >/dev/null || return 0
  local names; names=$(ERL_EPMD_PORT=$EPMD_PORT epmd -names 2>/dev/null) || return 0
  grep -q '^name ' <<<"$names" || ERL_EPMD_PORT=$EPMD_PORT epmd -kill >/dev/null 2>&1 || true
}

rabbit_launch() {
  local d=$STATE/rabbit pid
  [[ -x $RABBIT_BIN/rabbitmq-server ]] || die "rabbit: not installed, run: $0 install rabbit"
  if pid=$(running_pid rabbit); then say "rabbit: already running (pid $pid)"; return 0; fi
  ensure_port_free rabbit "$RABBIT_PORT" "$RABBIT_DIST_PORT" "$RABBIT_TLS_PORT"
  mkdir -p "$d/home" "$d/mnesia" "$d/log"
  : >"$d/rabbitmq-env.conf"
  echo '[].' >"$d/enabled_plugins"        # no plugins (no management UI)
  rabbit_tls_files "$d/tls"
  (umask 077; cat >"$d/rabbitmq.conf" <<EOF
# Clima local RabbitMQ, loopback only; the first boot creates user clima instead of guest
listeners.tcp.default = $HOST:$RABBIT_PORT
listeners.ssl.default = $HOST:$RABBIT_TLS_PORT
ssl_options.cacertfile = $d/tls/ca.pem
ssl_options.certfile = $d/tls/server.pem
ssl_options.keyfile = $d/tls/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
default_vhost = /
default_user = $CLIMA_RABBIT_USER
default_pass = $CLIMA_RABBIT_PASSWORD
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
log.console = false
log.file.level = info
EOF
  )
  rm -f "$(pid_file rabbit)"
  say "rabbit: starting RabbitMQ on $HOST:$RABBIT_PORT…"
  rabbit_env "$RABBIT_BIN/rabbitmq-server" -detached >>"$d/log/start.log" 2>&1 \
    || { tail -5 "$d/log/start.log"; die "rabbit: start failed"; }
}

# A CA and a server certificate for 127.0.0.1 and localhost, made once: what the clients
# of the TLS listener check the server against (infra.sh config: rabbit-ca).
rabbit_tls_files() {
  local dir=$1
  [[ -s $dir/server.pem && -s $dir/ca.pem ]] && return 0
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Clima local CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/san.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 3650 -extfile "$dir/san.ext" -out "$dir/server.pem" 2>/dev/null
}

# User clima with our password and no guest. The first boot does it from rabbitmq.conf; this
# also repairs older data. A mark in the data folder spares the check on later starts.
rabbit_ensure_user() {   # passwords go through stdin, never on a command line
  local mark=$STATE/rabbit/mnesia/clima-user sum users
  sum=$(printf '%s:%s' "$CLIMA_RABBIT_USER" "$CLIMA_RABBIT_PASSWORD" | sha256sum | cut -d' ' -f1)
  [[ -f $mark && $(<"$mark") == "$sum" ]] && return 0
  users=$(rabbitmqctl -q -s list_users | cut -f1)
  if ! grep -qx "$CLIMA_RABBIT_USER" <<<"$users"; then
    rabbitmqctl -q add_user "$CLIMA_RABBIT_USER" <<<"$CLIMA_RABBIT_PASSWORD" >/dev/null
    rabbitmqctl -q set_user_tags "$CLIMA_RABBIT_USER" administrator >/dev/null
    rabbitmqctl -q set_permissions -p / "$CLIMA_RABBIT_USER" '.*' '.*' '.*' >/dev/null
  elif ! rabbitmqctl -q authenticate_user "$CLIMA_RABBIT_USER" <<<"$CLIMA_RABBIT_PASSWORD" >/dev/null 2>&1; then
    rabbitmqctl -q change_password "$CLIMA_RABBIT_USER" <<<"$CLIMA_RABBIT_PASSWORD" >/dev/null
  fi
  if grep -qx guest <<<"$users"; then rabbitmqctl -q delete_user guest >/dev/null; fi
  echo "$sum" >"$mark"
}

rabbit_wait() {
  local d=$STATE/rabbit pid
  # `wait` waits for the pid file, then the node, then the broker app (also when already up)
  rabbitmqctl -q wait --timeout 90 "$(pid_file rabbit)" >/dev/null \
    || { tail -20 "$d/log/start.log" "$d/log/rabbit@localhost.log"; die "rabbit: broker did not start"; }
  pid=$(running_pid rabbit) || die "rabbit: no pid in $(pid_file rabbit)"
  rabbit_ensure_user
  tcp_open "$RABBIT_PORT" || die "rabbit: port $RABBIT_PORT does not accept connections"
  say "rabbit: ready on $HOST:$RABBIT_PORT (pid $pid)"
}

rabbit_stop() {
  local pid
  if pid=$(running_pid rabbit); then
    say "rabbit: stopping (pid $pid)…"
    rabbitmqctl -q shutdown >/dev/null 2>&1 || true   # returns when the node's process has exited
    stop_pid rabbit "$pid" 30                         # no-op unless shutdown failed
  fi
  rm -f "$(pid_file rabbit)"
  epmd_kill_if_idle
  say "rabbit: stopped"
}

# ---------------------------------------------------------------- Valkey
# The password goes through the environment (valkey-cli 8.0 reads REDISCLI_AUTH), not argv.
valkey_cli() { REDISCLI_AUTH=${CLIMA_VALKEY_PASSWORD:-} valkey-cli -h "$HOST" -p "$VALKEY_PORT" "$@"; }
valkey_pong() { [[ $(valkey_cli ping 2>/dev/null) == PONG ]]; }

valkey_launch() {
  local d=$STATE/valkey pid
  command -v valkey-server >/dev/null || die "valkey: not installed, run: $0 install valkey"
  if pid=$(running_pid valkey); then say "valkey: already running (pid $pid)"; return 0; fi
  ensure_port_free valkey "$VALKEY_PORT"
  mkdir -p "$d/data"
  (umask 077; cat >"$d/valkey.conf" <<EOF
# Clima local Valkey, loopback only
bind $HOST
port $VALKEY_PORT
protected-mode yes
requirepass $CLIMA_VALKEY_PASSWORD
daemonize yes
pidfile $d/valkey.pid
logfile $d/valkey.log
dir $d/data
appendonly yes
appendfsync everysec
EOF
  )
  say "valkey: starting Valkey on $HOST:$VALKEY_PORT…"
  valkey-server "$d/valkey.conf" 9>&- || { tail -5 "$d/valkey.log"; die "valkey: start failed"; }
}

valkey_wait() {
  local pid
  wait_for 30 valkey "" valkey_pong || { tail -10 "$STATE/valkey/valkey.log"; die "valkey: no PONG"; }
  pid=$(running_pid valkey) || die "valkey: no pid in $STATE/valkey/valkey.pid"
  say "valkey: ready on $HOST:$VALKEY_PORT (pid $pid)"
}

valkey_stop() {
  local pid
  if pid=$(running_pid valkey); then
    say "valkey: stopping (pid $pid)…"
    valkey_cli shutdown >/dev/null 2>&1 || true   # writes its data, then exits
    stop_pid valkey "$pid" 30
  fi
  rm -f "$(pid_file valkey)"
  say "valkey: stopped"
}

# ---------------------------------------------------------------- commands
components() {  # validates the names given, or prints all
  (( $# )) || set -- "${ALL[@]}"
  local c
  for c; do [[ " ${ALL[*]} " == *" $c "* ]] || die "unknown component '$c' (choose from: ${ALL[*]})"; done
  echo "$@"
}

cmd_install() {
  local c list; list=$(components "$@")
  for c in $list; do "install_$c"; done
}

cmd_up() {
  local c list; list=$(components "$@")
  load_secrets
  for c in $list; do "${c}_launch"; done   # launch all first: they boot side by side
  for c in valkey rabbit kafka; do   # Kafka, the slowest, boots meanwhile
    if [[ " $list " == *" $c "* ]]; then "${c}_wait"; fi
  done
  write_env
}

cmd_down() {
  local purge='' args=() c list
  for c; do [[ $c == --purge ]] && purge=1 || args+=("$c"); done
  # shellcheck disable=SC1091
  [[ -s $STATE/secrets.env ]] && source "$STATE/secrets.env"
  list=$(components "${args[@]+"${args[@]}"}")
  for c in $list; do
    "${c}_stop"
    if [[ -n $purge ]]; then rm -rf "${STATE:?}/$c"; say "$c: data deleted"; fi
  done
  if [[ -n $purge && ${#args[@]} -eq 0 ]]; then rm -f "$STATE/secrets.env" "$STATE/env"; say "credentials deleted"; fi
}

cmd_config() {  # what this instance uses, for scripts and tests: key=value lines
  printf '%s=%s\n' state "$STATE" env "$STATE/env" host "$HOST" \
    kafka "$KAFKA_PORT" kafka-controller "$KAFKA_CONTROLLER_PORT" rabbit "$RABBIT_PORT" \
    rabbit-dist "$RABBIT_DIST_PORT" epmd "$EPMD_PORT" valkey "$VALKEY_PORT" \
    rabbit-tls "$RABBIT_TLS_PORT" rabbit-ca "$STATE/rabbit/tls/ca.pem" \
    kafka-home "$(kafka_home || true)" java "$(java_bin)"
}

cmd_status() {
  local c pid port
  for c in "${ALL[@]}"; do
    case $c in kafka) port=$KAFKA_PORT ;; rabbit) port=$RABBIT_PORT ;; valkey) port=$VALKEY_PORT ;; esac
    if pid=$(running_pid "$c"); then
      printf '%-7s running  pid %-8s port %s%s\n' "$c" "$pid" "$port" "$(port_listening "$port" || echo ' (not listening yet)')"
    else
      printf '%-7s stopped  %-12s port %s\n' "$c" "" "$port"
    fi
  done
}

# One infra.sh at a time per state folder: an `up` started during a `down` waits for it.
lock() { mkdir -p "$STATE" && chmod 700 "$STATE"; exec 9>"$STATE/.lock"; flock -w 900 9 || die "another infra.sh keeps $STATE/.lock"; }

main() {
  local cmd=${1:-}; shift || true
  [[ $cmd == status || $cmd == config || $cmd == help || -z $cmd ]] || lock
  case $cmd in
    install) cmd_install "$@" ;;
    up|start) cmd_up "$@" ;;
    down|stop) cmd_down "$@" ;;
    status) cmd_status ;;
    config) cmd_config ;;
    rabbitmqctl) rabbitmqctl "$@" ;;
    *) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
       [[ $cmd == -h || $cmd == --help || $cmd == help ]] ;;
  esac
}

main "$@"
