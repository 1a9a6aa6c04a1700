//! `ghostlink-ghost-probe`: the ghost-probe on the consumer runtime, until SIGTERM.

fn main() {
    ghostlink_runtime::main::<ghostlink_ghost_probe::Probe>()
}
