//! `ghostlink-shortener`: parses the config and runs [`ghostlink_shortener::App`] until SIGTERM.

use anyhow::Context;
use clap::Parser;
use ghostlink_shortener::{App, Config};

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if let Err(e) = config.resolve() {
        ghostlink_config::exit_on_invalid(&e);
    }
    let runtime = ghostlink_web::runtime(config.database.db_pool_size)?;
    runtime.block_on(async {
        // Before the listeners bind: SIGTERM must find its handler once "listening" is said.
        let stop = ghostlink_web::shutdown_signal().context("installing the signal handlers")?;
        let app = ghostlink_web::deps::exit_on_config_error(App::build(config))?;
        app.run(stop).await
    })
}
