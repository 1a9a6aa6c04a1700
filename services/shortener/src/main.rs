//! `ghostlink-shortener`: parses the config and runs [`ghostlink_shortener::App`] until SIGTERM.

use clap::Parser;
use ghostlink_shortener::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if let Err(e) = config.resolve() {
        ghostlink_config::exit_on_invalid(&e);
    }
    let app = ghostlink_web::deps::exit_on_config_error(App::build(config))?;
    app.run(ghostlink_web::shutdown_signal()).await
}
