#!/usr/bin/env bash
# Benchmark: ghostlink-redirect vs nginx answering a static `return 302`, same wrk script,
# same machine, same run. Loads BENCH_LINKS links (default 100,000), warms up, then measures
# both at 50 and 200 connections for BENCH_SECONDS (default 10) each, while clicks are recorded.
# Prints req/s, p50, p99 and, last, `redirect/nginx ratio at 200 connections: X.XX`.
#
#   bash ops/bench/redirect.sh            # builds release binaries first
#
# Needs the local Postgres and Redis; installs wrk and nginx from Debian if missing.
source "$(dirname "$0")/lib.sh"
LINKS=${BENCH_LINKS:-100000}
SECS=${BENCH_SECONDS:-10}
PORT_R=${BENCH_REDIRECT_PORT:-18080}
PORT_OPS=${BENCH_OPS_PORT:-19101}
PORT_N=${BENCH_NGINX_PORT:-18090}
BENCH_PREFIX=glbench-$$
export BENCH_LINKS=$LINKS
need_tools
cargo build --release -q -p ghostctl -p ghostlink-redirect -p ghostlink-click-recorder

echo "== preparing $LINKS links in ghostlink_bench"
DB_URL=$(fresh_db ghostlink_bench)
psql -q "$DB_URL" -c "INSERT INTO links (code, url) SELECT 'bn' || i, 'https://example.com/page/' || i FROM generate_series(1, $LINKS) i" >/dev/null
redis-cli --scan --pattern 'glbench:*' | xargs -r -n 1000 redis-cli del >/dev/null

start_nginx_302 "$PORT_N"

# Clicks are recorded for real during the run: redirect → RabbitMQ → click recorder → Postgres.
DATABASE_URL=$DB_URL AMQP_URL=$AMQP BUS_PREFIX=$BENCH_PREFIX OPS_LISTEN_ADDR=127.0.0.1:19106 LOG_LEVEL=warn \
  "$BIN/ghostlink-click-recorder" >"$WORK/recorder.log" 2>&1 & PIDS+=($!)
DATABASE_URL=$DB_URL AMQP_URL=$AMQP BUS_PREFIX=$BENCH_PREFIX LISTEN_ADDR=127.0.0.1:$PORT_R OPS_LISTEN_ADDR=127.0.0.1:$PORT_OPS \
  REDIS_KEY_PREFIX=glbench: SPOOL_DIR=$WORK/spool LOG_LEVEL=warn CLICK_SALT=bench-salt-0123 \
  "$BIN/ghostlink-redirect" >"$WORK/redirect.log" 2>&1 & PIDS+=($!)
RPID=$!
wait_healthy 19106
wait_healthy "$PORT_OPS" || { cat "$WORK/redirect.log"; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT_R/bn1")" = 302 ] || { echo "redirect does not redirect"; exit 1; }

run() { # target port conns -> "rps p50_ms p99_ms non2xx3xx requests"
  wrk_run "$1-$3" "$2" "$3" random-code.lua
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
echo
echo "clicks enqueued $(metric $PORT_OPS clicks_enqueued_total), published $(metric $PORT_OPS clicks_published_total), spooled $(metric $PORT_OPS clicks_spooled_total), dropped $(metric $PORT_OPS clicks_dropped_total); rows stored so far $(psql -At "$DB_URL" -c 'SELECT count(*) FROM clicks')"
echo "lookups: memory hit $(metric $PORT_OPS cache_requests_total 'layer="memory",result="hit"') miss $(metric $PORT_OPS cache_requests_total 'layer="memory",result="miss"'), redis hit $(metric $PORT_OPS cache_requests_total 'layer="redis",result="hit"') error $(metric $PORT_OPS cache_requests_total 'layer="redis",result="error"'), postgres $(metric $PORT_OPS cache_requests_total 'layer="postgres"'); invalidation channel up: $(metric $PORT_OPS cache_invalidation_channel_up)"
echo "redirect RSS $(( $(metric $PORT_OPS process_resident_memory_bytes) / 1048576 )) MiB (peak $(peak_rss $RPID) MiB)"
echo "redirect warnings during the run: $(grep -c '"level":"warn"' "$WORK/redirect.log" || true) $(grep -o '"msg":"[^"]*"' "$WORK/redirect.log" | sort | uniq -c | sort -rn | head -3 | tr '\n' ' ')"
python3 -c "print('redirect/nginx ratio at 200 connections: %.2f' % (${RPS[redirect-200]} / ${RPS[nginx-200]}))"
