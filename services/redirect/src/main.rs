//! `ghostlink-redirect`: parses the config and runs [`ghostlink_redirect::App`] until SIGTERM.

use ghostlink_redirect::App;

/// mimalloc instead of glibc's allocator: a click's event is allocated on an HTTP worker and
/// freed on the publisher's thread, which glibc handles poorly (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    ghostlink_web::serve(App::build, App::run)
}
