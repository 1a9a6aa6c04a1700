#!/usr/bin/env bash
# End-to-end test of the alerting path: GhostLink services -> Prometheus (the REAL rule files,
# `for:` shortened) -> Alertmanager (the REAL template, timers shortened) -> a local stand-in for
# Discord's webhook (ops/e2e/webhook_receiver.py).
#
#   bash ops/e2e/alerts.sh        # after `cargo test --workspace` built target/debug
#
# Needs: Postgres on 127.0.0.1:5432 (user postgres, no password), Redis on 127.0.0.1:6379,
# RabbitMQ on 127.0.0.1:5672 (guest/guest), python3, curl, psql, and Debian's `prometheus` and
# `prometheus-alertmanager` packages (installed with apt-get if missing). Everything listens on
# 127.0.0.1 only, on free random high ports; state lives in a mktemp dir; every process started
# here is killed by PID and the database dropped on exit. Bounded: every wait has a timeout.
#
# Scenarios:
#   1. service down: SIGKILL the redirect -> GhostlinkServiceDown (page) firing notification for
#      instance redirect-1; restart it -> the resolved notification ([RESOLVED], send_resolved).
#   2. Redis unavailable: a second redirect (instance redirect-noredis) points at a dead Redis
#      (redis://127.0.0.1:1) and gets a request every 0.3 s, so redis_fallback_active is 1 and
#      redis_errors_total rises -> RedisUnavailable (page) firing notification. Its resolution is
#      not tested.
#   3. probe storm: the ghost-probe (PROBE_MODE=enforce) consumes the redirect's click events;
#      15 scanners (15 loopback addresses, a user agent each: 15 clients) each request 25
#      never-seen codes -> 15 enumeration episodes -> GhostProbeStorm (ticket) firing
#      notification; and each scanner is answered 429 once flagged, while a legitimate client
#      (an address of its own: ghost-probe also counts clients by address) is not.
#
# Exit 0 only if every expected notification arrived; non-zero with a FAIL message otherwise
# (and the tail of every log). Each wait has its own timeout and all waits share a 210 s budget
# (E2E_BUDGET_SECS), so a run ends in under 4 minutes; a passing run takes about 25 s.
# E2E_ALERT_FOR (default 5s) sets the shortened `for:`; E2E_DUMP=1 prints the raw webhook bodies.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FOR=${E2E_ALERT_FOR:-5s}          # replaces every alert's `for:` in the test copy of the rules

NAME=alerts
source "$HERE/lib.sh"

# ------------------------------------------------------------------------------- tools
missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
for t in python3 curl psql bc; do
  command -v "$t" >/dev/null 2>&1 || case $t in
    psql) missing+=(postgresql-client) ;; *) missing+=("$t") ;; esac
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "installing: ${missing[*]}"
  # Keep Debian's packages from starting their own daemons on 9090/9093.
  policy_created=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d; policy_created=1
  fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -n "$policy_created" ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi
for b in ghostctl ghostlink-redirect ghostlink-shortener ghostlink-ghost-probe; do
  [ -x "$BIN/$b" ] || fail "$BIN/$b missing: run cargo build/test --workspace first"
done

REDIRECT_PORT=$(free_port); REDIRECT_OPS=$(free_port)
NOREDIS_PORT=$(free_port); NOREDIS_OPS=$(free_port)
SHORTENER_PORT=$(free_port); SHORTENER_OPS=$(free_port)
PROBE_OPS=$(free_port)
HOOK_PORT=$(free_port); AM_PORT=$(free_port); PROM_PORT=$(free_port)

# ------------------------------------------------------------------------------- database
log "work dir $WORK; database $DB_NAME"
create_db

# ------------------------------------------------------------------------------- services
start_service redirect ghostlink-redirect "$REDIRECT_PORT" "$REDIRECT_OPS" redis://127.0.0.1:6379
start_service shortener ghostlink-shortener "$SHORTENER_PORT" "$SHORTENER_OPS" redis://127.0.0.1:6379
start_service redirect-noredis ghostlink-redirect "$NOREDIS_PORT" "$NOREDIS_OPS" redis://127.0.0.1:1
PROBE_MODE=enforce start_service ghost-probe ghostlink-ghost-probe "$(free_port)" "$PROBE_OPS" redis://127.0.0.1:6379

python3 "$HERE/webhook_receiver.py" "$HOOK_PORT" "$WORK/webhook.jsonl" >"$WORK/webhook.log" 2>&1 &
PID[webhook]=$!

# ------------------------------------------------------------------------------- alertmanager
HOOK_URL="http://127.0.0.1:$HOOK_PORT/api/webhooks/e2e/test-token"
DISCORD_WEBHOOK_URL=$HOOK_URL sh "$ROOT/ops/alertmanager/render.sh" \
  "$ROOT/ops/alertmanager/alertmanager.yml.tmpl" "$WORK/alertmanager.rendered.yml"
# Test timers: first notification 1 s after the group forms, resolved/changed groups every 5 s.
sed -E -e 's/^( *group_wait:).*/\1 1s/' -e 's/^( *group_interval:).*/\1 5s/' \
  -e 's/^( *repeat_interval:).*/\1 1h/' "$WORK/alertmanager.rendered.yml" >"$WORK/alertmanager.yml"
grep -q 'send_resolved: true' "$WORK/alertmanager.yml" || fail "template has no send_resolved: true"
amtool check-config "$WORK/alertmanager.yml" >"$WORK/amtool.log" 2>&1 || fail "amtool check-config failed"
prometheus-alertmanager --config.file="$WORK/alertmanager.yml" \
  --storage.path="$WORK/am-data" --cluster.listen-address= \
  --web.listen-address="127.0.0.1:$AM_PORT" --log.level=warn >"$WORK/alertmanager.log" 2>&1 &
PID[alertmanager]=$!

# ------------------------------------------------------------------------------- prometheus
mkdir -p "$WORK/rules"
for f in "$ROOT"/ops/prometheus/rules/*.yml; do
  sed -E "s/^( *)for: .*/\1for: $FOR/" "$f" >"$WORK/rules/$(basename "$f")"
done
n_alerts=$(grep -hcE '^ *- alert:' "$WORK"/rules/*.yml | paste -sd+ | bc)
n_for=$(grep -hcE "^ *for: $FOR\$" "$WORK"/rules/*.yml | paste -sd+ | bc)
cat >"$WORK/prometheus.yml" <<EOF
# Test copy of ops/prometheus/prometheus.yml: same jobs and labels, loopback targets.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
  external_labels:
    stack: ghostlink-e2e
rule_files:
  - rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$AM_PORT"]
scrape_configs:
  - job_name: redirect
    honor_labels: true
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$REDIRECT_OPS"]
        labels: {service: redirect, instance: redirect-1}
      - targets: ["127.0.0.1:$NOREDIS_OPS"]
        labels: {service: redirect, instance: redirect-noredis}
  - job_name: shortener
    honor_labels: true
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$SHORTENER_OPS"]
        labels: {service: shortener, instance: shortener}
  - job_name: ghost-probe
    honor_labels: true
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$PROBE_OPS"]
        labels: {service: ghost-probe, instance: ghost-probe}
EOF
promtool check config "$WORK/prometheus.yml" >"$WORK/promtool.log" 2>&1 || fail "promtool check config failed"
log "rules: $n_alerts alerts, $n_for with for: $FOR (the others have none)"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom-data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PID[prometheus]=$!

# ------------------------------------------------------------------------------- ready
wait_for 30 "redirect /healthz" healthy "$REDIRECT_OPS"
wait_for 30 "shortener /healthz" healthy "$SHORTENER_OPS"
wait_for 30 "redirect-noredis /healthz" healthy "$NOREDIS_OPS"
wait_for 30 "ghost-probe /healthz" healthy "$PROBE_OPS"
wait_for 10 "webhook receiver" curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$HOOK_PORT/"
wait_for 30 "alertmanager ready" curl -sf --max-time 1 "http://127.0.0.1:$AM_PORT/-/ready"
wait_for 30 "prometheus ready" curl -sf --max-time 1 "http://127.0.0.1:$PROM_PORT/-/ready"

# promql EXPR: prints the values of an instant query, one per line
promql() {
  curl -sf --max-time 2 "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json,sys; [print(r["value"][1]) for r in json.load(sys.stdin)["data"]["result"]]'
}
query_is() { [ "$(promql "$1" | paste -sd' ')" = "$2" ]; }
wait_for 30 "Prometheus sees all 4 targets up" query_is 'count(up{service!=""} == 1)' 4
log "all targets up (redirect-1, redirect-noredis, shortener, ghost-probe)"

# Scenario 2's traffic runs from now on, in the background: unknown codes, so every request
# asks Redis (dead) first, then Postgres.
( while :; do curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$NOREDIS_PORT/e2e$RANDOM" || true; sleep 0.3; done ) &
PID[traffic]=$!
NOREDIS_T0=$(now)

notified() { python3 "$HERE/find_notification.py" "$WORK/webhook.jsonl" "$@"; }

# ------------------------------------------------------------------------------- scenario 1
log "scenario 1: SIGKILL redirect-1 (pid ${PID[redirect]})"
T_KILL=$(now)
kill -KILL "${PID[redirect]}"; wait "${PID[redirect]}" 2>/dev/null || true; unset 'PID[redirect]'
wait_for 60 "GhostlinkServiceDown firing notification for redirect-1" \
  notified GhostlinkServiceDown firing "instance redirect-1 is down" "$T_KILL"
T_FIRING=$(notified GhostlinkServiceDown firing "instance redirect-1 is down" "$T_KILL")
log "GhostlinkServiceDown firing notification received $(elapsed "$T_KILL" "$T_FIRING")s after the kill"

T_RESTART=$(now)
start_service redirect ghostlink-redirect "$REDIRECT_PORT" "$REDIRECT_OPS" redis://127.0.0.1:6379
log "restarted redirect-1 (pid ${PID[redirect]})"
wait_for 30 "redirect-1 /healthz after restart" healthy "$REDIRECT_OPS"
wait_for 60 "GhostlinkServiceDown resolved notification for redirect-1" \
  notified GhostlinkServiceDown resolved "instance redirect-1 is down" "$T_RESTART"
T_RESOLVED=$(notified GhostlinkServiceDown resolved "instance redirect-1 is down" "$T_RESTART")
log "GhostlinkServiceDown resolved notification received $(elapsed "$T_RESTART" "$T_RESOLVED")s after the restart"

# ------------------------------------------------------------------------------- scenario 2
log "scenario 2: redirect-noredis (REDIS_URL=redis://127.0.0.1:1) under traffic since $(elapsed "$T0" "$NOREDIS_T0")s"
wait_for 90 "RedisUnavailable firing notification for redirect-noredis" \
  notified RedisUnavailable firing "redirect-noredis cannot reach Redis" "$NOREDIS_T0"
T_REDIS=$(notified RedisUnavailable firing "redirect-noredis cannot reach Redis" "$NOREDIS_T0")
log "RedisUnavailable firing notification received $(elapsed "$NOREDIS_T0" "$T_REDIS")s after traffic started"
# The healthy redirect must not page for Redis.
if notified RedisUnavailable firing "redirect-1 cannot reach Redis" 0 >/dev/null; then
  fail "RedisUnavailable fired for redirect-1, whose Redis is up"
fi

# ------------------------------------------------------------------------------- scenario 3
log "scenario 3: 15 scanners x 25 never-seen codes at redirect-1 (ghost-probe in enforce mode)"
T_STORM=$(now)
scan() {  # scan N: prints the statuses of 25 requests from scanner N
  for i in $(seq 1 25); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 2 -A "e2e-scanner/$1" --interface "127.0.2.$1" \
      "http://127.0.0.1:$REDIRECT_PORT/scan$1x$i$RANDOM" || echo 000
  done
}
for n in $(seq 1 15); do scan "$n" >"$WORK/scan-$n.txt" & done
scans_done() { [ "$(cat "$WORK"/scan-*.txt 2>/dev/null | wc -l)" -ge 375 ]; }
wait_for 60 "every scanner's requests" scans_done
sleep 2   # the deny set reaches the redirect within a second of the finding
denied=0
for n in $(seq 1 15); do
  s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -A "e2e-scanner/$n" --interface "127.0.2.$n" \
    "http://127.0.0.1:$REDIRECT_PORT/again$n")
  [ "$s" = 429 ] && denied=$((denied + 1))
done
legit=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -A "e2e-legit/1" --interface 127.0.3.1 \
  "http://127.0.0.1:$REDIRECT_PORT/e2elegit")
log "after the scan: $denied of 15 scanners answered 429; a legitimate client got $legit"
[ "$denied" -ge 14 ] || fail "only $denied of 15 flagged scanners were denied"
[ "$legit" = 404 ] || fail "the legitimate client got $legit, not 404"
wait_for 90 "GhostProbeStorm firing notification" notified GhostProbeStorm firing "ghost-probe" "$T_STORM"
T_STORM_FIRING=$(notified GhostProbeStorm firing "ghost-probe" "$T_STORM")
log "GhostProbeStorm firing notification received $(elapsed "$T_STORM" "$T_STORM_FIRING")s after the scan started"

echo
echo "PASS alerting e2e ($(elapsed "$T0" "$(now)")s total, alert for: $FOR, group_wait 1s, group_interval 5s)"
echo "  GhostlinkServiceDown: kill -> firing notification   $(elapsed "$T_KILL" "$T_FIRING")s"
echo "  GhostlinkServiceDown: restart -> resolved notification $(elapsed "$T_RESTART" "$T_RESOLVED")s"
echo "  RedisUnavailable: traffic start -> firing notification $(elapsed "$NOREDIS_T0" "$T_REDIS")s"
echo "  GhostProbeStorm: scan start -> firing notification  $(elapsed "$T_STORM" "$T_STORM_FIRING")s ($denied/15 scanners denied)"
echo "  notifications received: $(wc -l <"$WORK/webhook.jsonl"); embed titles and colours:"
python3 - "$WORK/webhook.jsonl" "$T0" <<'PY'
import json, sys
t0 = float(sys.argv[2])
for line in open(sys.argv[1], encoding="utf-8"):
    rec = json.loads(line)
    for e in rec["body"].get("embeds") or []:
        print("    +%5.1fs  %-55s color=%s" % (rec["received_at"] - t0, e.get("title", ""), e.get("color")))
PY
if [ -n "${E2E_DUMP:-}" ]; then cat "$WORK/webhook.jsonl"; fi
