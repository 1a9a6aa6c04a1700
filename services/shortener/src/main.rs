//! `ghostlink-shortener`: parses the config and runs [`ghostlink_shortener::App`] until SIGTERM.

use ghostlink_shortener::App;

fn main() -> anyhow::Result<()> {
    ghostlink_web::serve(App::build, App::run)
}
