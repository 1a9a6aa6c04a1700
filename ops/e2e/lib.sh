# Shared by the end-to-end scripts in ops/e2e/: timing and logging, free ports, bounded waits,
# and a cleanup that kills every process in PID[], drops the test database and deletes every
# RabbitMQ queue under the test's bus prefix.
#
# The sourcing script sets NAME (used in the work dir, database and prefix names) and ROOT, and
# may set BUDGET_DEFAULT (seconds). After sourcing it has: WORK, DB_NAME, DB_URL, PREFIX, PID[],
# BIN, PG_HOST, log, fail, now, elapsed, free_port, wait_for, create_db, healthy, start_service,
# delete_queues_under.
# shellcheck shell=bash

BIN=$ROOT/target/debug
source "$ROOT/ops/lib/rabbitmq.sh"
PG_HOST=postgres://postgres@127.0.0.1:5432
export PATH="$PATH:/usr/sbin:/sbin"

T0=$(date +%s.%N)
BUDGET=${E2E_BUDGET_SECS:-${BUDGET_DEFAULT:-210}}    # every wait also stops once the whole run is this old
GLOBAL_DEADLINE=$(echo "$T0 + $BUDGET" | bc)
log() { printf '[%6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { echo "scale=1; ($2 - $1) / 1" | bc; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ghostlink-e2e-$NAME.XXXXXX")
SUFFIX=$(basename "$WORK" | sed 's/.*\.//' | tr 'A-Z' 'a-z')
DB_NAME=ghostlink_e2e_${NAME//-/_}_$SUFFIX
DB_URL=$PG_HOST/$DB_NAME
PREFIX=e2e-$NAME-$SUFFIX
declare -A PID=()
DB_CREATED=""

cleanup() {
  local rc=$?
  for name in "${!PID[@]}"; do kill "${PID[$name]}" 2>/dev/null || true; done
  for name in "${!PID[@]}"; do wait "${PID[$name]}" 2>/dev/null || true; done
  # Processes started through a pid file (restartable ones, e.g. by ops/chaos/run.sh).
  for f in "$WORK"/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true; done
  if [ -n "$DB_CREATED" ]; then
    psql -q "$PG_HOST/postgres" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  # Every queue the services declared under this run's prefix (work queues, DLQs, the stream).
  delete_queues_under "$PREFIX"
  if [ "$rc" != 0 ] && [ -d "$WORK" ]; then
    echo "---- last log lines (exit $rc) ----"
    for f in "$WORK"/*.log; do [ -s "$f" ] && { echo "== $(basename "$f")"; tail -n 15 "$f"; }; done
    [ -s "$WORK/webhook.jsonl" ] && { echo "== webhook.jsonl"; cat "$WORK/webhook.jsonl"; }
  fi
  if [ -n "${E2E_KEEP:-}" ]; then echo "kept $WORK (E2E_KEEP)"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------- ports
USED_PORTS=" "
port_free() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}
# Ports are drawn from below the kernel's ephemeral range (ip_local_port_range): a port above
# it can be taken by any process's outgoing connection between this check and the bind (seen:
# the chaos harness's destination server, "Address already in use").
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "${EPHEMERAL_LOW:-0}" -gt 12000 ] 2>/dev/null || EPHEMERAL_LOW=32768
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 10000 + RANDOM % (EPHEMERAL_LOW - 10000) ))
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if port_free "$p"; then USED_PORTS="$USED_PORTS$p "; echo "$p"; return 0; fi
  done
  fail "no free port found"
}

# wait_for TIMEOUT_S WHAT CMD...: retries CMD every 0.25 s until it succeeds
wait_for() {
  local timeout=$1 what=$2; shift 2
  local deadline; deadline=$(echo "$(now) + $timeout" | bc)
  until "$@" >/dev/null 2>&1; do
    [ "$(echo "$(now) > $deadline" | bc)" = 1 ] && fail "timed out after ${timeout}s waiting for: $what"
    [ "$(echo "$(now) > $GLOBAL_DEADLINE" | bc)" = 1 ] &&
      fail "whole-run budget of ${BUDGET}s spent while waiting for: $what"
    sleep 0.25
  done
}

# create_db: a fresh, migrated database for this run ($DB_URL).
create_db() {
  DB_CREATED=1
  DATABASE_URL=$DB_URL timeout 20 "$BIN/ghostctl" migrate >"$WORK/migrate.log" 2>&1 || fail "ghostctl migrate failed"
}
healthy() { curl -sf --max-time 1 "http://127.0.0.1:$1/healthz"; }

# start_service NAME BINARY PORT OPS_PORT REDIS_URL: a GhostLink service on this run's database,
# Redis prefix, bus prefix and click salt (one per run: the redirects refuse the published
# development salt), logging to $WORK/NAME.log; its pid in PID[NAME]. Extra settings
# come from the caller's environment (`PROBE_MODE=enforce start_service ...`).
start_service() {
  local name=$1 bin=$2 port=$3 ops=$4 redis=$5
  mkdir -p "$WORK/spool-$name"
  env -u RISK_BLOCKLIST \
    DATABASE_URL="$DB_URL" REDIS_URL="$redis" REDIS_KEY_PREFIX="$PREFIX:" \
    AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" BUS_PREFIX="$PREFIX" \
    LISTEN_ADDR="127.0.0.1:$port" OPS_LISTEN_ADDR="127.0.0.1:$ops" ADMIN_LISTEN_ADDR=127.0.0.1:0 \
    SPOOL_DIR="$WORK/spool-$name" LOG_LEVEL=warn CLICK_SALT="${CLICK_SALT:-e2e-salt-$SUFFIX}" \
    "$BIN/$bin" >>"$WORK/$name.log" 2>&1 &
  PID[$name]=$!
}
