//! `ghostlink-redirect`: parses the config and runs [`ghostlink_redirect::App`] until SIGTERM.

use anyhow::Context;
use clap::Parser;
use ghostlink_redirect::{App, Config};

/// mimalloc instead of glibc's allocator: a click's event is allocated on an HTTP worker and
/// freed on the publisher's thread, which glibc handles poorly (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
