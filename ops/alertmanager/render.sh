#!/bin/sh
# Render alertmanager.yml.tmpl into a real Alertmanager config.
#
#   DISCORD_WEBHOOK_URL=https://discord.com/api/webhooks/... render.sh TEMPLATE OUTPUT
#
# POSIX sh + sed only: it runs inside the busybox-based prom/alertmanager image (compose
# entrypoint) as well as on a workstation or CI runner (ops/check.sh).
# Without DISCORD_WEBHOOK_URL the config points at a black hole and a warning is printed:
# alerts are still visible in the Alertmanager UI (http://127.0.0.1:9093), but nobody is told.
set -eu

template=${1:?usage: render.sh TEMPLATE OUTPUT}
output=${2:?usage: render.sh TEMPLATE OUTPUT}

url=${DISCORD_WEBHOOK_URL:-}
if [ -z "$url" ]; then
  echo "render.sh: WARNING: DISCORD_WEBHOOK_URL is not set; notifications go to a black hole" >&2
  url="http://127.0.0.1:9/discord-webhook-not-configured"
fi
case "$url" in
  http://*|https://*) ;;
  *) echo "render.sh: DISCORD_WEBHOOK_URL must start with http:// or https://" >&2; exit 1 ;;
esac
case "$url" in
  *'"'*|*'\'*|*"
"*) echo "render.sh: DISCORD_WEBHOOK_URL must not contain quotes, backslashes or newlines" >&2; exit 1 ;;
esac

# Escape the characters that are special in a sed replacement: \ & and the delimiter |.
escaped=$(printf '%s' "$url" | sed -e 's/[\\&|]/\\&/g')
umask 077
sed -e "s|__DISCORD_WEBHOOK_URL__|${escaped}|g" "$template" > "$output.tmp"
mv "$output.tmp" "$output"
