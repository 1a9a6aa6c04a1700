//! A link's page: its clicks chart (granularity switch), breakdowns by country, device, browser
//! and referrer, its QR code (fetched from the API with the person's session and served from
//! here, so the page's CSP needs no other origin), and the form that edits its destination.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::ApiFailure;
use crate::pages::{render_with_cookie, see_other, signed_in, Frame};
use crate::{csrf, Console};

const GRANULARITIES: [&str; 4] = ["hour", "day", "week", "month"];
const DIMENSIONS: [(&str, &str); 4] =
    [("country", "Country"), ("device", "Device"), ("browser", "Browser"), ("referrer", "Referrer")];

/// A granularity link.
pub struct Choice {
    pub value: &'static str,
    pub selected: bool,
}

pub struct Breakdown {
    pub name: &'static str,
    pub rows: Vec<(String, i64)>,
}

#[derive(Template)]
#[template(path = "link.html")]
struct LinkPage {
    csrf: String,
    member: String,
    workspace: String,
    current: &'static str,
    code: String,
    short_url: String,
    url: String,
    status: String,
    total: i64,
    granularities: Vec<Choice>,
    chart: String,
    breakdowns: Vec<Breakdown>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowParams {
    granularity: Option<String>,
}

/// A link code as the API accepts it in a path; anything else is answered as missing here.
fn code_ok(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

async fn page(
    req: &HttpRequest,
    console: &Console,
    frame: Frame,
    code: String,
    granularity: &'static str,
    error: Option<String>,
    status_code: actix_web::http::StatusCode,
) -> HttpResponse {
    let link: Result<Value, ApiFailure> =
        console.api.call(Method::GET, &format!("/api/v1/links/{code}"), Some(&frame.session), None).await;
    let link = match link {
        Ok(l) => l,
        Err(ApiFailure::Refused { status: 404, .. }) => {
            return HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("No such link.")
        }
        Err(_) => return HttpResponse::BadGateway().finish(),
    };
    let dims = DIMENSIONS.iter().map(|(d, _)| *d).collect::<Vec<_>>().join(",");
    let stats: Value = console
        .api
        .call(
            Method::GET,
            &format!("/api/v1/links/{code}/stats?granularity={granularity}&breakdowns={dims}"),
            Some(&frame.session),
            None,
        )
        .await
        .unwrap_or(Value::Null);
    let series: Vec<(String, i64)> = stats["series"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["start"].as_str().unwrap_or("").chars().take(16).collect(),
                        p["clicks"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let breakdowns = DIMENSIONS
        .iter()
        .map(|(d, name)| Breakdown {
            name,
            rows: stats["breakdowns"][d]["top"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| {
                            (s["value"].as_str().unwrap_or("").to_string(), s["clicks"].as_i64().unwrap_or(0))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let (token, cookie) = csrf::token_for(req, console.secure_cookies);
    let p = LinkPage {
        csrf: token,
        member: frame.member,
        workspace: frame.workspace,
        current: "links",
        short_url: link["short_url"].as_str().unwrap_or("").to_string(),
        url: link["url"].as_str().unwrap_or("").to_string(),
        status: link["status"].as_str().unwrap_or("").to_string(),
        total: stats["total"].as_i64().unwrap_or(0),
        granularities: GRANULARITIES
            .iter()
            .map(|g| Choice { value: g, selected: *g == granularity })
            .collect(),
        chart: crate::chart::line(&format!("Clicks per {granularity}"), &series),
        breakdowns,
        error,
        code,
    };
    render_with_cookie(&p, cookie, status_code)
}

/// GET /links/{code}
pub async fn show(
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<ShowParams>,
    console: web::Data<Console>,
) -> HttpResponse {
    let code = path.into_inner();
    if !code_ok(&code) {
        return HttpResponse::NotFound().finish();
    }
    let frame = match signed_in(&req, &console).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let g =
        GRANULARITIES.iter().find(|g| Some(**g) == params.granularity.as_deref()).copied().unwrap_or("day");
    page(&req, &console, frame, code, g, None, actix_web::http::StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
pub struct EditForm {
    csrf: String,
    url: String,
}

/// POST /links/{code}: changes the destination through the API.
pub async fn edit(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<EditForm>,
    console: web::Data<Console>,
) -> HttpResponse {
    let code = path.into_inner();
    if !csrf::valid(&req, &form.csrf) {
        return csrf::refused();
    }
    if !code_ok(&code) {
        return HttpResponse::NotFound().finish();
    }
    let frame = match signed_in(&req, &console).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let body = json!({"url": form.url.trim()});
    let changed: Result<Value, ApiFailure> = console
        .api
        .call(Method::PATCH, &format!("/api/v1/links/{code}"), Some(&frame.session), Some(&body))
        .await;
    match changed {
        Ok(_) => see_other(&format!("/links/{code}")),
        Err(ApiFailure::Refused { status, message, .. }) => {
            let s = actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY);
            page(&req, &console, frame, code, "day", Some(message), s).await
        }
        Err(ApiFailure::Unreachable(_)) => HttpResponse::BadGateway().finish(),
    }
}

/// GET /links/{code}/qr.svg: the API's QR code, with the person's session.
pub async fn qr(req: HttpRequest, path: web::Path<String>, console: web::Data<Console>) -> HttpResponse {
    let code = path.into_inner();
    if !code_ok(&code) {
        return HttpResponse::NotFound().finish();
    }
    let frame = match signed_in(&req, &console).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    match console.api.bytes(&format!("/api/v1/links/{code}/qr?format=svg"), &frame.session).await {
        Ok((_, body)) => HttpResponse::Ok().content_type("image/svg+xml").body(body),
        Err(ApiFailure::Refused { status: 404, .. }) => HttpResponse::NotFound().finish(),
        Err(_) => HttpResponse::BadGateway().finish(),
    }
}
