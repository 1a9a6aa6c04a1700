//! The route tables of the two listeners: the public API under `/api/v1` and the internal admin
//! API under `/admin/v1`. Both authenticate every route but their OpenAPI document before
//! anything else is read; a resource answers 405 with `Allow` for a method it does not serve.

use actix_web::{middleware, web, HttpResponse};
use ghostlink_web::ApiError;

use crate::{
    accounts, admin, analytics, api, auth, domains, findings, health, live, qr, transfer, webhooks, workspace,
};

/// A route for reads: GET, and HEAD (the same answer without its body; actix drops the body).
fn read() -> actix_web::Route {
    web::route().guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
}

/// A resource whose other methods answer 405 naming `allow`.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |r| method_not_allowed(r, allow)))
}

/// 405 in the JSON error shape, with the `Allow` header naming the resource's methods.
async fn method_not_allowed(req: actix_web::HttpRequest, allow: &'static str) -> HttpResponse {
    use actix_web::ResponseError;
    let mut resp = ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.path()),
    )
    .error_response();
    resp.headers_mut()
        .insert(actix_web::http::header::ALLOW, actix_web::http::header::HeaderValue::from_static(allow));
    resp
}

/// The public API.
pub(crate) fn public(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/openapi.json")
            .route(read().to(crate::openapi))
            .default_service(web::to(ghostlink_web::not_found)),
    )
    // Unauthenticated: what a caller without a credential does to get one.
    .service(resource("/api/v1/auth/sign-in", "POST").route(web::post().to(accounts::sign_in)))
    .service(
        resource("/api/v1/auth/accept-invitation", "POST").route(web::post().to(accounts::accept_invitation)),
    )
    .service(resource("/api/v1/auth/reset-password", "POST").route(web::post().to(accounts::reset_password)))
    .service(
        web::scope("/api/v1")
            .wrap(middleware::from_fn(auth::authenticate))
            .service(resource("/auth/sign-out", "POST").route(web::post().to(accounts::sign_out)))
            .service(
                resource("/auth/sign-out-everywhere", "POST")
                    .route(web::post().to(accounts::sign_out_everywhere)),
            )
            .service(resource("/invitations", "POST").route(web::post().to(accounts::invite)))
            .service(
                resource("/links", "GET, HEAD, POST")
                    .route(web::post().to(api::create))
                    .route(read().to(api::list)),
            )
            .service(resource("/links/{code}/health", "GET, HEAD").route(read().to(health::health)))
            .service(resource("/links/{code}/qr", "GET, HEAD").route(read().to(qr::qr)))
            .service(resource("/links/{code}/risk", "GET, HEAD").route(read().to(api::risk)))
            .service(resource("/links/{code}/revisions", "GET, HEAD").route(read().to(api::revisions)))
            .service(resource("/links/{code}/stats", "GET, HEAD").route(read().to(analytics::link_stats)))
            .service(resource("/links/{code}/clicks", "GET, HEAD").route(read().to(analytics::clicks_csv)))
            .service(resource("/workspace/stats", "GET, HEAD").route(read().to(analytics::workspace_stats)))
            .service(
                resource("/domains/{host}/orphan-visits", "GET, HEAD")
                    .route(read().to(analytics::domain_orphans)),
            )
            // Live clicks (server-sent events; GET only: a HEAD would hold a stream open).
            .service(resource("/links/{code}/clicks/live", "GET").route(web::get().to(live::link)))
            .service(resource("/workspace/clicks/live", "GET").route(web::get().to(live::workspace)))
            .service(
                resource("/links/{code}", "GET, HEAD, PATCH, DELETE")
                    .route(read().to(api::get))
                    .route(web::patch().to(api::update))
                    .route(web::delete().to(api::delete)),
            )
            .service(
                resource("/domains", "GET, HEAD, POST")
                    .route(read().to(domains::list))
                    .route(web::post().to(domains::add)),
            )
            .service(
                resource("/domains/{host}", "PATCH, DELETE")
                    .route(web::patch().to(domains::update))
                    .route(web::delete().to(domains::remove)),
            )
            // Webhooks.
            .service(
                resource("/webhooks", "GET, HEAD, POST")
                    .route(read().to(webhooks::list))
                    .route(web::post().to(webhooks::create)),
            )
            .service(
                resource("/webhooks/{id}", "GET, HEAD, PATCH, DELETE")
                    .route(read().to(webhooks::get))
                    .route(web::patch().to(webhooks::update))
                    .route(web::delete().to(webhooks::delete)),
            )
            .service(
                resource("/webhooks/{id}/deliveries", "GET, HEAD").route(read().to(webhooks::deliveries)),
            )
            .service(resource("/webhooks/{id}/test", "POST").route(web::post().to(webhooks::test)))
            .service(resource("/export", "GET, HEAD").route(read().to(transfer::export)))
            .service(resource("/import", "POST").route(web::post().to(transfer::import)))
            .service(resource("/workspace", "GET, HEAD").route(read().to(workspace::show)))
            .service(
                resource("/members", "GET, HEAD, POST")
                    .route(read().to(workspace::members))
                    .route(web::post().to(workspace::add_member)),
            )
            .service(
                resource("/members/{id}", "PATCH, DELETE")
                    .route(web::patch().to(workspace::change_member))
                    .route(web::delete().to(workspace::remove_member)),
            )
            .service(
                resource("/keys", "GET, HEAD, POST")
                    .route(read().to(workspace::keys))
                    .route(web::post().to(workspace::create_key)),
            )
            .service(resource("/keys/{id}", "DELETE").route(web::delete().to(workspace::revoke_key)))
            .service(resource("/tags", "GET, HEAD").route(read().to(workspace::tags)))
            .service(
                resource("/tags/{name}", "PATCH, DELETE")
                    .route(web::patch().to(workspace::rename_tag))
                    .route(web::delete().to(workspace::delete_tag)),
            ),
    );
}

/// The internal admin API.
pub(crate) fn admin(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/v1/openapi.json")
            .route(read().to(admin::openapi))
            .default_service(web::to(ghostlink_web::not_found)),
    )
    .service(
        web::scope("/admin/v1")
            .wrap(middleware::from_fn(auth::authenticate))
            .service(resource("/findings", "GET, HEAD").route(read().to(findings::list)))
            .service(resource("/orphan-visits", "GET, HEAD").route(read().to(analytics::admin_orphans)))
            .service(
                resource("/workspaces", "GET, HEAD, POST")
                    .route(read().to(admin::workspaces))
                    .route(web::post().to(admin::create_workspace)),
            )
            .service(
                resource("/links/{code}", "PATCH, DELETE")
                    .route(web::patch().to(admin::update_link))
                    .route(web::delete().to(admin::delete_link)),
            ),
    );
}
