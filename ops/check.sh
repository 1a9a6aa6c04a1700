#!/usr/bin/env bash
# Validate every GhostLink ops file with the real tools:
#   promtool (config, rules, rule unit tests), amtool (rendered Alertmanager config and its
#   routing), docker-compose (compose file), nginx -t (compose config and the local template),
#   and ops/check_refs.py (dashboards vs docs/metrics.md, runbook anchors, test coverage).
#
#   bash ops/check.sh            # from any directory
#
# Installs missing tools with apt-get (Debian/Ubuntu; sudo when not root). Prints one line per
# check and exits non-zero if any check fails. Needs no Docker engine and no network beyond apt.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ghostlink-ops-check.XXXXXX")
policy_rc_d_created=""
cleanup() {
  rm -rf "$WORK"
  if [ -n "$policy_rc_d_created" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT

# ------------------------------------------------------------------------------- tools
export PATH="$PATH:/usr/sbin:/sbin"

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
COMPOSE=()
if command -v docker-compose >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
elif command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  missing+=(docker-compose)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  # Keep Debian's packages from starting their daemons (prometheus, alertmanager, nginx) here.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    policy_rc_d_created=1
  fi
  apt_env=(env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1)
  if ! { $SUDO "${apt_env[@]}" apt-get update -qq &&
         $SUDO "${apt_env[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
       >"$WORK/apt.log" 2>&1; then
    cat "$WORK/apt.log"
    echo "FAIL  installing ${missing[*]} with apt-get"
    exit 1
  fi
  if [ "${#COMPOSE[@]}" -eq 0 ]; then COMPOSE=(docker-compose); fi
fi

# ------------------------------------------------------------------------------- runner
passed=0
failed=0
failed_names=()

# check NAME COMMAND...: runs COMMAND, prints PASS/FAIL and, on failure, its output.
check() {
  local name=$1; shift
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" -eq 0 ]; then
    printf 'PASS  %s\n' "$name"
    passed=$((passed + 1))
  else
    printf 'FAIL  %s (exit %s)\n' "$name" "$rc"
    printf '%s\n' "$out" | sed 's/^/      | /'
    failed=$((failed + 1))
    failed_names+=("$name")
  fi
}

# Multi-step checks run in a child bash with errexit, so any failing step fails the check.
# (errexit ignores `! cmd`: such steps end in `|| exit 1`.)
step() { bash -euo pipefail -c "$1"; }

export ROOT WORK

# ------------------------------------------------------------------------------- prometheus
check "promtool check config ops/prometheus/prometheus.yml" \
  promtool check config ops/prometheus/prometheus.yml
check "promtool check rules ops/prometheus/rules/*.yml" \
  promtool check rules ops/prometheus/rules/*.yml
check "promtool test rules ops/prometheus/tests/*.yml" \
  promtool test rules ops/prometheus/tests/*.yml
check "every alert has a firing and a silent unit test" \
  python3 ops/check_refs.py tests

# ------------------------------------------------------------------------------- alertmanager
check "amtool check-config (alertmanager.yml.tmpl rendered with a dummy webhook)" step '
  DISCORD_WEBHOOK_URL="https://discord.com/api/webhooks/000000000000000000/dummy-token-for-check" \
    sh ops/alertmanager/render.sh ops/alertmanager/alertmanager.yml.tmpl "$WORK/alertmanager.yml"
  ! grep -q "__DISCORD_WEBHOOK_URL__" "$WORK/alertmanager.yml" || exit 1
  amtool check-config "$WORK/alertmanager.yml"'
check "amtool routes: severity=page -> discord-page, severity=ticket -> discord-ticket" step '
  test "$(amtool config routes test --config.file="$WORK/alertmanager.yml" severity=page alertname=GhostlinkServiceDown service=redirect 2>/dev/null)" = discord-page
  test "$(amtool config routes test --config.file="$WORK/alertmanager.yml" severity=ticket alertname=ProcessCPUHigh service=redirect 2>/dev/null)" = discord-ticket'
check "no webhook URL committed (only the placeholder in the template)" step '
  ! grep -rInE "discord(app)?\.com/api/webhooks/[0-9]" ops compose RUNBOOK.md .github 2>/dev/null | grep -v "ops/check.sh"'

# ------------------------------------------------------------------------------- compose
check "${COMPOSE[*]} -f compose/docker-compose.yml config -q" \
  "${COMPOSE[@]}" -f compose/docker-compose.yml config -q

# ------------------------------------------------------------------------------- nginx
# The compose config names Docker hosts (redirect-1/2) that do not resolve here, and writes to
# /tmp: test a copy with those pointed at 127.0.0.1 and at a private temp dir.
check "nginx -t ops/nginx/nginx.conf (compose; hosts mapped to 127.0.0.1)" step '
  mkdir -p "$WORK/nginx-compose"
  sed -e "s/redirect-1:8080/127.0.0.1:18081/; s/redirect-2:8080/127.0.0.1:18082/" \
      -e "s#/tmp/#$WORK/nginx-compose/#g" \
      -e "s#listen 80 default_server#listen 127.0.0.1:18080 default_server#" \
      ops/nginx/nginx.conf > "$WORK/nginx-compose/nginx.conf"
  nginx -t -q -p "$WORK/nginx-compose" -e "$WORK/nginx-compose/error.log" -c "$WORK/nginx-compose/nginx.conf"'
check "nginx -t ops/nginx/nginx.local.conf.tmpl (rendered into a temp dir)" step '
  d="$WORK/nginx-local"; mkdir -p "$d"
  sed -e "s/__LISTEN_PORT__/18180/g; s/__UPSTREAM_PORT_1__/18181/g; s/__UPSTREAM_PORT_2__/18182/g" \
      -e "s#__TMP_DIR__#$d#g" ops/nginx/nginx.local.conf.tmpl > "$d/nginx.conf"
  ! grep -n "__[A-Z0-9_]*__" "$d/nginx.conf" || exit 1
  nginx -t -q -p "$d" -e "$d/error.log" -c "$d/nginx.conf"'

# ------------------------------------------------------------------------------- grafana
check "dashboards: JSON, datasource, metric names in docs/metrics.md" \
  python3 ops/check_refs.py dashboards --promql-out "$WORK/dashboard-queries.yml"
check "dashboards: every query is valid PromQL (promtool)" \
  promtool check rules "$WORK/dashboard-queries.yml"

# ------------------------------------------------------------------------------- runbook
check "alerts: severity/summary/description, runbook_url anchors exist in RUNBOOK.md" \
  python3 ops/check_refs.py runbook

# ------------------------------------------------------------------------------- summary
echo "ops checks: $passed passed, $failed failed"
if [ "$failed" -gt 0 ]; then
  printf 'failed: %s\n' "${failed_names[@]}"
  exit 1
fi
