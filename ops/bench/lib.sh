# Shared helpers of the benchmark scripts (sourced). Loopback only; everything is stopped and
# deleted on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$ROOT/target/release
WORK=$(mktemp -d)
DB_BASE=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
AMQP=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
PIDS=()
source "$ROOT/ops/lib/rabbitmq.sh"

bench_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  # Every queue under the run's prefix: a fixed list here missed the canary's and the
  # ghost-probe's queues once they joined the topology.
  if [ -n "${BENCH_PREFIX:-}" ]; then delete_queues_under "$BENCH_PREFIX"; fi
  rm -rf "$WORK"
}
trap bench_cleanup EXIT

need_tools() {
  local need=()
  command -v wrk >/dev/null || need+=(wrk)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

# fresh_db NAME: drops and migrates a bench database; prints its URL
fresh_db() {
  local url="${DB_BASE%/*}/$1"
  psql -q "$DB_BASE" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1
  DATABASE_URL=$url "$BIN/ghostctl" migrate 2>/dev/null
  echo "$url"
}

# wait_healthy OPS_PORT
# start_nginx_302 PORT: the baseline every redirect benchmark is compared with, nginx answering
# `return 302` on 127.0.0.1:PORT (config, pid and logs under $WORK; stopped by bench_cleanup).
start_nginx_302() {
  cat > "$WORK/nginx.conf" <<NGX
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK; proxy_temp_path $WORK; fastcgi_temp_path $WORK; uwsgi_temp_path $WORK; scgi_temp_path $WORK;
  server { listen 127.0.0.1:$1; location / { return 302 https://example.com/; } }
}
NGX
  "$(command -v nginx || echo /usr/sbin/nginx)" -c "$WORK/nginx.conf"
}

wait_healthy() {
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "service on ops port $1 did not start" >&2; return 1
}

# metric PORT NAME [LABELS]: sum of the samples of NAME whose label text contains LABELS
# (a fragment such as 'layer="memory",result="hit"')
metric() {
  curl -s "http://127.0.0.1:$1/metrics" | grep -v '^#' | grep -E "^${2}(\{| )" | grep -F -- "${3:-}" \
    | awk '{s+=$NF} END {printf "%d", s}' || true  # 0, not a failed pipeline, when absent
}

# peak_rss PID: VmHWM in MiB
peak_rss() { awk '/VmHWM/ {printf "%d", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

# wrk_run NAME PORT CONNS SCRIPT [SECONDS]: wrk (2 threads, --latency) with ops/bench/SCRIPT against
# 127.0.0.1:PORT for SECONDS (default $SECS), output kept in $WORK/wrk-NAME.txt; prints
# "rps p50_ms p99_ms non2xx3xx requests"
wrk_run() {
  wrk -t2 -c"$3" -d"${5:-$SECS}s" --latency -s "$ROOT/ops/bench/$4" "http://127.0.0.1:$2" >"$WORK/wrk-$1.txt" 2>&1 || true
  python3 - "$WORK/wrk-$1.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)\s*$" % label, t, re.M)
    if not m: return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
n = re.search(r"(\d+) requests in", t)
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
print(f"{float(rps.group(1)) if rps else 0:.0f} {ms('50%'):.2f} {ms('99%'):.2f} {bad.group(1) if bad else 0} {n.group(1) if n else 0}")
PY
}
