#!/usr/bin/env bash
# Timed end-to-end check of the ghost-probe against a running system: one scanner makes
# REQUESTS random-code GETs over DURATION_SECS with curl (one client: one address + one user
# agent, unique per run), and the script reports when the first 429 arrived (enforce mode) and
# when the enumeration finding appeared in GET /api/v1/findings.
#
# Target: "a scanner making 200 random-code requests in 60 s is flagged within 30 s of starting
# and gets 429s in enforce mode". Exits 1 if no finding appeared within DEADLINE_SECS, or (with
# EXPECT_DENY=1, the default) if no 429 arrived within DEADLINE_SECS.
#
#   PROBE_MODE=enforce target/debug/ghostctl up          # prints the URLs and the admin token
#   ADMIN_TOKEN=glk_... bash ops/simulate/probe-storm.sh
#
# Settings (environment): ADMIN_TOKEN (required), GHOSTLINK_PORT_OFFSET (0), REDIRECT_URL
# (http://127.0.0.1:8080+offset), SHORTENER_URL (:8081+offset), PROBE_OPS_URL (:9105+offset),
# REQUESTS (200), DURATION_SECS (60), DEADLINE_SECS (30), EXPECT_DENY (1; 0 in observe mode).
set -euo pipefail

OFF=${GHOSTLINK_PORT_OFFSET:-0}
REDIRECT_URL=${REDIRECT_URL:-http://127.0.0.1:$((8080 + OFF))}
SHORTENER_URL=${SHORTENER_URL:-http://127.0.0.1:$((8081 + OFF))}
PROBE_OPS_URL=${PROBE_OPS_URL:-http://127.0.0.1:$((9105 + OFF))}
REQUESTS=${REQUESTS:-200}
DURATION_SECS=${DURATION_SECS:-60}
DEADLINE_SECS=${DEADLINE_SECS:-30}
EXPECT_DENY=${EXPECT_DENY:-1}
: "${ADMIN_TOKEN:?set ADMIN_TOKEN to an admin token (ghostctl up prints one on first run)}"
for tool in curl jq awk; do
  command -v "$tool" >/dev/null || { echo "probe-storm: needs $tool" >&2; exit 2; }
done

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
findings() {
  curl -fsS --max-time 5 -H "Authorization: Bearer $ADMIN_TOKEN" \
    "$SHORTENER_URL/api/v1/findings?kind=enumeration&limit=500"
}

curl -fsS --max-time 5 -o /dev/null "$PROBE_OPS_URL/healthz" ||
  { echo "probe-storm: ghost-probe not answering at $PROBE_OPS_URL/healthz" >&2; exit 2; }
# Findings that exist already are not ours.
before=$(findings | jq '[.[].id] | max // 0') ||
  { echo "probe-storm: cannot list findings at $SHORTENER_URL (admin token?)" >&2; exit 2; }

ALPHABET=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789
UA="probe-storm/$RANDOM$RANDOM (scanner)"
pause=$(awk -v d="$DURATION_SECS" -v n="$REQUESTS" 'BEGIN { printf "%.3f", d / n }')
echo "probe-storm: $REQUESTS random-code GETs over ${DURATION_SECS}s to $REDIRECT_URL as '$UA'"

start=$(now)
first_429="" first_429_req="" found="" found_desc=""
declare -A statuses=()
for ((i = 1; i <= REQUESTS; i++)); do
  t0=$(now)
  code=""
  for ((j = 0; j < 7; j++)); do code+=${ALPHABET:RANDOM % 62:1}; done
  s=$(curl -s -o /dev/null --max-time 5 -A "$UA" -w '%{http_code}' "$REDIRECT_URL/$code" || echo 000)
  statuses[$s]=$((${statuses[$s]:-0} + 1))
  if [ "$s" = 429 ] && [ -z "$first_429" ]; then
    first_429=$(since "$start") first_429_req=$i
    echo "  first 429 at +${first_429}s (request $i)"
  fi
  if [ -z "$found" ] && ((i % 3 == 0)); then
    row=$(findings | jq -c --argjson b "$before" '[.[] | select(.id > $b)] | first // empty' || true)
    if [ -n "$row" ]; then
      found=$(since "$start")
      found_desc=$(jq -r '"id \(.id), client \(.client), count \(.count), action \(.action)"' <<<"$row")
      echo "  finding at +${found}s (request $i): $found_desc"
    fi
  fi
  # Pace: one request every DURATION_SECS / REQUESTS seconds.
  rest=$(awk -v p="$pause" -v a="$t0" -v b="$(now)" 'BEGIN { r = p - (b - a); printf "%.3f", (r > 0 ? r : 0) }')
  sleep "$rest"
done
total=$(since "$start")

echo "probe-storm: done in ${total}s; answers:$(for k in "${!statuses[@]}"; do printf ' %s=%s' "$k" "${statuses[$k]}"; done)"
if [ -n "$first_429" ]; then
  echo "  first 429:     +${first_429}s (request $first_429_req)"
else
  echo "  first 429:     none"
fi
if [ -n "$found" ]; then echo "  finding shown: +${found}s ($found_desc)"; else echo "  finding shown: none"; fi
rc=0
if [ -z "$found" ] || awk -v f="$found" -v d="$DEADLINE_SECS" 'BEGIN { exit !(f > d) }'; then
  echo "FAIL: not flagged within ${DEADLINE_SECS}s" >&2
  rc=1
fi
if [ "$EXPECT_DENY" = 1 ] && { [ -z "$first_429" ] || awk -v f="$first_429" -v d="$DEADLINE_SECS" 'BEGIN { exit !(f > d) }'; }; then
  echo "FAIL: no 429 within ${DEADLINE_SECS}s (is the ghost-probe in PROBE_MODE=enforce?)" >&2
  rc=1
fi
[ "$rc" = 0 ] && echo "PASS: flagged within ${DEADLINE_SECS}s$([ "$EXPECT_DENY" = 1 ] && echo ' and denied')"
exit "$rc"
