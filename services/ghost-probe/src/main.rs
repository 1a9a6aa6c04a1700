//! `ghostlink-ghost-probe`: parses the config and runs the detector until SIGTERM.

use clap::Parser;
use ghostlink_ghost_probe::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if let Err(e) = config.resolve() {
        ghostlink_config::exit_on_invalid(&e);
    }
    App::build(config)?.run(ghostlink_web::shutdown_signal()).await
}
