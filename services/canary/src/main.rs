//! `ghostlink-canary`: the canary on the consumer runtime, until SIGTERM.

fn main() {
    ghostlink_runtime::main::<ghostlink_canary::Canary>()
}
