//! `ghostlink-click-recorder`: the recorder on the consumer runtime, until SIGTERM.

fn main() {
    ghostlink_runtime::main::<ghostlink_click_recorder::Recorder>()
}
