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
