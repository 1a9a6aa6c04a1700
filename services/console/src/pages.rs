//! The pages: sign in, sign out, the dashboard. Every form carries the CSRF token
//! ([`crate::csrf`]); every value is escaped by the templates (askama, checked at build time).

use actix_web::http::header::LOCATION;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::ApiFailure;
use crate::csrf;
use crate::{Console, SESSION_COOKIE};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    csrf: String,
    current: &'static str,
    member: String,
    workspace: String,
    total: i64,
    chart: String,
    top: Vec<(String, i64)>,
}

fn html(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body)
}

fn render(t: &impl Template) -> HttpResponse {
    match t.render() {
        Ok(body) => html(actix_web::http::StatusCode::OK, body),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// Renders `t` with `status`, setting `cookie` (a new CSRF cookie) when given.
pub(crate) fn render_with_cookie(
    t: &impl Template,
    cookie: Option<actix_web::cookie::Cookie<'static>>,
    status: actix_web::http::StatusCode,
) -> HttpResponse {
    let mut resp = match t.render() {
        Ok(body) => html(status, body),
        Err(_) => return HttpResponse::InternalServerError().finish(),
    };
    if let Some(c) = cookie {
        let _ = resp.add_cookie(&c);
    }
    resp
}

/// Who is signed in, as every page's header shows it.
pub(crate) struct Frame {
    pub session: String,
    pub member: String,
    pub workspace: String,
}

/// The signed-in person, or the answer to give instead (to sign-in when there is no live
/// session; 502 when the API is unreachable).
pub(crate) async fn signed_in(req: &HttpRequest, console: &Console) -> Result<Frame, HttpResponse> {
    let Some(session) = session_of(req) else { return Err(see_other("/sign-in")) };
    let ws: Result<Value, _> = console.api.call(Method::GET, "/api/v1/workspace", Some(&session), None).await;
    match ws {
        Ok(ws) => Ok(Frame {
            session,
            member: ws["member"]["name"].as_str().unwrap_or("").to_string(),
            workspace: ws["name"].as_str().unwrap_or("").to_string(),
        }),
        Err(ApiFailure::Refused { status: 401, .. }) => Err(see_other("/sign-in")),
        Err(_) => Err(HttpResponse::BadGateway().finish()),
    }
}

pub(crate) fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((LOCATION, to)).finish()
}

fn session_of(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty())
}

/// GET /sign-in
pub async fn sign_in_form(req: HttpRequest, console: web::Data<Console>) -> HttpResponse {
    let (token, cookie) = csrf::token_for(&req, console.secure_cookies);
    let mut resp = render(&SignInPage { csrf: &token, email: "", error: None });
    if let Some(c) = cookie {
        let _ = resp.add_cookie(&c);
    }
    resp
}

#[derive(Deserialize)]
pub struct SignInForm {
    csrf: String,
    email: String,
    password: String,
}

/// POST /sign-in: a new session from the API (a new token at every sign-in) in the cookie.
pub async fn sign_in(
    req: HttpRequest,
    form: web::Form<SignInForm>,
    console: web::Data<Console>,
) -> HttpResponse {
    let form = form.into_inner();
    if !csrf::valid(&req, &form.csrf) {
        return csrf::refused();
    }
    let body = json!({"email": form.email, "password": form.password});
    let answer: Result<Value, ApiFailure> =
        console.api.call(Method::POST, "/api/v1/auth/sign-in", None, Some(&body)).await;
    match answer {
        Ok(session) => {
            let Some(token) = session["token"].as_str() else { return HttpResponse::BadGateway().finish() };
            let mut resp = see_other("/");
            let _ = resp.add_cookie(&crate::cookie(SESSION_COOKIE, token, console.secure_cookies));
            resp
        }
        Err(e) => {
            let (status, message) = match e {
                ApiFailure::Refused { status, message, .. } => (status, message),
                ApiFailure::Unreachable(_) => (502, "the API is unreachable; try again shortly".to_string()),
            };
            let status = actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
            let page = SignInPage { csrf: &form.csrf, email: &form.email, error: Some(&message) };
            match page.render() {
                Ok(b) => html(status, b),
                Err(_) => HttpResponse::InternalServerError().finish(),
            }
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// POST /sign-out: revokes the session in the API and clears the cookie.
pub async fn sign_out(
    req: HttpRequest,
    form: web::Form<CsrfForm>,
    console: web::Data<Console>,
) -> HttpResponse {
    if !csrf::valid(&req, &form.csrf) {
        return csrf::refused();
    }
    if let Some(s) = session_of(&req) {
        // Signed out either way: a session the API no longer knows is already over.
        let _: Result<Value, _> =
            console.api.call(Method::POST, "/api/v1/auth/sign-out", Some(&s), None).await;
    }
    let mut resp = see_other("/sign-in");
    let mut gone = crate::cookie(SESSION_COOKIE, "", console.secure_cookies);
    gone.make_removal();
    let _ = resp.add_cookie(&gone);
    resp
}

/// GET /: the workspace's clicks over 30 days and its top links.
pub async fn dashboard(req: HttpRequest, console: web::Data<Console>) -> HttpResponse {
    let frame = match signed_in(&req, &console).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let (session, api) = (&frame.session, &console.api);
    let stats: Value = api
        .call(Method::GET, "/api/v1/workspace/stats?breakdowns=link", Some(session), None)
        .await
        .unwrap_or(Value::Null);
    let series: Vec<(String, i64)> = stats["series"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["start"].as_str().unwrap_or("").chars().take(10).collect(),
                        p["clicks"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let top = stats["breakdowns"]["link"]["top"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| (s["value"].as_str().unwrap_or("").to_string(), s["clicks"].as_i64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let (token, cookie) = csrf::token_for(&req, console.secure_cookies);
    let page = DashboardPage {
        csrf: token,
        current: "dashboard",
        member: frame.member.clone(),
        workspace: frame.workspace.clone(),
        total: stats["total"].as_i64().unwrap_or(0),
        chart: crate::chart::line("Clicks per day, last 30 days", &series),
        top,
    };
    render_with_cookie(&page, cookie, actix_web::http::StatusCode::OK)
}
