#!/usr/bin/env bash
# The real nginx config in front of two real redirect processes: SIGKILL one under traffic and
# show that redirects keep succeeding (upstream max_fails/fail_timeout + proxy_next_upstream).
#
#   bash ops/e2e/nginx.sh        # after `cargo test --workspace` built target/debug
#
# Renders ops/nginx/nginx.local.conf.tmpl (the same proxy rules as ops/nginx/nginx.conf, local
# paths and ports), starts Debian's nginx with it, two ghostlink-redirect replicas on a fresh
# database, and E2E_NGINX_CLIENTS (4) clients requesting one link for E2E_NGINX_SECS (12) s;
# replica 1 is killed with SIGKILL a third of the way in. Prints requests, answers by status
# and the success ratio before/after the kill; exits non-zero when any request failed
# (target: 100 %, at least 99.9 %: E2E_NGINX_MIN_RATIO) or replica 2 took no traffic after.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NAME=nginx
BUDGET_DEFAULT=120
source "$HERE/lib.sh"

SECS=${E2E_NGINX_SECS:-12}
CLIENTS=${E2E_NGINX_CLIENTS:-4}
MIN_RATIO=${E2E_NGINX_MIN_RATIO:-0.999}
command -v nginx >/dev/null 2>&1 || fail "nginx missing (apt-get install nginx)"
for b in ghostctl ghostlink-redirect; do
  [ -x "$BIN/$b" ] || fail "$BIN/$b missing: run cargo build/test --workspace first"
done

log "work dir $WORK; database $DB_NAME"
create_db
psql -q "$DB_URL" -c "INSERT INTO links (code, url) VALUES ('nginxe2e', 'https://example.com/target')" \
  || fail "cannot insert the test link"

R1=$(free_port); R1_OPS=$(free_port); R2=$(free_port); R2_OPS=$(free_port); NGINX_PORT=$(free_port)
TRUSTED_PROXIES=127.0.0.1 start_service redirect-1 ghostlink-redirect "$R1" "$R1_OPS" redis://127.0.0.1:6379
TRUSTED_PROXIES=127.0.0.1 start_service redirect-2 ghostlink-redirect "$R2" "$R2_OPS" redis://127.0.0.1:6379

mkdir -p "$WORK/nginx"
sed -e "s|__LISTEN_PORT__|$NGINX_PORT|g" -e "s|__UPSTREAM_PORT_1__|$R1|g" \
    -e "s|__UPSTREAM_PORT_2__|$R2|g" -e "s|__TMP_DIR__|$WORK/nginx|g" \
    "$ROOT/ops/nginx/nginx.local.conf.tmpl" >"$WORK/nginx/nginx.conf"
nginx -t -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx-t.log" 2>&1 \
  || fail "nginx -t failed: $(cat "$WORK/nginx-t.log")"
nginx -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx.log" 2>&1 &
PID[nginx]=$!

wait_for 30 "redirect-1 /healthz" healthy "$R1_OPS"
wait_for 30 "redirect-2 /healthz" healthy "$R2_OPS"
wait_for 10 "nginx" curl -sf --max-time 1 "http://127.0.0.1:$NGINX_PORT/nginx-health"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGINX_PORT/nginxe2e")
[ "$code" = 302 ] || fail "GET /nginxe2e through nginx answered $code, not 302"

# Clients: keep-alive connections to nginx, one request after another; each result is logged
# as "<monotonic seconds> <status>" (status 0 = transport error).
python3 - "$NGINX_PORT" "$SECS" "$CLIENTS" "$WORK/results.txt" >"$WORK/clients.log" 2>&1 <<'PY' &
import http.client, sys, threading, time
port, secs, clients, out = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
results, lock = [], threading.Lock()
end = time.monotonic() + secs
def client():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    local = []
    while time.monotonic() < end:
        try:
            conn.request("GET", "/nginxe2e", headers={"User-Agent": "e2e-nginx/1"})
            r = conn.getresponse(); r.read(); local.append((time.monotonic(), r.status))
        except Exception:
            local.append((time.monotonic(), 0))
            conn.close(); conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    with lock:
        results.extend(local)
threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
with open(out, "w") as f:
    for t, s in results: f.write("%.4f %d\n" % (t, s))
PY
PID[clients]=$!
sleep "$(echo "$SECS / 3" | bc -l)"
T_KILL=$(python3 -c 'import time; print("%.4f" % time.monotonic())')
kill -KILL "${PID[redirect-1]}"; wait "${PID[redirect-1]}" 2>/dev/null || true; unset 'PID[redirect-1]'
log "SIGKILLed redirect-1 under traffic"
wait "${PID[clients]}" || fail "the client script failed: $(cat "$WORK/clients.log")"
unset 'PID[clients]'

python3 - "$WORK/results.txt" "$T_KILL" "$MIN_RATIO" "$WORK/nginx/access.log" "$R2" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
t_kill, min_ratio = float(sys.argv[2]), float(sys.argv[3])
def summary(rs):
    ok = sum(1 for _, s in rs if s == "302")
    return len(rs), ok, (ok / len(rs) if rs else 0.0)
before = [(float(t), s) for t, s in rows if float(t) < t_kill]
after = [(float(t), s) for t, s in rows if float(t) >= t_kill]
statuses = {}
for _, s in rows: statuses[s] = statuses.get(s, 0) + 1
n, ok, ratio = summary(before + after)
print("requests %d, answers by status %s" % (n, dict(sorted(statuses.items()))))
for name, part in (("before the kill", before), ("after the kill", after)):
    pn, pok, pr = summary(part)
    print("  %-16s %6d requests, %6d redirected (302), success %.4f" % (name, pn, pok, pr))
upstream_after = sum(1 for l in open(sys.argv[4]) if "upstream=127.0.0.1:%s" % sys.argv[5] in l)
print("  nginx access log: %d requests went to redirect-2" % upstream_after)
if not before or not after:
    sys.exit("FAIL: no traffic on one side of the kill")
if ratio < min_ratio:
    sys.exit("FAIL: success %.4f < %.4f" % (ratio, min_ratio))
if upstream_after == 0:
    sys.exit("FAIL: redirect-2 took no traffic")
print("PASS nginx e2e: success %.4f across a replica SIGKILL (target >= %.3f)" % (ratio, min_ratio))
PY
