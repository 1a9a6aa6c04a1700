#!/usr/bin/env bash
# Checks the dependency invariants of docs/architecture.md with `cargo tree`.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
members=$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print("\n".join(p["name"] for p in json.load(sys.stdin)["packages"]))')
services="ghostlink-redirect ghostlink-shortener ghostctl ghostlink-canary ghostlink-risk-scorer ghostlink-ghost-probe ghostlink-click-recorder"

# direct dependencies of a package, by kind (normal | normal,dev ...)
deps() { cargo tree -p "$1" -e "$2" --depth 1 --prefix none --format '{p}' 2>/dev/null | tail -n +2 | awk '{print $1}' | sort -u; }
bad() { echo "INVARIANT BROKEN: $*"; fail=1; }

# 1. The domain crate has no I/O: nothing async, no database, cache, broker or HTTP, at any depth.
for forbidden in tokio diesel actix-web deadpool-redis redis lapin reqwest; do
  if cargo tree -p ghostlink-domain -e normal --prefix none --format '{p}' | awk '{print $1}' | grep -qx "$forbidden"; then
    bad "ghostlink-domain depends on $forbidden"
  fi
done
for m in $members; do
  direct=$(deps "$m" normal)
  # 2. Only the db crate knows diesel.
  if [ "$m" != ghostlink-db ] && [ "$m" != ghostlink-test-support ] && echo "$direct" | grep -qE '^diesel(_migrations)?$'; then
    bad "$m depends on diesel directly"
  fi
  # 3. Only the bus crate knows lapin.
  if [ "$m" != ghostlink-bus ] && echo "$direct" | grep -qx lapin; then bad "$m depends on lapin directly"; fi
  # 4. Test support is a dev-dependency only.
  if echo "$direct" | grep -qx ghostlink-test-support; then bad "$m has ghostlink-test-support as a normal dependency"; fi
  # 5. Services never depend on each other (not even for tests).
  all=$(deps "$m" normal,dev,build)
  for s in $services; do
    [ "$s" = "$m" ] && continue
    if echo "$all" | grep -qx "$s"; then bad "$m depends on service $s"; fi
  done
done
# test-support itself may use diesel, but only the dev side may use test-support.
[ $fail -eq 0 ] && echo "invariants hold for: $(echo $members | tr '\n' ' ')"
exit $fail
