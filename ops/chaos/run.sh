#!/usr/bin/env bash
# The load + fault harness: the whole system on this machine (two redirect replicas behind the
# real nginx config, shortener, click recorder, risk scorer, ghost-probe, canary; Postgres,
# Redis, RabbitMQ), a fixed request rate at nginx with a realistic mix (Zipf-like popularity,
# HEADs, unknown codes; `ghostctl simulate`), and one fault at a time, each restored before the
# next. Prints a table — requests, success during the fault, p50/p99 before/during/after,
# clicks answered vs stored (lost, duplicated), recovery — and exits non-zero when a target is
# missed.
#
#   bash ops/chaos/run.sh            # 500 req/s; Redis 30 s, RabbitMQ 60 s, Postgres 60 s, ...
#   bash ops/chaos/run.sh --short    # 100 req/s and short faults: the same faults and targets (CI);
#                                    # latency targets are printed, not enforced (a shared 2-core
#                                    # CI box: latency is a figure there, not a test)
#   CHAOS_ONLY="redis-outage broker-outage" bash ops/chaos/run.sh --short
#
# It STOPS AND STARTS THIS MACHINE'S Postgres, Redis and RabbitMQ (the brief's commands): run it
# when nothing else uses them. Builds the binaries it starts (cargo build, debug profile); needs
# nginx, python3, psql, bc. Targets (ghostctl simulate's checks, crates/ghostlink-drills):
#   redis-outage       success >= 99.99 %, p99 <= 100 ms, no click lost or stored twice
#   broker-outage      success >= 99.99 %, p99 within +10 % of before, 0 lost, 0 duplicated, spool drained <= 60 s
#   db-outage          100 % of cached codes redirect, never-seen codes 503 (never 404), shortener 503, 0 clicks lost
#   replica-down       success >= 99.9 % through nginx across a SIGKILL of one replica
#   recorder-kill      kill -9 of the click recorder mid-work: 0 lost, 0 duplicated
#   canary-kill        kill -9 of the canary mid-round: no link probed twice within an interval
#   canary-cut         every destination unreachable for the fault time: 0 links quarantined
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NAME=chaos
BUDGET_DEFAULT=1800
SHORT=""
[ "${1:-}" = "--short" ] && SHORT=1
# What it starts, built before the run's time budget starts.
BINS=(ghostctl ghostlink-redirect ghostlink-shortener ghostlink-click-recorder ghostlink-canary
      ghostlink-risk-scorer ghostlink-ghost-probe)
echo "building ${BINS[*]} (cargo build)"
(cd "$ROOT" && cargo build --quiet --bins $(printf -- '-p %s ' "${BINS[@]}")) || { echo "FAIL: cargo build failed" >&2; exit 1; }
source "$ROOT/ops/e2e/lib.sh"

if [ -n "$SHORT" ]; then
  RATE=${CHAOS_RATE:-100}; SETTLE=4; LATENCY=report
  declare -A FAULT=([redis-outage]=8 [broker-outage]=10 [db-outage]=8 [replica-down]=6 [recorder-kill]=6 [canary-kill]=6 [canary-cut]=8)
else
  RATE=${CHAOS_RATE:-500}; SETTLE=10; LATENCY=enforce
  declare -A FAULT=([redis-outage]=30 [broker-outage]=60 [db-outage]=60 [replica-down]=20 [recorder-kill]=20 [canary-kill]=20 [canary-cut]=8)
fi
SCENARIOS=${CHAOS_ONLY:-"redis-outage broker-outage db-outage replica-down recorder-kill canary-kill canary-cut"}
CANARY_INTERVAL=4
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug
for b in "${BINS[@]}"; do [ -x "$BIN/$b" ] || fail "$BIN/$b missing after cargo build"; done
command -v nginx >/dev/null 2>&1 || fail "nginx missing (apt-get install nginx)"
PG_VERSION=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1); PG_VERSION=${PG_VERSION:-15}

log "work dir $WORK; database $DB_NAME; rate $RATE req/s; scenarios: $SCENARIOS"
create_db

# ------------------------------------------------------------------------------- ports
R1=$(free_port); R1_OPS=$(free_port); R2=$(free_port); R2_OPS=$(free_port)
SH=$(free_port); SH_OPS=$(free_port); REC_OPS=$(free_port); CAN_OPS=$(free_port)
RISK_OPS=$(free_port); PROBE_OPS=$(free_port); NGINX_PORT=$(free_port)
DEST_PORTS=$(for _ in 1 2 3 4 5 6; do free_port; done | paste -sd' ')

# ------------------------------------------------------------------------------- ctl.sh
# Every GhostLink process is started (and restarted by a fault's start command) through
# ctl.sh, which records its pid in $WORK/<name>.pid (the process itself: `exec`); lib.sh's
# cleanup kills them all.
cat >"$WORK/ctl.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
cmd=\$1 name=\$2
common() {
  exec env -u RISK_BLOCKLIST DATABASE_URL="$DB_URL" REDIS_URL=redis://127.0.0.1:6379 REDIS_KEY_PREFIX="$PREFIX:" \\
    AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" BUS_PREFIX="$PREFIX" CLICK_SALT="chaos-salt-$SUFFIX" LOG_LEVEL=warn "\$@"
}
start() {
  case \$name in
    redirect-1) common TRUSTED_PROXIES=127.0.0.1 LISTEN_ADDR=127.0.0.1:$R1 OPS_LISTEN_ADDR=127.0.0.1:$R1_OPS SPOOL_DIR="$WORK/spool-1" "$BIN/ghostlink-redirect" ;;
    redirect-2) common TRUSTED_PROXIES=127.0.0.1 LISTEN_ADDR=127.0.0.1:$R2 OPS_LISTEN_ADDR=127.0.0.1:$R2_OPS SPOOL_DIR="$WORK/spool-2" "$BIN/ghostlink-redirect" ;;
    shortener) common LISTEN_ADDR=127.0.0.1:$SH OPS_LISTEN_ADDR=127.0.0.1:$SH_OPS ADMIN_LISTEN_ADDR=127.0.0.1:0 RATE_LIMIT_PER_SECOND=10000 RATE_LIMIT_BURST=10000 "$BIN/ghostlink-shortener" ;;
    click-recorder) common OPS_LISTEN_ADDR=127.0.0.1:$REC_OPS "$BIN/ghostlink-click-recorder" ;;
    canary) common OPS_LISTEN_ADDR=127.0.0.1:$CAN_OPS CANARY_INTERVAL=$CANARY_INTERVAL CANARY_ALLOW_PRIVATE_TARGETS=127.0.0.1/32 \\
              CANARY_TIMEOUT_MS=2000 CANARY_CONNECT_TIMEOUT_MS=1000 "$BIN/ghostlink-canary" ;;
    risk-scorer) common OPS_LISTEN_ADDR=127.0.0.1:$RISK_OPS RISK_BLOCKLIST="$ROOT/ops/risk/blocklist.txt" "$BIN/ghostlink-risk-scorer" ;;
    ghost-probe) common OPS_LISTEN_ADDR=127.0.0.1:$PROBE_OPS PROBE_MODE=observe "$BIN/ghostlink-ghost-probe" ;;
    destinations) exec python3 "$HERE/destinations.py" $DEST_PORTS ;;
    *) echo "unknown \$name" >&2; exit 2 ;;
  esac
}
case \$cmd in
  start)
    mkdir -p "$WORK/spool-1" "$WORK/spool-2"
    start >>"$WORK/\$name.log" 2>&1 </dev/null &
    echo \$! >"$WORK/\$name.pid" ;;
  kill) kill -9 "\$(cat "$WORK/\$name.pid")" 2>/dev/null || true; rm -f "$WORK/\$name.pid" ;;
  *) echo "usage: ctl.sh start|kill NAME" >&2; exit 2 ;;
esac
EOF
chmod +x "$WORK/ctl.sh"
CTL="$WORK/ctl.sh"

for s in destinations redirect-1 redirect-2 shortener click-recorder canary risk-scorer ghost-probe; do "$CTL" start "$s"; done
mkdir -p "$WORK/nginx"
sed -e "s|__LISTEN_PORT__|$NGINX_PORT|g" -e "s|__UPSTREAM_PORT_1__|$R1|g" \
    -e "s|__UPSTREAM_PORT_2__|$R2|g" -e "s|__TMP_DIR__|$WORK/nginx|g" \
    "$ROOT/ops/nginx/nginx.local.conf.tmpl" >"$WORK/nginx/nginx.conf"
nginx -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx.log" 2>&1 &
PID[nginx]=$!
for p in $R1_OPS $R2_OPS $SH_OPS $REC_OPS $CAN_OPS $RISK_OPS $PROBE_OPS; do wait_for 60 "ops :$p healthy" healthy "$p"; done
wait_for 10 "nginx" curl -sf --max-time 1 "http://127.0.0.1:$NGINX_PORT/nginx-health"
for p in $DEST_PORTS; do wait_for 10 "destination :$p" curl -sf --max-time 1 "http://127.0.0.1:$p/"; done
log "system up: nginx :$NGINX_PORT -> redirect :$R1 :$R2; shortener :$SH; destinations $DEST_PORTS"

export GHOSTLINK_REDIRECT_URL=http://127.0.0.1:$NGINX_PORT
export GHOSTLINK_SHORTENER_URL=http://127.0.0.1:$SH
export GHOSTLINK_REDIRECT_OPS_URL=http://127.0.0.1:$R1_OPS,http://127.0.0.1:$R2_OPS
export GHOSTLINK_CANARY_OPS_URL=http://127.0.0.1:$CAN_OPS
export SIMULATE_LINK_URLS=$(for p in $DEST_PORTS; do printf 'http://127.0.0.1:%s/l,' "$p"; done | sed 's/,$//')
export CANARY_INTERVAL
export DATABASE_URL=$DB_URL

run_scenario() {
  local s=$1 stop="" start=""
  case $s in
    redis-outage)
      stop="redis-cli -h 127.0.0.1 -p 6379 shutdown nosave"
      start="mkdir -p /var/lib/redis; redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no --dir /var/lib/redis && until redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; do sleep 0.1; done" ;;
    broker-outage)
      stop="rabbitmqctl -q stop_app"
      start="rabbitmqctl -q start_app && rabbitmqctl -q await_startup" ;;
    db-outage)
      stop="pg_ctlcluster --skip-systemctl-redirect $PG_VERSION main stop -m fast"
      start="pg_ctlcluster --skip-systemctl-redirect $PG_VERSION main start && until pg_isready -q -h 127.0.0.1; do sleep 0.2; done" ;;
    replica-down) stop="$CTL kill redirect-1"; start="$CTL start redirect-1" ;;
    recorder-kill) stop="$CTL kill click-recorder"; start="$CTL start click-recorder" ;;
    canary-kill) stop="sleep 1; $CTL kill canary"; start="$CTL start canary" ;;
    canary-cut) stop="$CTL kill destinations"; start="$CTL start destinations; sleep 0.5" ;;
  esac
  log "---- $s (${FAULT[$s]} s)"
  local rc=0
  "$BIN/ghostctl" simulate "$s" --rate "$RATE" --fault-secs "${FAULT[$s]}" --settle-secs "$SETTLE" \
    --links 60 --latency-targets "$LATENCY" --summary-json "$WORK/summary-$s.json" --stop-cmd "$stop" --start-cmd "$start" \
    >"$WORK/simulate-$s.out" 2>&1 || rc=$?
  sed 's/^/    /' "$WORK/simulate-$s.out"
  # Give the system a moment before the next fault (replicas re-admitted by nginx, queues drained).
  for p in $R1_OPS $R2_OPS $SH_OPS $REC_OPS $CAN_OPS; do wait_for 60 "ops :$p healthy after $s" healthy "$p"; done
  sleep 2
  return $rc
}

failed=()
for s in $SCENARIOS; do
  [ -n "${FAULT[$s]:-}" ] || fail "unknown scenario $s"
  run_scenario "$s" || failed+=("$s")
done

echo
python3 - "$WORK" $SCENARIOS <<'PY'
import json, os, sys
work, names = sys.argv[1], sys.argv[2:]
print("%-14s %8s %9s %17s %17s %17s %26s %9s  %s" % ("fault", "requests", "success", "p50/p99 before", "p50/p99 during",
      "p50/p99 after", "clicks answered/stored/lost/dup", "recovery", "result"))
for n in names:
    f = os.path.join(work, "summary-%s.json" % n)
    if not os.path.exists(f):
        print("%-14s (no summary: the run failed before its end; see its output above)" % n)
        continue
    s = json.load(open(f))
    ph = {p["phase"]: p for p in s["phases"]}
    pp = lambda p: "%6.1f/%-8.1f" % (ph[p]["p50_ms"], ph[p]["p99_ms"])
    c = s.get("clicks") or {}
    clicks = "%d/%d/%d/%d" % (c.get("answered", 0), c.get("stored", 0), c.get("lost", 0), c.get("duplicated", 0))
    report = s.get("latency_targets") == "report"
    failed = [x for x in s["checks"] if not x["ok"] and not (x.get("latency") and report)]
    reported = [x for x in s["checks"] if not x["ok"] and x.get("latency") and report]
    result = "FAIL" if failed else ("PASS*" if reported else "PASS")
    print("%-14s %8d %9.5f %17s %17s %17s %26s %8.2fs  %s" % (n, s["requests"], ph["during"]["success"], pp("before"),
          pp("during"), pp("after"), clicks, s["recovery_secs"], result))
    for x in failed:
        print("    missed: %s" % x["name"])
    for x in reported:
        print("    latency target missed (reported, not enforced with --short): %s" % x["name"])
PY
echo "(rate $RATE req/s at nginx; p50/p99 in ms; success = known codes answered 302 during the fault;"
echo " PASS* = correctness targets met, a latency target missed and only reported)"
if [ ${#failed[@]} -gt 0 ]; then fail "targets missed: ${failed[*]}"; fi
echo "PASS chaos harness ($(elapsed "$T0" "$(now)")s)"
