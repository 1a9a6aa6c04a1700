#!/usr/bin/env bash
# Benchmark: what a link's redirect rules and query forwarding/UTM cost the redirect (issue 12).
# Three kinds of links, BENCH_LINKS (default 10,000) of each, in one redirect:
#   plain  bn<i>  no rules, no query options (what every link was before the features);
#   rules  rl<i>  three rules, device=mobile → /m, language=de → /de, query ref=x → /ref; the
#                 requests (ops/bench/kind-code.lua: Chrome on Windows, en-US, ?src=wrk) match
#                 none, so all three are evaluated and the User-Agent is parsed;
#   utm    ut<i>  forward_query and three UTM values, so the request's ?src=wrk is merged in.
# Every code is warmed (memory hits), then each kind is measured at BENCH_CONNS (default 50)
# connections for BENCH_SECONDS (default 10), alternating plain, rules, utm twice, between two
# measurements of nginx `return 302` (the baseline, same wrk script, same run). With
# BENCH_BASE_BIN (a ghostlink-redirect built before the features, e.g. commit 36af45b) that
# binary also runs on the same database and is measured on the plain links in each round.
# Then, unless BENCH_CALLGRIND=0 (or valgrind is missing), instructions per request of the in-memory
# part alone (decision, rules, UTM, Location check: services/redirect/examples/rules_cost.rs)
# under callgrind, CG_ITERATIONS (default 100,000) per kind, deterministic.
# Clicks are recorded for real (redirect → RabbitMQ → click recorder → Postgres), as in
# redirect.sh. Prints req/s per measurement, the mean per kind and the ratios rules/plain,
# utm/plain, plain/nginx (and base-plain/nginx) with the targets:
#   (b) a three-rule link costs ≤ 10% more than a plain one: plain/rules ≤ 1.10;
#   (a) plain/nginx with the features ≥ plain/nginx before them (needs BENCH_BASE_BIN).
#
#   bash ops/bench/rules.sh                                      # builds release binaries first
#   BENCH_BASE_BIN=/tmp/redirect-36af45b bash ops/bench/rules.sh # and compares with that build
#   BENCH_BIN_DIR=DIR bash ops/bench/rules.sh   # no build: ghostctl, ghostlink-redirect,
#                                               # ghostlink-click-recorder, examples/rules_cost from DIR
#
# The base binary, from a worktree sharing the target directory (copy it out before the
# next build of HEAD overwrites target/release/ghostlink-redirect):
#   git worktree add --detach /tmp/wt-base 36af45b && (cd /tmp/wt-base &&
#     CARGO_TARGET_DIR=$PWD/../main/target cargo build --release -p ghostlink-redirect)
#
# Loopback only; everything it starts (processes, nginx, the database ghostlink_bench_rules,
# Redis keys under glbench-rules-<pid>-*:, RabbitMQ queues under glbench-rules-<pid>.) is
# removed on exit. Needs the local Postgres, Redis and RabbitMQ; installs wrk and nginx if missing.
source "$(dirname "$0")/lib.sh"
BIN=${BENCH_BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
LINKS=${BENCH_LINKS:-10000}
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-50}
BASE_BIN=${BENCH_BASE_BIN:-}
DBNAME=ghostlink_bench_rules
BENCH_PREFIX=glbench-rules-$$
RPFX="glbench-rules-$$-"
P_NGINX=18490; P_REC_OPS=19406
declare -A PORT=([head]=18480 [base]=18481) OPS=([head]=19401 [base]=19402)
declare -A PREFIX=([plain]=bn [rules]=rl [utm]=ut)
export BENCH_LINKS=$LINKS

rules_cleanup() {
  set +e
  bench_cleanup
  redis-cli --scan --pattern "${RPFX}*" | xargs -r -n 1000 redis-cli del >/dev/null 2>&1
  psql -q "$DB_BASE" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null 2>&1
  echo "cleaned up (processes, nginx, database $DBNAME, Redis keys ${RPFX}*, queues $BENCH_PREFIX.*)"
}
trap rules_cleanup EXIT

need_tools
[ -z "$BASE_BIN" ] || [ -x "$BASE_BIN" ] || { echo "BENCH_BASE_BIN=$BASE_BIN is not an executable" >&2; exit 2; }
CALLGRIND=${BENCH_CALLGRIND:-$(command -v valgrind >/dev/null && echo 1 || echo 0)}
if [ -z "${BENCH_BIN_DIR:-}" ]; then
  echo "== building release binaries"
  (cd "$ROOT" && cargo build --release -q -p ghostctl -p ghostlink-redirect -p ghostlink-click-recorder)
  [ "$CALLGRIND" = 0 ] || (cd "$ROOT" && cargo build --release -q -p ghostlink-redirect --example rules_cost)
fi

echo "== preparing $LINKS links of each kind in $DBNAME"
DB_URL=$(fresh_db $DBNAME)
RULES='[{"conditions":[{"type":"device","is":["mobile"]}],"url":"https://example.com/m"},
        {"conditions":[{"type":"language","is":["de"]}],"url":"https://example.com/de"},
        {"conditions":[{"type":"query","name":"ref","value":"x"}],"url":"https://example.com/ref"}]'
UTM='{"source":"bench","medium":"email","campaign":"launch"}'
psql -q -v ON_ERROR_STOP=1 "$DB_URL" >/dev/null <<SQL
INSERT INTO links (code, url, workspace_id, rules, forward_query, utm)
SELECT p || i, 'https://example.com/page/' || i, (SELECT id FROM workspaces WHERE slug = 'default'),
       CASE p WHEN 'rl' THEN '$RULES'::jsonb ELSE '[]' END, p = 'ut',
       CASE p WHEN 'ut' THEN '$UTM'::jsonb ELSE '{}' END
FROM generate_series(1, $LINKS) i, unnest(ARRAY['bn', 'rl', 'ut']) p;
SQL

start_nginx_302 "$P_NGINX"
DATABASE_URL=$DB_URL AMQP_URL=$AMQP BUS_PREFIX=$BENCH_PREFIX OPS_LISTEN_ADDR=127.0.0.1:$P_REC_OPS LOG_LEVEL=warn \
  "$BIN/ghostlink-click-recorder" >"$WORK/recorder.log" 2>&1 & PIDS+=($!)
wait_healthy $P_REC_OPS

start_redirect() { # NAME BINARY
  env DATABASE_URL="$DB_URL" AMQP_URL="$AMQP" BUS_PREFIX="$BENCH_PREFIX" REDIS_KEY_PREFIX="$RPFX$1:" \
    LISTEN_ADDR=127.0.0.1:${PORT[$1]} OPS_LISTEN_ADDR=127.0.0.1:${OPS[$1]} SPOOL_DIR="$WORK/spool-$1" \
    LOG_LEVEL=warn CLICK_SALT=bench-salt-0123 "$2" >"$WORK/redirect-$1.log" 2>&1 &
  PIDS+=($!)
  wait_healthy "${OPS[$1]}" || { cat "$WORK/redirect-$1.log"; exit 1; }
}
start_redirect head "$BIN/ghostlink-redirect"
[ -z "$BASE_BIN" ] || start_redirect base "$BASE_BIN"

# location PORT CODE [USER_AGENT]: the Location the redirect answers for CODE?src=wrk
location() {
  curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H "Accept-Language: en-US,en;q=0.9" \
    -A "${3:-Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36}" \
    "http://127.0.0.1:$1/$2?src=wrk"
}
expect() { # WHAT GOT WANT
  [ "$2" = "$3" ] || { echo "$1: got '$2', expected '$3'" >&2; exit 1; }
}
IPHONE="Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
expect "plain link" "$(location ${PORT[head]} bn1)" "302 https://example.com/page/1"
expect "rules link, desktop (no rule holds)" "$(location ${PORT[head]} rl1)" "302 https://example.com/page/1"
expect "rules link, iPhone (rule 0)" "$(location ${PORT[head]} rl2 "$IPHONE")" "302 https://example.com/m"
expect "utm link" "$(location ${PORT[head]} ut1)" \
  "302 https://example.com/page/1?utm_source=bench&utm_medium=email&utm_campaign=launch&src=wrk"
[ -z "$BASE_BIN" ] || expect "plain link (base)" "$(location ${PORT[base]} bn1)" "302 https://example.com/page/1"

echo "== warm-up: every code of each kind once (fills Redis and memory), then 3s of random codes"
warm() { # NAME KIND
  export BENCH_CODE_PREFIX=${PREFIX[$2]}
  BENCH_ORDER=sequential wrk -t2 -c20 -d"$(( LINKS / 5000 + 2 ))s" -s "$ROOT/ops/bench/kind-code.lua" \
    "http://127.0.0.1:${PORT[$1]}" >/dev/null
  wrk_run "warm-$1-$2" "${PORT[$1]}" "$CONNS" kind-code.lua 3 >/dev/null
}
for k in plain rules utm; do warm head $k; done
[ -z "$BASE_BIN" ] || warm base plain

# memory_hits NAME -> "hits misses" of the in-process cache
memory_hits() {
  echo "$(metric "${OPS[$1]}" cache_requests_total 'layer="memory",result="hit"') $(metric "${OPS[$1]}" cache_requests_total 'layer="memory",result="miss"')"
}
read -r H0 M0 < <(memory_hits head)

declare -A SUM
fmt='%-7s %-12s %6s %10s %9s %9s %8s\n'
measure() { # ROUND TARGET KIND PORT
  local rps p50 p99 bad
  export BENCH_CODE_PREFIX=${PREFIX[$3]}
  read -r rps p50 p99 bad _ < <(wrk_run "$1-$2-$3" "$4" "$CONNS" kind-code.lua)
  SUM[$2-$3]=$(( ${SUM[$2-$3]:-0} + rps ))
  printf "$fmt" "$1" "$2-$3" "$CONNS" "$rps" "$p50" "$p99" "$bad"
}
echo
printf "$fmt" round target conns req/s p50_ms p99_ms non3xx
measure 0 nginx plain $P_NGINX
for round in 1 2; do
  [ -z "$BASE_BIN" ] || measure $round base plain "${PORT[base]}"
  for k in plain rules utm; do measure $round head $k "${PORT[head]}"; done
done
measure 3 nginx plain $P_NGINX
read -r H1 M1 < <(memory_hits head)

echo
echo "head lookups during the measurements: memory hit $(( H1 - H0 )), miss $(( M1 - M0 ))"
for r in head ${BASE_BIN:+base}; do
  echo "$r warnings: $(grep -c '"level":"warn"' "$WORK/redirect-$r.log" || true) $(grep -o '"msg":"[^"]*"' "$WORK/redirect-$r.log" | sort | uniq -c | sort -rn | head -3 | tr '\n' ' ')"
done
echo "head query fallbacks $(metric "${OPS[head]}" redirect_query_fallbacks_total)"
echo "clicks published $(metric "${OPS[head]}" clicks_published_total) (head), dropped $(metric "${OPS[head]}" clicks_dropped_total), spooled $(metric "${OPS[head]}" clicks_spooled_total)"
python3 - "${SUM[nginx-plain]}" "${SUM[head-plain]}" "${SUM[head-rules]}" "${SUM[head-utm]}" "${SUM[base-plain]:-0}" <<'PY'
import sys
nginx, plain, rules, utm, base = (int(a) / 2 for a in sys.argv[1:])
print(f"\nmean req/s: nginx {nginx:.0f}, plain {plain:.0f}, rules {rules:.0f}, utm {utm:.0f}"
      + (f", base-plain {base:.0f}" if base else ""))
print(f"rules/plain ratio: {rules / plain:.3f}")
print(f"utm/plain ratio: {utm / plain:.3f}")
print(f"redirect-plain/nginx ratio: {plain / nginx:.3f}")
cost = plain / rules - 1
print(f"(b) a three-rule link costs {100 * cost:+.1f}% per request vs a plain one (target <= +10%): "
      + ("met" if cost <= 0.10 else "NOT met"))
if base:
    print(f"base-plain/nginx ratio: {base / nginx:.3f}")
    print(f"(a) plain/nginx {plain / nginx:.3f} with the features vs {base / nginx:.3f} before "
          f"({100 * (plain / base - 1):+.1f}% req/s; target: no drop): "
          + ("met" if plain >= base else "NOT met (within noise if the two nginx runs differ as much)"))
else:
    print("(a) not measured: set BENCH_BASE_BIN to a redirect built before the features")
PY

[ "$CALLGRIND" = 0 ] && exit 0
CG_ITER=${CG_ITERATIONS:-100000}
echo
echo "== callgrind: instructions per request of decision + destination + Location check ($CG_ITER iterations)"
ir() { # KIND ITERATIONS -> total Ir
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg-$1-$2.out" "$BIN/examples/rules_cost" "$1" "$2" \
    2>&1 >/dev/null | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
declare -A IR
for k in plain rules utm; do
  IR[$k]=$(( ( $(ir $k "$CG_ITER") - $(ir $k 0) ) / CG_ITER ))
  echo "$k: ${IR[$k]} Ir per request"
done
python3 -c "print('rules - plain: %d Ir, utm - plain: %d Ir per request' % (${IR[rules]} - ${IR[plain]}, ${IR[utm]} - ${IR[plain]}))"
