#!/usr/bin/env bash
# Benchmark: ghostlink-redirect vs nginx answering a static `return 302`, same wrk script,
# same machine, same run. Loads BENCH_LINKS links (default 100,000), warms up, then measures
# both at 50 and 200 connections for BENCH_SECONDS (default 10) each, while clicks are recorded.
# Prints req/s, p50, p99 and, last, `redirect/nginx ratio at 200 connections: X.XX`.
#
#   bash ops/bench/redirect.sh            # builds release binaries first
#
# Needs the local Postgres and Redis; installs wrk and nginx from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
LINKS=${BENCH_LINKS:-100000}
SECS=${BENCH_SECONDS:-10}
PORT_R=${BENCH_REDIRECT_PORT:-18080}
PORT_OPS=${BENCH_OPS_PORT:-19101}
PORT_N=${BENCH_NGINX_PORT:-18090}
DB_BASE=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB_URL="${DB_BASE%/*}/ghostlink_bench"
export BENCH_LINKS=$LINKS

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release -q -p ghostctl -p ghostlink-redirect
BIN=$ROOT/target/release
WORK=$(mktemp -d)
cleanup() {
  [ -n "${RPID:-}" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== preparing $LINKS links in ghostlink_bench"
psql -q "$DB_BASE" -c "DROP DATABASE IF EXISTS ghostlink_bench WITH (FORCE)" >/dev/null
DATABASE_URL=$DB_URL "$BIN/ghostctl" migrate 2>/dev/null
psql -q "$DB_URL" -c "INSERT INTO links (code, url) SELECT 'bn' || i, 'https://example.com/page/' || i FROM generate_series(1, $LINKS) i" >/dev/null
redis-cli --scan --pattern 'glbench:*' | xargs -r -n 1000 redis-cli del >/dev/null

cat > "$WORK/nginx.conf" <<NGX
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK; proxy_temp_path $WORK; fastcgi_temp_path $WORK; uwsgi_temp_path $WORK; scgi_temp_path $WORK;
  server { listen 127.0.0.1:$PORT_N; location / { return 302 https://example.com/; } }
}
NGX
"$NGINX" -c "$WORK/nginx.conf"

DATABASE_URL=$DB_URL LISTEN_ADDR=127.0.0.1:$PORT_R OPS_LISTEN_ADDR=127.0.0.1:$PORT_OPS \
  REDIS_KEY_PREFIX=glbench: LOG_LEVEL=warn CLICK_SALT=bench-salt-0123 \
  "$BIN/ghostlink-redirect" >"$WORK/redirect.log" 2>&1 &
RPID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT_OPS/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT_OPS/healthz" >/dev/null || { echo "redirect did not start"; cat "$WORK/redirect.log"; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT_R/bn1")" = 302 ] || { echo "redirect does not redirect"; exit 1; }

run() { # target port conns -> "rps p50_ms p99_ms non2xx3xx"
  local out
  out=$(wrk -t2 -c"$3" -d"${SECS}s" --latency -s "$ROOT/ops/bench/random-code.lua" "http://127.0.0.1:$2" 2>&1)
  echo "$out" > "$WORK/wrk-$1-$3.txt"
  python3 - "$WORK/wrk-$1-$3.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)\s*$" % label, t, re.M)
    if not m: return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
err = re.search(r"Socket errors:.*", t)
print(f"{rps:.0f} {ms('50%'):.2f} {ms('99%'):.2f} {bad.group(1) if bad else 0} {'socket-errors' if err else ''}")
PY
}

echo "== warm-up: every code once (fills Redis and the in-process cache), then ${SECS}s of random codes"
warm_secs=$(( LINKS / 5000 + 2 ))
wrk -t2 -c20 -d"${warm_secs}s" -s "$ROOT/ops/bench/sequential-code.lua" "http://127.0.0.1:$PORT_R" >/dev/null
run warm "$PORT_R" 50 >/dev/null

printf '\n%-10s %6s %10s %9s %9s %8s\n' target conns req/s p50_ms p99_ms non3xx
declare -A RPS
for c in 50 200; do
  for t in nginx redirect; do
    port=$PORT_N; [ $t = redirect ] && port=$PORT_R
    read -r rps p50 p99 bad _ < <(run $t $port $c)
    RPS[$t-$c]=$rps
    printf '%-10s %6s %10s %9s %9s %8s\n' "$t" "$c" "$rps" "$p50" "$p99" "$bad"
  done
done
sleep 2
M=$(curl -s "http://127.0.0.1:$PORT_OPS/metrics")
# metric NAME [LABEL-FRAGMENT...]: sum of the samples of NAME whose labels contain every fragment
metric() {
  local name=$1; shift
  echo "$M" | grep -v '^#' | grep -E "^${name}(\{| )" | { for f in "$@"; do grep -F -- "$f" || true; done; [ $# -eq 0 ] && cat; } \
    | awk '{s+=$NF} END {printf "%d", s}'
}
echo
echo "clicks enqueued $(metric clicks_enqueued_total), written $(metric clicks_written_total), dropped $(metric clicks_dropped_total)"
echo "lookups: memory hit $(metric cache_requests_total 'layer="memory",result="hit"') miss $(metric cache_requests_total 'layer="memory",result="miss"'), redis hit $(metric cache_requests_total 'layer="redis",result="hit"') error $(metric cache_requests_total 'layer="redis",result="error"'), postgres $(metric cache_requests_total 'layer="postgres"'); invalidation channel up: $(metric cache_invalidation_channel_up)"
echo "redirect RSS $(( $(metric process_resident_memory_bytes) / 1048576 )) MiB"
echo "redirect warnings during the run: $(grep -c '"level":"warn"' "$WORK/redirect.log" || true) $(grep -o '"msg":"[^"]*"' "$WORK/redirect.log" | sort | uniq -c | sort -rn | head -3 | tr '\n' ' ')"
python3 -c "print('redirect/nginx ratio at 200 connections: %.2f' % (${RPS[redirect-200]} / ${RPS[nginx-200]}))"
