//! `ghostlink-risk-scorer`: the risk scorer on the consumer runtime, until SIGTERM.

fn main() {
    ghostlink_runtime::main::<ghostlink_risk_scorer::Scorer>()
}
