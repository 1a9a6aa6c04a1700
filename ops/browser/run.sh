#!/usr/bin/env bash
# The console in a real browser: starts the shortener and the console on free ports over a fresh
# database, makes the first owner with `ghostctl account create-owner` (and sets the password
# with the printed token, as a person would), then runs scenarios.mjs in Debian's Chromium
# through playwright-core. Screenshots land in $OUT (default target/browser/).
#
# Needs: the debug binaries (cargo build -p ghostlink-shortener -p ghostlink-console -p ghostctl),
# /usr/bin/chromium (apt-get install chromium chromium-driver), `npm ci` here.
set -euo pipefail
NAME=browser
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUDGET_DEFAULT=240
source "$ROOT/ops/e2e/lib.sh"
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug
OUT=${OUT:-$ROOT/target/browser}
mkdir -p "$OUT"

[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing: apt-get install chromium chromium-driver"
[ -d "$ROOT/ops/browser/node_modules/playwright-core" ] || (cd "$ROOT/ops/browser" && npm ci --no-audit --no-fund >/dev/null)

psql -q "$PG_HOST/postgres" -c "CREATE DATABASE $DB_NAME" >/dev/null
create_db
API_PORT=$(free_port); API_OPS=$(free_port); CONSOLE_PORT=$(free_port); CONSOLE_OPS=$(free_port)
start_service shortener ghostlink-shortener "$API_PORT" "$API_OPS" redis://127.0.0.1:6379
wait_for 30 "shortener healthy" healthy "$API_OPS"
CONSOLE_API_URL="http://127.0.0.1:$API_PORT" CONSOLE_PUBLIC_URL="http://127.0.0.1:$CONSOLE_PORT" \
  start_service console ghostlink-console "$CONSOLE_PORT" "$CONSOLE_OPS" redis://127.0.0.1:6379
wait_for 30 "console healthy" healthy "$CONSOLE_OPS"
log "shortener :$API_PORT, console :$CONSOLE_PORT"

EMAIL=owner@example.org
PASSWORD="browser-suite-$SUFFIX"
TOKEN=$(DATABASE_URL=$DB_URL "$BIN/ghostctl" account create-owner --name 'Owner <b>"x"</b>' --email "$EMAIL")
curl -sf -X POST "http://127.0.0.1:$API_PORT/api/v1/auth/reset-password" -H 'content-type: application/json' \
  -d "{\"token\":\"$TOKEN\",\"password\":\"$PASSWORD\"}" || fail "setting the owner's password"

# A member of another workspace, who must not see the first one's links.
DATABASE_URL=$DB_URL "$BIN/ghostctl" workspace create --slug other --name Other --owner keyholder >/dev/null
OTHER_TOKEN=$(DATABASE_URL=$DB_URL "$BIN/ghostctl" account create-owner --workspace other --name Stranger --email stranger@example.org)
curl -sf -X POST "http://127.0.0.1:$API_PORT/api/v1/auth/reset-password" -H 'content-type: application/json' \
  -d "{\"token\":\"$OTHER_TOKEN\",\"password\":\"$PASSWORD\"}" || fail "setting the stranger's password"

CONSOLE_URL="http://127.0.0.1:$CONSOLE_PORT" EMAIL=$EMAIL PASSWORD=$PASSWORD OUT=$OUT OTHER_EMAIL=stranger@example.org \
  node "$ROOT/ops/browser/scenarios.mjs"
log "screenshots in $OUT"
