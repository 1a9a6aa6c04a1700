//! `ghostlink-redirect`: parses the config and runs [`ghostlink_redirect::App`] until SIGTERM.

use clap::Parser;
use ghostlink_redirect::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if let Err(e) = config.resolve() {
        ghostlink_config::exit_on_invalid(&e);
    }
    let app = match App::build(config) {
        Ok(app) => app,
        Err(e) => match e.downcast_ref::<ghostlink_config::ConfigError>() {
            Some(c) => ghostlink_config::exit_on_invalid(c),
            None => return Err(e),
        },
    };
    app.run(ghostlink_web::shutdown_signal()).await
}
