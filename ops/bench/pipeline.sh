#!/usr/bin/env bash
# Benchmark: the click pipeline end to end — redirect → RabbitMQ (confirms) → click recorder →
# Postgres rows — under a sustained redirect load, then how long the drain takes once the load
# stops. Prints events/s answered, published and stored, the drain time, and the CPU each stage
# used over the run (the redirect, RabbitMQ, the click recorder with its enrichment, Postgres).
#
#   bash ops/bench/pipeline.sh          # PIPE_SECONDS (default 60), PIPE_CONNS (default 100),
#                                       # PIPE_RATE offered req/s (default 20000; 0 = as fast as possible)
source "$(dirname "$0")/lib.sh"
SECS=${PIPE_SECONDS:-60}
CONNS=${PIPE_CONNS:-100}
RATE=${PIPE_RATE:-20000}
BENCH_PREFIX=glbench-pipe-$$
need_tools
cargo build --release -q -p ghostctl -p ghostlink-redirect -p ghostlink-click-recorder
DB=$(fresh_db ghostlink_bench_pipe)
psql -q "$DB" -c "INSERT INTO links (code, url) SELECT 'bn' || i, 'https://example.com/' || i FROM generate_series(1, 1000) i" >/dev/null

DATABASE_URL=$DB AMQP_URL=$AMQP BUS_PREFIX=$BENCH_PREFIX OPS_LISTEN_ADDR=127.0.0.1:19106 LOG_LEVEL=warn \
  "$BIN/ghostlink-click-recorder" >"$WORK/recorder.log" 2>&1 & PIDS+=($!); REC=$!
DATABASE_URL=$DB AMQP_URL=$AMQP BUS_PREFIX=$BENCH_PREFIX LISTEN_ADDR=127.0.0.1:18080 OPS_LISTEN_ADDR=127.0.0.1:19101 \
  REDIS_KEY_PREFIX=glbench-pipe: SPOOL_DIR=$WORK/spool CLICK_SALT=bench-salt-0123 LOG_LEVEL=warn \
  "$BIN/ghostlink-redirect" >"$WORK/redirect.log" 2>&1 & PIDS+=($!); RED=$!
wait_healthy 19106; wait_healthy 19101
export BENCH_LINKS=1000 BENCH_RATE=$RATE BENCH_CONNS=$CONNS

# cpu_secs PID...: user + system CPU seconds of the processes so far
cpu_secs() {
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  python3 -c "print('%.1f' % ($t / $(getconf CLK_TCK)))"
}
pg_pids() { pgrep -d ' ' -x postgres || true; }
mq_pids() { pgrep -d ' ' -f beam.smp || true; }
cpu0_red=$(cpu_secs $RED); cpu0_rec=$(cpu_secs $REC); cpu0_pg=$(cpu_secs $(pg_pids)); cpu0_mq=$(cpu_secs $(mq_pids))

echo "== ${SECS}s of redirects at $CONNS connections, offered rate ${RATE}/s (0 = unpaced), clicks flowing to Postgres"
rows() { psql -At "$DB" -c "SELECT count(*) FROM clicks"; }
( for i in $(seq 5 5 "$SECS"); do sleep 5; echo "  t=${i}s rows=$(rows)"; done ) &
SAMPLER=$!
wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$ROOT/ops/bench/paced-code.lua" http://127.0.0.1:18080 > "$WORK/wrk.txt"
stop_t=$(date +%s.%N)
rows_at_stop=$(rows)
wait $SAMPLER 2>/dev/null || true
answered=$(metric 19101 clicks_enqueued_total)
dropped=$(metric 19101 clicks_dropped_total)
rps=$(awk '/Requests\/sec/ {printf "%d", $2}' "$WORK/wrk.txt")
echo "== load stopped; waiting for the drain"
drained=no
for _ in $(seq 1 600); do
  pub=$(metric 19101 clicks_published_total); spool=$(metric 19101 spool_bytes); depth=$(metric 19101 clicks_queue_depth)
  r=$(rows)
  if [ "$depth" = 0 ] && [ "$spool" = 0 ] && [ "$r" -ge "$pub" ] && [ "$pub" -ge $((answered - dropped)) ]; then drained=yes; break; fi
  sleep 0.1
done
drain=$(python3 -c "import time; print('%.1f' % (time.time() - $stop_t))")
final=$(rows)
d() { python3 -c "print('%.1f' % ($1 - $2))"; }
cpu_red=$(d "$(cpu_secs $RED)" "$cpu0_red"); cpu_rec=$(d "$(cpu_secs $REC)" "$cpu0_rec")
cpu_pg=$(d "$(cpu_secs $(pg_pids))" "$cpu0_pg"); cpu_mq=$(d "$(cpu_secs $(mq_pids))" "$cpu0_mq")
echo
echo "redirect requests/s (wrk):           $rps"
echo "click events answered:               $answered (dropped before publishing: $dropped)"
echo "answered/s during the load:          $((answered / SECS))"
echo "rows stored when the load stopped:   $rows_at_stop  → $((rows_at_stop / SECS)) stored/s during the load (enriched, rolled up)"
echo "rows stored after the drain:         $final (duplicates impossible: event_id is unique)"
echo "drain after the load stopped:        ${drain}s (complete: $drained)"
echo "CPU seconds over load + drain:       redirect $cpu_red, RabbitMQ $cpu_mq, click recorder $cpu_rec, Postgres $cpu_pg"
echo "peak RSS: redirect $(peak_rss $RED) MiB, click-recorder $(peak_rss $REC) MiB"
echo "pipeline events/s end to end: $(python3 -c "print('%d' % ($final / ($SECS + $drain)))")"
