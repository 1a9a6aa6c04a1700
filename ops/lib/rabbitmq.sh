# Shared by the scripts under ops/ (sourced): RabbitMQ housekeeping for throw-away bus prefixes.
# shellcheck shell=bash

# delete_queues_under PREFIX: deletes every queue named PREFIX.* (work queues, dead-letter
# queues, the stream) — whatever consumers the topology declares today. rabbitmqctl reads
# stdin, so it gets /dev/null inside the loop (else it eats the rest of the list).
delete_queues_under() {
  command -v rabbitmqctl >/dev/null 2>&1 || return 0
  timeout 10 rabbitmqctl -q list_queues name </dev/null 2>/dev/null | grep -F "$1." | while read -r q; do
    case "$q" in "$1".*) timeout 5 rabbitmqctl -q delete_queue "$q" </dev/null >/dev/null 2>&1 || true ;; esac
  done
}

# delete_stale_test_queues: deletes the queues of test runs that ended without their cleanup
# (a panicked test, a killed run). Test prefixes are `gltest-<uuid>` (ghostlink-test-support);
# hundreds of leftover quorum queues are as many Raft members the broker keeps ticking, and a
# broker carrying them was slow enough to time out a test's connect. Run before the tests,
# never while they run: a live test's queues look the same.
delete_stale_test_queues() {
  command -v rabbitmqctl >/dev/null 2>&1 || return 0
  local queues
  queues=$(timeout 30 rabbitmqctl -q list_queues name </dev/null 2>/dev/null | grep -E '^gltest-[0-9a-f]{32}\.' || true)
  for q in $queues; do
    timeout 5 rabbitmqctl -q delete_queue "$q" </dev/null >/dev/null 2>&1 || true
  done
}
