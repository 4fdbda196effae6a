#!/usr/bin/env bash
# The local stack without containers: Kafka (KRaft, one node), PostgreSQL, Redis.
#
#   stack.sh setup                 install what is missing (Debian packages, broker and reference jars, virtualenv, npm packages)
#   stack.sh up|down|status [svc]  svc = kafka | postgres | redis (default: all three)
#
# Idempotent: `up` leaves a running component alone, `down` of a stopped one is a no-op,
# a pid file left by a killed run is noticed and replaced. Data and logs live in
# $FUSEBOX_RUN_DIR (default <repo>/.run, git-ignored); ports come from the environment,
# so the test harness runs its own stack on free ports beside a developer's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="${FUSEBOX_RUN_DIR:-$ROOT/.run}"
KAFKA_LIBS="${FUSEBOX_KAFKA_LIBS:-$ROOT/.run/kafka/libs}"
KAFKA_HOST="${FUSEBOX_KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${FUSEBOX_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${FUSEBOX_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_HEAP="${FUSEBOX_KAFKA_HEAP:--Xms256m -Xmx768m}"
PG_HOST="${FUSEBOX_PG_HOST:-127.0.0.1}"
PG_PORT="${FUSEBOX_PG_PORT:-15432}"
REDIS_PORT="${FUSEBOX_REDIS_PORT:-16379}"
VENV="${FUSEBOX_VENV:-$ROOT/.venv}"
PYTHON="${FUSEBOX_PYTHON:-python3}"
START_DEADLINE_S="${FUSEBOX_START_DEADLINE_S:-90}"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  return 1
}

# ---------------------------------------------------------------- setup

apt_install() {
  local missing=("$@")
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get to install them"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq || die "apt-get update failed; install ${missing[*]} by hand"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed; install them by hand"
}

setup_packages() {
  local missing=()
  pg_bindir >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v java >/dev/null || missing+=(default-jre-headless)
  # javac compiles the reference checks' small Java harnesses (tests/reference/)
  command -v javac >/dev/null || missing+=(default-jdk-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  # The dashboard's end-to-end tests drive Debian's Chromium; test tools cannot download a browser here.
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  apt_install "${missing[@]}"
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
  fi
}

setup_kafka_jars() {
  if compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then return 0; fi
  log "resolving the Kafka broker jars with Maven (deploy/kafka/pom.xml)"
  mkdir -p "$KAFKA_LIBS"
  (cd "$ROOT/deploy/kafka" && mvn -q -B -Dlibs.dir="$KAFKA_LIBS" package) || die "could not resolve the Kafka jars"
}

# The jars of the reference checks (tests/reference/*/pom.xml), each into <repo>/.run/<name>/libs,
# where tests/reference/support.py looks (it resolves a missing one itself; this only keeps the first
# `make test` from waiting on Maven).
setup_reference_jars() {
  local pom name
  for pom in "$ROOT"/tests/reference/*/pom.xml; do
    name="$(basename "$(dirname "$pom")")"
    if compgen -G "$ROOT/.run/$name/libs/*.jar" >/dev/null; then continue; fi
    log "resolving the $name jars with Maven (tests/reference/$name/pom.xml)"
    mvn -q -B -f "$pom" -Dlibs.dir="$ROOT/.run/$name/libs" package || die "could not resolve the $name jars"
  done
}

setup_venv() {
  local stamp="$VENV/.fusebox-installed"
  if [ -f "$stamp" ] && [ "$stamp" -nt "$ROOT/pyproject.toml" ]; then return 0; fi
  log "installing the Python packages into $VENV"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -U pip >/dev/null
  "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[test,bench]" || die "pip install failed"
  touch "$stamp"
}

# The dashboard is served as plain ES modules; its one dependency (uPlot) is pinned in package-lock.json
# and copied beside the client, so the API serves everything from one folder and nothing from elsewhere.
setup_dashboard() {
  local stamp="$ROOT/node_modules/.package-lock.json" vendor="$ROOT/services/api/dashboard/vendor"
  if [ ! -f "$stamp" ] || [ "$ROOT/package-lock.json" -nt "$stamp" ]; then
    log "installing the dashboard's npm packages (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed"
  fi
  mkdir -p "$vendor"
  cp -p "$ROOT/node_modules/uplot/dist/uPlot.esm.js" "$ROOT/node_modules/uplot/dist/uPlot.min.css" "$vendor/"
  # gzip siblings (git-ignored) that the API sends to browsers accepting gzip
  "$VENV/bin/python" -m fusebox.api.dashboard_files >/dev/null || die "gzipping the dashboard failed"
}

cmd_setup() {
  setup_packages
  setup_kafka_jars
  setup_reference_jars
  setup_venv
  setup_dashboard
}

# ---------------------------------------------------------------- process helpers

pid_alive() {  # pidfile
  [ -f "$1" ] || return 1
  local pid
  pid="$(head -n1 "$1" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

stop_pidfile() {  # name pidfile
  local name="$1" pidfile="$2" pid i
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    return 0
  fi
  pid="$(head -n1 "$pidfile")"
  log "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
    sleep 0.2
  done
  log "$name did not stop in 30 s; killing it"
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

wait_until() {  # description command...
  local what="$1"; shift
  local deadline=$((SECONDS + START_DEADLINE_S))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && die "$what not ready after ${START_DEADLINE_S}s"
    sleep 0.3
  done
}

# ---------------------------------------------------------------- kafka

kafka_dir() { echo "$RUN_DIR/kafka-$KAFKA_PORT"; }

kafka_ready() {
  "$VENV/bin/python" "$ROOT/deploy/local/kafka_ready.py" "$KAFKA_HOST:$KAFKA_PORT"
}

kafka_up() {
  local dir pidfile
  dir="$(kafka_dir)"; pidfile="$dir/kafka.pid"
  if pid_alive "$pidfile"; then log "kafka already running on $KAFKA_HOST:$KAFKA_PORT"; return 0; fi
  compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null || setup_kafka_jars
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=6
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
log.cleaner.backoff.ms=1000
log.retention.hours=-1
EOF
  cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka.server.KafkaServer
logger.kafka.level = INFO
EOF
  local java_opts=(-server $KAFKA_HEAP -XX:+UseG1GC -Djava.awt.headless=true
                   "-Dlog4j2.configurationFile=$dir/log4j2.properties")
  if [ ! -f "$dir/data/meta.properties" ]; then
    log "formatting Kafka storage in $dir/data"
    local cluster_id
    cluster_id="$(java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid)"
    java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool format --standalone \
      -t "$cluster_id" -c "$dir/server.properties" >>"$dir/kafka.log" 2>&1 \
      || die "kafka storage format failed; see $dir/kafka.log"
  fi
  log "starting kafka on $KAFKA_HOST:$KAFKA_PORT"
  nohup java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.Kafka "$dir/server.properties" \
    >>"$dir/kafka.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_until "kafka on $KAFKA_PORT (log: $dir/kafka.log)" kafka_ready
}

kafka_down() { stop_pidfile kafka "$(kafka_dir)/kafka.pid"; }

kafka_status() {
  if pid_alive "$(kafka_dir)/kafka.pid" && kafka_ready; then
    echo "kafka     up    $KAFKA_HOST:$KAFKA_PORT"
  else
    echo "kafka     down  $KAFKA_HOST:$KAFKA_PORT"; return 1
  fi
}

# ---------------------------------------------------------------- postgres

pg_dir() { echo "$RUN_DIR/postgres-$PG_PORT"; }

as_pg_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_ready() { "$(pg_bindir)/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT"; }

postgres_up() {
  local bin dir
  bin="$(pg_bindir)" || die "PostgreSQL is not installed; run: $0 setup"
  dir="$(pg_dir)"
  if pid_alive "$dir/data/postmaster.pid" && pg_ready; then log "postgres already running on $PG_PORT"; return 0; fi
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    # the postgres user must be able to reach the run folder
    local p="$dir"
    while [ "$p" != "/" ]; do p="$(dirname "$p")"; chmod o+x "$p" 2>/dev/null || true; done
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "initialising a PostgreSQL cluster in $dir/data"
    as_pg_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || die "initdb failed; see $dir/initdb.log"
  fi
  if [ "$PG_HOST" != "127.0.0.1" ] && ! grep -q '^host all all samenet trust' "$dir/data/pg_hba.conf"; then
    # clients on the listening address's own subnet (a network namespace of `make chaos`)
    echo "host all all samenet trust" >>"$dir/data/pg_hba.conf"
  fi
  rm -f "$dir/data/postmaster.pid.stale"
  if [ -f "$dir/data/postmaster.pid" ] && ! pid_alive "$dir/data/postmaster.pid"; then
    log "removing a stale postmaster.pid"
    rm -f "$dir/data/postmaster.pid"
  fi
  log "starting postgres on $PG_HOST:$PG_PORT"
  as_pg_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t "$START_DEADLINE_S" \
    -o "-h $PG_HOST -p $PG_PORT -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || die "postgres did not start; see $dir/postgres.log"
  wait_until "postgres on $PG_PORT" pg_ready
  local psql=("$bin/psql" -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
  if [ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname='fusebox'")" != "1" ]; then
    "${psql[@]}" -c "CREATE ROLE fusebox LOGIN SUPERUSER" >/dev/null
  fi
  if [ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname='fusebox'")" != "1" ]; then
    "${psql[@]}" -c "CREATE DATABASE fusebox OWNER fusebox" >/dev/null
  fi
}

postgres_down() {
  local bin dir
  bin="$(pg_bindir)" || return 0
  dir="$(pg_dir)"
  [ -f "$dir/data/postmaster.pid" ] || return 0
  if pid_alive "$dir/data/postmaster.pid"; then
    log "stopping postgres"
    as_pg_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || true
  else
    rm -f "$dir/data/postmaster.pid"
  fi
}

postgres_status() {
  if pg_bindir >/dev/null && pg_ready; then
    echo "postgres  up    $PG_HOST:$PG_PORT"
  else
    echo "postgres  down  $PG_HOST:$PG_PORT"; return 1
  fi
}

# ---------------------------------------------------------------- redis

redis_dir() { echo "$RUN_DIR/redis-$REDIS_PORT"; }

redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

redis_up() {
  local dir
  command -v redis-server >/dev/null || die "redis-server is not installed; run: $0 setup"
  dir="$(redis_dir)"
  if pid_alive "$dir/redis.pid" && redis_ready; then log "redis already running on $REDIS_PORT"; return 0; fi
  mkdir -p "$dir"
  rm -f "$dir/redis.pid"
  log "starting redis on 127.0.0.1:$REDIS_PORT"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" >/dev/null
  wait_until "redis on $REDIS_PORT" redis_ready
}

redis_down() { stop_pidfile redis "$(redis_dir)/redis.pid"; }

redis_status() {
  if redis_ready; then
    echo "redis     up    127.0.0.1:$REDIS_PORT"
  else
    echo "redis     down  127.0.0.1:$REDIS_PORT"; return 1
  fi
}

# ---------------------------------------------------------------- main

action="${1:-}"; shift || true
components=("$@")
[ "${#components[@]}" -eq 0 ] && components=(postgres redis kafka)

case "$action" in
  setup) cmd_setup ;;
  up)
    for c in "${components[@]}"; do "${c}_up"; done ;;
  down)
    for ((i = ${#components[@]} - 1; i >= 0; i--)); do "${components[$i]}_down"; done ;;
  status)
    rc=0
    for c in "${components[@]}"; do "${c}_status" || rc=1; done
    exit "$rc" ;;
  *) die "usage: $0 {setup|up|down|status} [kafka|postgres|redis ...]" ;;
esac
