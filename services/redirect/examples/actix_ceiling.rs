//! The framework's ceiling on this machine: actix-web answering `GET /{code}` with a fixed
//! `302`, no lookup, no metrics, no click event. `ops/bench/all.sh` measures it beside nginx and
//! the redirect service so the gap between the service and nginx can be split into what actix
//! itself costs and what the service's own work costs.
//!
//!     cargo run --release -p ghostlink-redirect --example actix_ceiling -- 127.0.0.1:18288

use actix_web::{web, HttpResponse};

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18288".to_owned());
    actix_web::rt::System::new().block_on(async move {
        actix_web::HttpServer::new(|| {
            actix_web::App::new().service(web::resource("/{code}").route(web::get().to(
                |path: web::Path<String>| async move {
                    HttpResponse::Found()
                        .insert_header((
                            "location",
                            format!("https://example.com/page/{}", path.into_inner()),
                        ))
                        .finish()
                },
            )))
        })
        .backlog(2048)
        .bind(&addr)?
        .run()
        .await
    })
}
