//! The links page: the workspace's links (search, status filter, pagination by the API's
//! cursor) and the create form, whose refusals are the API's own messages, shown inline.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::ApiFailure;
use crate::pages::{render_with_cookie, see_other, signed_in, Frame};
use crate::{csrf, Console};

/// A row of the table.
pub struct Row {
    pub code: String,
    pub short_url: String,
    pub url: String,
    pub tags: String,
    pub status: String,
    pub clicks: i64,
}

/// What the create form was given (shown again after a refusal).
#[derive(Debug, Default, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub alias: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub expires_at: String,
}

#[derive(Template)]
#[template(path = "links.html")]
struct LinksPage {
    csrf: String,
    member: String,
    workspace: String,
    current: &'static str,
    q: String,
    statuses: Vec<StatusOption>,
    items: Vec<Row>,
    next: Option<String>,
    error: Option<String>,
    form: CreateForm,
}

/// An option of the status filter.
pub struct StatusOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    q: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
}

const STATUSES: [(&str, &str); 5] = [
    ("", "All but deleted"),
    ("active", "Active"),
    ("disabled", "Disabled"),
    ("quarantined", "Quarantined"),
    ("deleted", "Deleted"),
];

fn query(params: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
        s.append_pair(k, v);
    }
    s.finish()
}

async fn page(
    req: &HttpRequest,
    console: &Console,
    frame: Frame,
    params: ListParams,
    error: Option<String>,
    form: CreateForm,
    status_code: actix_web::http::StatusCode,
) -> HttpResponse {
    let q = params.q.unwrap_or_default();
    let status = params.status.unwrap_or_default();
    let cursor = params.cursor.unwrap_or_default();
    let path = format!(
        "/api/v1/links?{}",
        query(&[("q", &q), ("status", &status), ("cursor", &cursor), ("limit", "20")])
    );
    let listed: Result<Value, ApiFailure> =
        console.api.call(Method::GET, &path, Some(&frame.session), None).await;
    let (listed, list_error) = match listed {
        Ok(v) => (v, None),
        Err(ApiFailure::Refused { message, .. }) => (Value::Null, Some(message)),
        Err(ApiFailure::Unreachable(_)) => return HttpResponse::BadGateway().finish(),
    };
    let items = listed["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| Row {
                    code: l["code"].as_str().unwrap_or("").to_string(),
                    short_url: l["short_url"].as_str().unwrap_or("").to_string(),
                    url: l["url"].as_str().unwrap_or("").to_string(),
                    tags: l["tags"]
                        .as_array()
                        .map(|t| t.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                        .unwrap_or_default(),
                    status: l["status"].as_str().unwrap_or("").to_string(),
                    clicks: l["click_count"].as_i64().unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    let next = listed["next_cursor"]
        .as_str()
        .map(|c| format!("/links?{}", query(&[("q", &q), ("status", &status), ("cursor", c)])));
    let (token, cookie) = csrf::token_for(req, console.secure_cookies);
    let p = LinksPage {
        csrf: token,
        member: frame.member,
        workspace: frame.workspace,
        current: "links",
        q,
        statuses: STATUSES
            .iter()
            .map(|(v, l)| StatusOption { value: v, label: l, selected: *v == status })
            .collect(),
        items,
        next,
        error: error.or(list_error),
        form,
    };
    render_with_cookie(&p, cookie, status_code)
}

/// GET /links
pub async fn list(
    req: HttpRequest,
    params: web::Query<ListParams>,
    console: web::Data<Console>,
) -> HttpResponse {
    let frame = match signed_in(&req, &console).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    page(
        &req,
        &console,
        frame,
        params.into_inner(),
        None,
        CreateForm::default(),
        actix_web::http::StatusCode::OK,
    )
    .await
}

/// The API's create body from the form: empty fields are left out.
fn create_body(f: &CreateForm) -> Value {
    let mut body = Map::new();
    body.insert("url".into(), json!(f.url.trim()));
    if !f.alias.trim().is_empty() {
        body.insert("alias".into(), json!(f.alias.trim()));
    }
    if !f.domain.trim().is_empty() {
        body.insert("domain".into(), json!(f.domain.trim()));
    }
    let tags: Vec<&str> = f.tags.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    if !tags.is_empty() {
        body.insert("tags".into(), json!(tags));
    }
    if !f.expires_at.trim().is_empty() {
        // `datetime-local` has no zone or seconds: read as UTC.
        let t = f.expires_at.trim();
        let t = if t.len() == 16 { format!("{t}:00Z") } else { format!("{t}Z") };
        body.insert("expires_at".into(), json!(t));
    }
    Value::Object(body)
}

/// POST /links: creates through the API; a refusal shows the API's message beside the form,
/// with what was typed kept.
pub async fn create(
    req: HttpRequest,
    form: web::Form<CreateForm>,
    console: web::Data<Console>,
) -> HttpResponse {
    let form = form.into_inner();
    if !csrf::valid(&req, &form.csrf) {
        return csrf::refused();
    }
    let frame = match signed_in(&req, &console).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let body = create_body(&form);
    let made: Result<Value, ApiFailure> =
        console.api.call(Method::POST, "/api/v1/links", Some(&frame.session), Some(&body)).await;
    match made {
        Ok(_) => see_other("/links"),
        Err(ApiFailure::Refused { status, message, .. }) => {
            let code = actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY);
            page(&req, &console, frame, ListParams::default(), Some(message), form, code).await
        }
        Err(ApiFailure::Unreachable(_)) => HttpResponse::BadGateway().finish(),
    }
}
