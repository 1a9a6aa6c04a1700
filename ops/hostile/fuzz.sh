#!/usr/bin/env bash
# Fuzzes GhostLink's parsers of hostile input with cargo-fuzz (libFuzzer), each target for a
# bounded time, on the stable toolchain (fuzz/README.md explains the flags).
#
#   bash ops/hostile/fuzz.sh [SECS]     # SECS per target, default 30
#
# Targets: url_normalize (normalize_url + safe_location invariants), event_decode
# (Event::decode / decode_lines). Each run starts from the committed seeds in
# fuzz/corpus/<target>/ (read only here; new units go to a temporary corpus) with the target's
# dictionary. Prints executions/s and total runs per target; exits non-zero on any crash, leak,
# timeout or panic, leaving the input in fuzz/artifacts/<target>/ -- commit it to
# fuzz/corpus/<target>/ as a regression seed once the bug is fixed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SECS=${1:-30}
TARGETS=(url_normalize event_decode)
case "$SECS" in '' | *[!0-9]*) echo "usage: $0 [SECS]" >&2; exit 2 ;; esac

T0=$(date +%s)
log() { printf '[%4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked >/dev/null 2>&1 || { log "FAIL: cargo install cargo-fuzz"; exit 1; }
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ghostlink-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT/fuzz"

# --sanitizer none: the fuzzed code is safe Rust (unsafe_code is forbidden), so ASan adds nothing
# but a 2-3x slowdown; and it is the mode that builds on the stable toolchain.
log "building ${TARGETS[*]} ($(cargo fuzz --version))"
cargo fuzz build --sanitizer none >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log"; log "FAIL: build"; exit 1; }

failed=()
printf '\n%-16s %8s %14s %12s %10s %s\n' TARGET SECONDS RUNS EXEC/S NEW_UNITS RESULT >"$WORK/summary"
for t in "${TARGETS[@]}"; do
  mkdir -p "$WORK/corpus-$t" "$ROOT/fuzz/artifacts/$t"
  before=$(find "$ROOT/fuzz/artifacts/$t" -type f | wc -l)
  dict=()
  case "$t" in
    url_normalize) dict=(-dict="$ROOT/fuzz/url.dict") ;;
    event_decode) dict=(-dict="$ROOT/fuzz/event.dict") ;;
  esac
  log "fuzzing $t for ${SECS}s"
  rc=0
  cargo fuzz run --sanitizer none "$t" "$WORK/corpus-$t" "$ROOT/fuzz/corpus/$t" -- \
    -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    "${dict[@]}" >"$WORK/$t.log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$t.log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$WORK/$t.log" | tail -1)
  new=$(sed -n 's/^stat::new_units_added: *//p' "$WORK/$t.log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$WORK/$t.log" | tail -1)
  after=$(find "$ROOT/fuzz/artifacts/$t" -type f | wc -l)
  result=ok
  if [ "$rc" != 0 ] || [ "$after" -gt "$before" ] || ! grep -q '^Done [0-9]* runs' "$WORK/$t.log"; then
    result="FAILED (exit $rc)"
    failed+=("$t")
    echo "---- $t: last lines of libFuzzer's output ----"
    grep -v '^"' "$WORK/$t.log" | tail -n 40
    echo "---- new artifacts in fuzz/artifacts/$t/ ----"
    find "$ROOT/fuzz/artifacts/$t" -type f -newer "$WORK/corpus-$t" -print
  fi
  printf '%-16s %8s %14s %12s %10s %s\n' "$t" "${secs:-?}" "${runs:-?}" "${eps:-?}" "${new:-?}" "$result" >>"$WORK/summary"
  log "$t: ${runs:-?} runs, ${eps:-?} exec/s, $result"
done

cat "$WORK/summary"
if [ ${#failed[@]} -gt 0 ]; then
  log "FAIL: ${failed[*]} crashed; reproduce with: cd fuzz && cargo fuzz run --sanitizer none <target> artifacts/<target>/<file>"
  exit 1
fi
log "ok: no crash in ${#TARGETS[@]} targets"
