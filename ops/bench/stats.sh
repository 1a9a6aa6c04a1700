#!/usr/bin/env bash
# The stats API at scale (issue 13): STATS_TOTAL clicks (default 50,000,000) over the last 365
# days, STATS_HOT (default 10,000,000) of them on one link, generated in SQL
# (ops/bench/stats-data.sql, not through HTTP) into the partitioned clicks table, and counted
# into the rollups by the recorder's own function (click_rollups_apply), one day's partition at
# a time, two sessions at once. Then, through the real shortener over HTTP:
#   - the hot link's stats over 365 days with three breakdowns (country, browser, referrer),
#     STATS_REQUESTS sequential requests: p50 / p95 / p99 / max;
#   - the same with every breakdown, and the workspace's stats (top links among 1,000);
# and the database's size per million clicks (raw partitions, rollups).
#
#   bash ops/bench/stats.sh                     # builds release binaries, generates once
#   STATS_KEEP=1 bash ops/bench/stats.sh        # reuse the generated database if it is complete
#
# The generated database (ghostlink_bench_stats) is kept for reruns; drop it when done.
source "$(dirname "$0")/lib.sh"
BIN=${BENCH_BIN_DIR:-$BIN}
TOTAL=${STATS_TOTAL:-50000000}
HOT=${STATS_HOT:-10000000}
LINKS=${STATS_LINKS:-999}
REQUESTS=${STATS_REQUESTS:-200}
DBNAME=${STATS_DB:-ghostlink_bench_stats}
DB_URL="${DB_BASE%/*}/$DBNAME"
say() { printf '== %s\n' "$*"; }

[ -n "${BENCH_BIN_DIR:-}" ] || cargo build --release -q -p ghostctl -p ghostlink-shortener

have=$(psql -At "$DB_URL" -c "SELECT CASE WHEN (SELECT count(*) FROM clicks) = $TOTAL \
  AND (SELECT sum(clicks) FROM click_rollup_hourly) = $TOTAL THEN 'complete' END" 2>/dev/null || true)
if [ "${STATS_KEEP:-}" = 1 ] && [ "$have" = complete ]; then
  say "reusing $DBNAME ($TOTAL clicks, rollups complete)"
else
  say "generating $TOTAL clicks ($HOT on one link, the rest over $LINKS links) in $DBNAME"
  fresh_db "$DBNAME" >/dev/null
  t0=$(date +%s)
  psql -q "$DB_URL" -v total="$TOTAL" -v hot="$HOT" -v links="$LINKS" -f "$ROOT/ops/bench/stats-data.sql" >/dev/null
  t1=$(date +%s)
  say "clicks inserted in $((t1 - t0)) s; counting them into the rollups"
  rollup() {  # rollup PARITY: every other day's partition, one transaction each
    psql -q "$DB_URL" -v ON_ERROR_STOP=1 -c "DO \$\$ DECLARE p text; BEGIN
      FOR p IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'clicks'::regclass ORDER BY 1 LOOP
        CONTINUE WHEN (substr(p, 8)::int % 2) <> $1;
        SET LOCAL work_mem = '256MB';
        EXECUTE format('CREATE TEMP TABLE clicks_delta AS SELECT * FROM %I', p);
        PERFORM click_rollups_apply(1, 'not_found');
        DROP TABLE clicks_delta;
        COMMIT;
      END LOOP; END \$\$"
  }
  rollup 0 & r0=$!; rollup 1 & r1=$!
  wait $r0; wait $r1
  psql -q "$DB_URL" -c "VACUUM ANALYZE" >/dev/null
  say "rollups counted in $(( $(date +%s) - t1 )) s"
fi
psql -At "$DB_URL" -c "SELECT 'check: raw ' || (SELECT count(*) FROM clicks WHERE code = 'hot') || ', rolled up ' || \
  (SELECT sum(clicks) FROM click_rollup_hourly WHERE code = 'hot') || ' clicks on the hot link'"

P_SHORT=$((10000 + RANDOM % 5000)); P_OPS=$((P_SHORT + 1))
TOKEN=$(DATABASE_URL=$DB_URL "$BIN/ghostctl" token create --name "stats-$RANDOM$RANDOM" --role user)
DATABASE_URL=$DB_URL AMQP_URL=$AMQP BUS_PREFIX="bench-stats-$RANDOM" REDIS_KEY_PREFIX="bench-stats-$RANDOM:" \
  LISTEN_ADDR=127.0.0.1:$P_SHORT OPS_LISTEN_ADDR=127.0.0.1:$P_OPS ADMIN_LISTEN_ADDR=127.0.0.1:0 LOG_LEVEL=warn \
  RATE_LIMIT_PER_SECOND=1000000 RATE_LIMIT_BURST=1000000 \
  "$BIN/ghostlink-shortener" >"$WORK/shortener.log" 2>&1 & PIDS+=($!)
wait_healthy $P_OPS || { cat "$WORK/shortener.log"; exit 1; }

# latency NAME PATH: REQUESTS sequential GETs after 10 warm-up ones; prints the figures
latency() {
  python3 - "$1" "http://127.0.0.1:$P_SHORT$2" "$TOKEN" "$REQUESTS" <<'PY'
import http.client, json, sys, time, urllib.parse
name, url, token, n = sys.argv[1], urllib.parse.urlsplit(sys.argv[2]), sys.argv[3], int(sys.argv[4])
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
path = url.path + "?" + url.query
def get():
    conn.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = conn.getresponse(); body = r.read()
    if r.status != 200: sys.exit(f"{name}: HTTP {r.status}: {body[:300]!r}")
    return json.loads(body)
for _ in range(10): body = get()
times = []
for _ in range(n):
    t = time.perf_counter(); get(); times.append((time.perf_counter() - t) * 1000)
times.sort()
q = lambda p: times[min(len(times) - 1, int(p * len(times)))]
print(f"{name:<44} total {body['total']:>10}  p50 {q(0.50):6.1f} ms  p95 {q(0.95):6.1f} ms  p99 {q(0.99):6.1f} ms  max {times[-1]:6.1f} ms  (n={n})")
PY
}
FROM=$(date -u -d '-365 days' +%Y-%m-%dT%H:%M:%SZ); TO=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
R="from=$FROM&to=$TO"
say "stats over HTTP ($REQUESTS sequential requests each, after 10 to warm up)"
latency "hot link, 365 days by day, 3 breakdowns" "/api/v1/links/hot/stats?$R&breakdowns=country,browser,referrer"
latency "hot link, 365 days by day, tz Europe/Paris" "/api/v1/links/hot/stats?$R&tz=Europe/Paris&breakdowns=country,browser,referrer"
latency "hot link, 365 days by week, all breakdowns" "/api/v1/links/hot/stats?$R&granularity=week"
latency "hot link, 365 days by hour, no breakdown" "/api/v1/links/hot/stats?$R&granularity=hour&breakdowns=none"
latency "workspace, 365 days by day, top links + 2" "/api/v1/workspace/stats?$R&breakdowns=link,country,device"
say "database size"
psql -At "$DB_URL" <<SQL
SELECT format('%-44s %10s  (%s per million clicks)', 'whole database', pg_size_pretty(pg_database_size(current_database())),
              pg_size_pretty(pg_database_size(current_database()) * 1000000 / $TOTAL));
SELECT format('%-44s %10s  (%s per million clicks)', 'raw clicks (partitions, with indexes)', pg_size_pretty(sum(pg_total_relation_size(inhrelid))),
              pg_size_pretty(sum(pg_total_relation_size(inhrelid)) * 1000000 / $TOTAL))
  FROM pg_inherits WHERE inhparent = 'clicks'::regclass;
SELECT format('%-44s %10s  (~%s rows)', t, pg_size_pretty(pg_total_relation_size(t::regclass)), (SELECT reltuples::bigint FROM pg_class WHERE oid = t::regclass))
  FROM unnest(ARRAY['click_rollup_hourly', 'click_rollup_daily', 'workspace_rollup_hourly', 'workspace_rollup_daily']) t;
SQL
