//! `ghostlink-console`: parses the config (exit 2 naming a bad setting) and runs
//! [`ghostlink_console::App`] until SIGTERM.

use ghostlink_console::{App, Config};

fn main() -> anyhow::Result<()> {
    let config: Config = ghostlink_config::parse_or_exit();
    let runtime = ghostlink_web::runtime(4)?;
    ghostlink_web::run_until_signal(&runtime, config, App::build, App::run)
}
