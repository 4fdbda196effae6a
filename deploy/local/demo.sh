#!/usr/bin/env bash
# The demo: the local stack, the aggregator, the API and simulated traffic, all in the background.
#
#   demo.sh start         stack up, migrations, topics, then aggregator, API and simulator; prints where to look
#   demo.sh stop          stops the simulator, the API and the aggregator (`make down` then stops the stack)
#   demo.sh status        what runs
#   demo.sh restart NAME  stops one process (SIGTERM, waits for its exit), starts it again, waits until ready
#
# Idempotent: `start` leaves running processes alone and prints the same instructions again;
# `stop` of a stopped demo is a no-op; a pid file left by a killed process is noticed and replaced.
# Pid files and logs live in $FUSEBOX_DEMO_DIR (default $FUSEBOX_RUN_DIR/demo, i.e. .run/demo).
# Ports come from the environment (FUSEBOX_API_PORT, FUSEBOX_AGGREGATOR_PORT, and the stack's
# FUSEBOX_KAFKA_PORT, FUSEBOX_PG_PORT, FUSEBOX_REDIS_PORT), so tests run it beside a developer's.
# Extra arguments for `fusebox simulate` come from FUSEBOX_SIMULATE_ARGS.
#
# Several workers and API replicas (`make up-cluster`): FUSEBOX_DEMO_WORKERS=3 FUSEBOX_DEMO_API_REPLICAS=2
# runs aggregator-1..3 on FUSEBOX_AGGREGATOR_PORT, +1, +2 (one consumer group, a data dir each) and
# api-1..2 on FUSEBOX_API_PORT, +1 (each follows all of breaker-states; rate limits shared in Redis).
# FUSEBOX_DEMO_SIMULATE=off leaves the simulator out. `stop` and `status` find every process of the
# demo by its pid file, whatever the size it was started with.
set -euo pipefail

# Each script reads its own knobs from the environment with a default, as stack.sh does: the
# lines look alike, the names and defaults are this script's own (nothing here is shared with stack.sh
# beyond ROOT, RUN_DIR and VENV, which a sourced file would save three lines of).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="${FUSEBOX_RUN_DIR:-$ROOT/.run}"
DEMO_DIR="${FUSEBOX_DEMO_DIR:-$RUN_DIR/demo}"
VENV="${FUSEBOX_VENV:-$ROOT/.venv}"
FUSEBOX="$VENV/bin/fusebox"
PYTHON="$VENV/bin/python"
READY_DEADLINE_S="${FUSEBOX_DEMO_READY_DEADLINE_S:-120}"
WORKERS="${FUSEBOX_DEMO_WORKERS:-1}"
API_REPLICAS="${FUSEBOX_DEMO_API_REPLICAS:-1}"
SIMULATE="${FUSEBOX_DEMO_SIMULATE:-on}"

# A local demo: without FUSEBOX_JWT_SECRET the processes use the public development secret.
export FUSEBOX_ENV="${FUSEBOX_ENV:-dev}"
export FUSEBOX_KAFKA_BOOTSTRAP="${FUSEBOX_KAFKA_BOOTSTRAP:-127.0.0.1:${FUSEBOX_KAFKA_PORT:-19092}}"
export FUSEBOX_DATABASE_URL="${FUSEBOX_DATABASE_URL:-postgresql://fusebox@127.0.0.1:${FUSEBOX_PG_PORT:-15432}/fusebox}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:${FUSEBOX_REDIS_PORT:-16379}/0}"
export FUSEBOX_API_PORT="${FUSEBOX_API_PORT:-8080}"
export FUSEBOX_AGGREGATOR_PORT="${FUSEBOX_AGGREGATOR_PORT:-6066}"
DATA_DIR="${FUSEBOX_AGGREGATOR_DATA_DIR:-$DEMO_DIR/aggregator-data}"
API_URL="http://127.0.0.1:$FUSEBOX_API_PORT"
KINDS=(aggregator api simulate)  # start order; stop goes the other way

log() { printf '[demo] %s\n' "$*" >&2; }
die() { printf '[demo] error: %s\n' "$*" >&2; exit 1; }

case "$WORKERS$API_REPLICAS" in *[!0-9]*) die "FUSEBOX_DEMO_WORKERS and FUSEBOX_DEMO_API_REPLICAS must be numbers" ;; esac
{ [ "$WORKERS" -ge 1 ] && [ "$API_REPLICAS" -ge 1 ]; } || die "the demo needs at least one worker and one API replica"

names_of() {  # kind count: "aggregator" for one, "aggregator-1 aggregator-2 ..." for several
  local i
  if [ "$2" -eq 1 ]; then echo "$1"; else for i in $(seq 1 "$2"); do echo "$1-$i"; done; fi
}

# the processes of the configured size, in start order
mapfile -t PROCESSES < <(names_of aggregator "$WORKERS"; names_of api "$API_REPLICAS")
[ "$SIMULATE" = "off" ] || PROCESSES+=(simulate)

index_of() {  # name: 1 for "api" or "api-1", 2 for "api-2", ...
  case "$1" in *-[0-9]*) echo "${1##*-}" ;; *) echo 1 ;; esac
}

port_of() {  # name: the HTTP port of a worker or an API replica
  local i
  i="$(index_of "$1")"
  case "$1" in
    aggregator*) echo $((FUSEBOX_AGGREGATOR_PORT + i - 1)) ;;
    api*) echo $((FUSEBOX_API_PORT + i - 1)) ;;
  esac
}

serves_http() { case "$1" in aggregator*|api*) return 0 ;; *) return 1 ;; esac; }

pidfile() { echo "$DEMO_DIR/$1.pid"; }
logfile() { echo "$DEMO_DIR/$1.log"; }

running() {  # name: true when its pid file names a live fusebox process
  local file pid
  file="$(pidfile "$1")"
  [ -f "$file" ] || return 1
  pid="$(head -n1 "$file" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa fusebox "/proc/$pid/cmdline" 2>/dev/null
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

command_of() {
  local data_dir="$DATA_DIR"
  case "$1" in aggregator-*) data_dir="$DATA_DIR-$(index_of "$1")" ;; esac
  case "$1" in
    aggregator|aggregator-[0-9]*)
      echo "env FUSEBOX_AGGREGATOR_PORT=$(port_of "$1") FUSEBOX_AGGREGATOR_DATA_DIR=$data_dir $FUSEBOX aggregator --loglevel warn" ;;
    api|api-[0-9]*) echo "env FUSEBOX_API_PORT=$(port_of "$1") $FUSEBOX api" ;;
    # shellcheck disable=SC2153 # optional, from the environment
    simulate) echo "$FUSEBOX simulate ${FUSEBOX_SIMULATE_ARGS:-}" ;;
    *) die "no process named $1 (this demo: ${PROCESSES[*]})" ;;
  esac
}

known_processes() {  # per kind, in start order: those with a pid file, else the configured ones
  local kind name file found
  for kind in "${KINDS[@]}"; do
    found="$(for file in "$DEMO_DIR/$kind".pid "$DEMO_DIR/$kind"-*.pid; do
      if [ -f "$file" ]; then basename "$file" .pid; fi
    done | sort -V)"
    if [ -n "$found" ]; then echo "$found"; continue; fi
    for name in "${PROCESSES[@]}"; do case "$name" in "$kind"|"$kind"-*) echo "$name" ;; esac; done
  done
}

start_process() {  # name
  local name="$1"
  if running "$name"; then log "$name already running (pid $(head -n1 "$(pidfile "$name")"))"; return 0; fi
  rm -f "$(pidfile "$name")"
  log "starting $name (log: $(logfile "$name"))"
  # shellcheck disable=SC2046 # the command line is split on purpose
  nohup setsid $(command_of "$name") >>"$(logfile "$name")" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
}

stop_process() {  # name
  local name="$1" file pid i
  file="$(pidfile "$name")"
  if ! running "$name"; then rm -f "$file"; return 0; fi
  pid="$(head -n1 "$file")"
  log "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$file"; return 0; }
    sleep 0.2
  done
  log "$name did not stop in 30 s; killing it"
  kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

ready() {  # port: /readyz answers 200
  "$PYTHON" - "http://127.0.0.1:$1/readyz" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

wait_until_ready() {  # name: a worker or an API replica
  local deadline=$((SECONDS + READY_DEADLINE_S)) name="$1"
  until ready "$(port_of "$name")"; do
    running "$name" || { tail -n 30 "$(logfile "$name")" >&2 || true; die "$name exited; see $(logfile "$name")"; }
    [ "$SECONDS" -ge "$deadline" ] && die "$name (port $(port_of "$name")) is not ready after ${READY_DEADLINE_S}s; see $(logfile "$name")"
    sleep 0.5
  done
}

print_instructions() {
  local token secret
  token="$("$FUSEBOX" token --sub demo-admin --role admin)"
  if [ -n "${FUSEBOX_JWT_SECRET:-}" ]; then
    secret="from FUSEBOX_JWT_SECRET (not printed)"
  else
    secret="$("$PYTHON" -c 'from fusebox.settings import DEV_JWT_SECRET; print(DEV_JWT_SECRET)') (the dev default; set FUSEBOX_JWT_SECRET to change it)"
  fi
  cat <<EOF

  Fusebox demo is running: 12 simulated services, incidents on inventory-db (down at 20 s, back at
  45 s), search-api (degrades slowly from 45 s) and recommendations (flaps from 60 s), every 3 minutes.

  dashboard    $API_URL/dashboard/#token=$token
               (the token is in the URL fragment: the browser keeps it, no server log sees it)

  API          $API_URL/api/admin/circuit-breaker/status
  JWT secret   $secret
  admin token  $token

  every breaker:
    curl -s -H "Authorization: Bearer $token" $API_URL/api/admin/circuit-breaker/status | python3 -m json.tool

  watch updates live (WebSocket):
    FUSEBOX_API_PORT=$FUSEBOX_API_PORT $PYTHON -m fusebox.sdk.watch --token $token

  logs: $DEMO_DIR/*.log    stop everything: make down
EOF
  if [ "$WORKERS" -gt 1 ] || [ "$API_REPLICAS" -gt 1 ]; then
    printf '\n  %s workers and %s API replicas (each serves every breaker):\n\n' "$WORKERS" "$API_REPLICAS"
    cmd_status | sed 's/^/  /' || true
  fi
}

cmd_start() {
  local name other
  mkdir -p "$DEMO_DIR"
  trap 'log "interrupted; stopping the demo"; cmd_stop; exit 130' INT TERM
  [ -x "$FUSEBOX" ] || die "$FUSEBOX is missing; run: make setup"
  for other in $(known_processes); do
    case " ${PROCESSES[*]} " in
      *" $other "*) ;;
      *) if running "$other"; then die "$other runs from a demo of another size; stop it first: make down"; fi ;;
    esac
  done
  for name in "${PROCESSES[@]}"; do
    if serves_http "$name" && ! running "$name" && port_busy "$(port_of "$name")"; then
      die "port $(port_of "$name") ($name) is taken by another program; set FUSEBOX_API_PORT / FUSEBOX_AGGREGATOR_PORT"
    fi
  done
  bash "$ROOT/deploy/local/stack.sh" up
  log "applying migrations"
  "$FUSEBOX" migrate >>"$DEMO_DIR/migrate.log" 2>&1 || die "migrations failed; see $DEMO_DIR/migrate.log"
  "$FUSEBOX" topics >>"$DEMO_DIR/topics.log" 2>&1 || die "topic creation failed; see $DEMO_DIR/topics.log"
  for name in "${PROCESSES[@]}"; do
    [ "$name" = simulate ] || start_process "$name"
  done
  log "waiting for the workers and the API ($API_URL)"
  for name in "${PROCESSES[@]}"; do
    if serves_http "$name"; then wait_until_ready "$name"; fi
  done
  if [ "$SIMULATE" != "off" ]; then start_process simulate; fi
  trap - INT TERM
  print_instructions
}

cmd_stop() {
  local names i
  mapfile -t names < <(known_processes)
  for ((i = ${#names[@]} - 1; i >= 0; i--)); do stop_process "${names[$i]}"; done
}

cmd_restart() {  # name
  local name="${1:-}"
  [ -n "$name" ] || die "usage: $0 restart NAME"
  command_of "$name" >/dev/null
  stop_process "$name"
  start_process "$name"
  if serves_http "$name"; then wait_until_ready "$name"; fi
}

cmd_status() {
  local name rc=0 where
  for name in $(known_processes); do
    where=""
    case "$name" in
      aggregator*) where="http://127.0.0.1:$(port_of "$name")/metrics" ;;
      api*) where="http://127.0.0.1:$(port_of "$name")" ;;
    esac
    if running "$name"; then
      printf '%-13s up    pid %-8s %s\n' "$name" "$(head -n1 "$(pidfile "$name")")" "$where"
    else
      printf '%-13s down\n' "$name"; rc=1
    fi
  done
  return "$rc"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart) cmd_restart "${2:-}" ;;
  *) die "usage: $0 {start|stop|status|restart NAME}" ;;
esac
