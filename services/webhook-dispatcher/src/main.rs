//! `ghostlink-webhook-dispatcher`: the webhook dispatcher on the consumer runtime, until SIGTERM.

fn main() {
    ghostlink_runtime::main::<ghostlink_webhook_dispatcher::Dispatcher>()
}
