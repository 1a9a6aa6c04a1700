#!/usr/bin/env bash
# Incident simulations against a running GhostLink: a thin wrapper over `ghostctl simulate`
# that fills in where the system listens and how to break its infrastructure, for the two
# ways we run it. `ghostctl simulate` does the work (traffic, fault, restore, checks) and
# prints what it did, what should happen (fallbacks, alerts) and what it observed; exit 0
# when every check passed.
#
#   bash ops/simulate/run.sh <scenario> [ghostctl simulate flags]            # `ghostctl up` on this machine
#   bash ops/simulate/run.sh --compose <scenario> [flags]                     # compose/docker-compose.yml
#
# Scenarios: db-outage redis-outage broker-outage dead-destinations probe-storm error-spike
# slow-db replica-down (`ghostctl simulate --help`). Examples:
#   bash ops/simulate/run.sh error-spike --fault-secs 30
#   PROBE_MODE=enforce target/release/ghostctl up   # then:  bash ops/simulate/run.sh probe-storm
#   bash ops/simulate/run.sh --compose replica-down --prometheus-url http://127.0.0.1:9090
#
# Local (`ghostctl up`): URLs follow GHOSTLINK_PORT_OFFSET; DATABASE_URL must be the one `up`
# used (default postgres://postgres@127.0.0.1:5432/ghostlink); Postgres, Redis and RabbitMQ are
# stopped and started with this machine's commands (ghostctl's defaults). replica-down needs two
# replicas behind nginx, i.e. compose (or your own --stop-cmd/--start-cmd).
# Compose: faults are `docker compose stop/start <service>` (replica-down: kill redirect-1).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GHOSTCTL=${GHOSTCTL:-}
if [ -z "$GHOSTCTL" ]; then
  for c in "$ROOT/target/release/ghostctl" "$ROOT/target/debug/ghostctl"; do
    [ -x "$c" ] && { GHOSTCTL=$c; break; }
  done
fi
[ -n "$GHOSTCTL" ] || { echo "run.sh: no ghostctl built (cargo build --release)" >&2; exit 2; }

compose=""
if [ "${1:-}" = "--compose" ]; then compose=1; shift; fi
scenario=${1:-}
[ -n "$scenario" ] || { echo "usage: $0 [--compose] <scenario> [flags]" >&2; exit 2; }
shift

if [ -n "$compose" ]; then
  DC="docker compose -f $ROOT/compose/docker-compose.yml"
  export DATABASE_URL=${DATABASE_URL:-postgres://ghostlink:${POSTGRES_PASSWORD:-ghostlink}@127.0.0.1:5432/ghostlink}
  export GHOSTLINK_REDIRECT_URL=${GHOSTLINK_REDIRECT_URL:-http://127.0.0.1:8080}
  export GHOSTLINK_SHORTENER_URL=${GHOSTLINK_SHORTENER_URL:-http://127.0.0.1:8081}
  export GHOSTLINK_REDIRECT_OPS_URL=${GHOSTLINK_REDIRECT_OPS_URL:-http://127.0.0.1:9101}
  export PROMETHEUS_URL=${PROMETHEUS_URL:-http://127.0.0.1:9090}
  case $scenario in
    db-outage) svc=postgres ;;
    redis-outage) svc=redis ;;
    broker-outage) svc=rabbitmq ;;
    replica-down) svc=redirect-1 ;;
    *) svc="" ;;
  esac
  if [ -n "$svc" ]; then
    stop=stop; [ "$scenario" = replica-down ] && stop=kill
    export SIMULATE_STOP_CMD=${SIMULATE_STOP_CMD:-$DC $stop $svc}
    export SIMULATE_START_CMD=${SIMULATE_START_CMD:-$DC start $svc}
  fi
else
  off=${GHOSTLINK_PORT_OFFSET:-0}
  export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ghostlink}
  export GHOSTLINK_REDIRECT_URL=${GHOSTLINK_REDIRECT_URL:-http://127.0.0.1:$((8080 + off))}
  export GHOSTLINK_SHORTENER_URL=${GHOSTLINK_SHORTENER_URL:-http://127.0.0.1:$((8081 + off))}
  export GHOSTLINK_REDIRECT_OPS_URL=${GHOSTLINK_REDIRECT_OPS_URL:-http://127.0.0.1:$((9101 + off))}
fi
exec "$GHOSTCTL" simulate "$scenario" "$@"
