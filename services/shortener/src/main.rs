//! `ghostlink-shortener`: parses the config and runs [`ghostlink_shortener::App`] until SIGTERM.

use clap::Parser;
use ghostlink_shortener::{App, Config};

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if let Err(e) = config.resolve() {
        ghostlink_config::exit_on_invalid(&e);
    }
    let runtime = ghostlink_web::runtime(config.database.db_pool_size)?;
    runtime.block_on(async {
        let app = ghostlink_web::deps::exit_on_config_error(App::build(config))?;
        app.run(ghostlink_web::shutdown_signal()).await
    })
}
