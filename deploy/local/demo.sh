#!/usr/bin/env bash
# The demo: the local stack, the aggregator, the API and simulated traffic, all in the background.
#
#   demo.sh start    stack up, migrations, topics, then aggregator, API and simulator; prints where to look
#   demo.sh stop     stops the simulator, the API and the aggregator (`make down` then stops the stack)
#   demo.sh status   what runs
#
# Idempotent: `start` leaves running processes alone and prints the same instructions again;
# `stop` of a stopped demo is a no-op; a pid file left by a killed process is noticed and replaced.
# Pid files and logs live in $FUSEBOX_DEMO_DIR (default $FUSEBOX_RUN_DIR/demo, i.e. .run/demo).
# Ports come from the environment (FUSEBOX_API_PORT, FUSEBOX_AGGREGATOR_PORT, and the stack's
# FUSEBOX_KAFKA_PORT, FUSEBOX_PG_PORT, FUSEBOX_REDIS_PORT), so tests run it beside a developer's.
# Extra arguments for `fusebox simulate` come from FUSEBOX_SIMULATE_ARGS.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="${FUSEBOX_RUN_DIR:-$ROOT/.run}"
DEMO_DIR="${FUSEBOX_DEMO_DIR:-$RUN_DIR/demo}"
VENV="${FUSEBOX_VENV:-$ROOT/.venv}"
FUSEBOX="$VENV/bin/fusebox"
PYTHON="$VENV/bin/python"
READY_DEADLINE_S="${FUSEBOX_DEMO_READY_DEADLINE_S:-120}"

export FUSEBOX_KAFKA_BOOTSTRAP="${FUSEBOX_KAFKA_BOOTSTRAP:-127.0.0.1:${FUSEBOX_KAFKA_PORT:-19092}}"
export FUSEBOX_DATABASE_URL="${FUSEBOX_DATABASE_URL:-postgresql://fusebox@127.0.0.1:${FUSEBOX_PG_PORT:-15432}/fusebox}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:${FUSEBOX_REDIS_PORT:-16379}/0}"
export FUSEBOX_API_PORT="${FUSEBOX_API_PORT:-8080}"
export FUSEBOX_AGGREGATOR_PORT="${FUSEBOX_AGGREGATOR_PORT:-6066}"
export FUSEBOX_AGGREGATOR_DATA_DIR="${FUSEBOX_AGGREGATOR_DATA_DIR:-$DEMO_DIR/aggregator-data}"
API_URL="http://127.0.0.1:$FUSEBOX_API_PORT"

# start order; stop goes the other way
PROCESSES=(aggregator api simulate)

log() { printf '[demo] %s\n' "$*" >&2; }
die() { printf '[demo] error: %s\n' "$*" >&2; exit 1; }

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
  case "$1" in
    aggregator) echo "$FUSEBOX aggregator --loglevel warn" ;;
    api) echo "$FUSEBOX api" ;;
    # shellcheck disable=SC2153 # optional, from the environment
    simulate) echo "$FUSEBOX simulate ${FUSEBOX_SIMULATE_ARGS:-}" ;;
  esac
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

api_ready() {
  "$PYTHON" - "$API_URL/readyz" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

wait_for_api() {
  local deadline=$((SECONDS + READY_DEADLINE_S)) name
  until api_ready; do
    for name in aggregator api; do
      running "$name" || { tail -n 30 "$(logfile "$name")" >&2 || true; die "$name exited; see $(logfile "$name")"; }
    done
    [ "$SECONDS" -ge "$deadline" ] && die "the API at $API_URL is not ready after ${READY_DEADLINE_S}s; see $DEMO_DIR/*.log"
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

  logs: $DEMO_DIR/{aggregator,api,simulate}.log    stop everything: make down
EOF
}

cmd_start() {
  mkdir -p "$DEMO_DIR"
  trap 'log "interrupted; stopping the demo"; cmd_stop; exit 130' INT TERM
  [ -x "$FUSEBOX" ] || die "$FUSEBOX is missing; run: make setup"
  if ! running api && port_busy "$FUSEBOX_API_PORT"; then
    die "port $FUSEBOX_API_PORT is taken by another program; set FUSEBOX_API_PORT to a free port"
  fi
  bash "$ROOT/deploy/local/stack.sh" up
  log "applying migrations"
  "$FUSEBOX" migrate >>"$DEMO_DIR/migrate.log" 2>&1 || die "migrations failed; see $DEMO_DIR/migrate.log"
  "$FUSEBOX" topics >>"$DEMO_DIR/topics.log" 2>&1 || die "topic creation failed; see $DEMO_DIR/topics.log"
  start_process aggregator
  start_process api
  log "waiting for the API on $API_URL"
  wait_for_api
  start_process simulate
  trap - INT TERM
  print_instructions
}

cmd_stop() {
  local i
  for ((i = ${#PROCESSES[@]} - 1; i >= 0; i--)); do stop_process "${PROCESSES[$i]}"; done
}

cmd_status() {
  local name rc=0
  for name in "${PROCESSES[@]}"; do
    if running "$name"; then
      printf '%-10s up    pid %s\n' "$name" "$(head -n1 "$(pidfile "$name")")"
    else
      printf '%-10s down\n' "$name"; rc=1
    fi
  done
  if running api; then echo "api url    $API_URL"; fi
  return "$rc"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) die "usage: $0 {start|stop|status}" ;;
esac
