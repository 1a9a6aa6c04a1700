//! A link's raw clicks as CSV, streamed page by page (keyset on time and event id, so a page
//! costs the same wherever it is). Every cell goes through the link export's formula rule
//! (`neutralise_formula`): a user agent or referrer is whatever a client sent. The client hash
//! is left out: it is not an export's business who clicked.

use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use futures_util::stream;
use ghostlink_db::clicks::NewClick;
use ghostlink_domain::import::neutralise_formula;
use ghostlink_domain::workspace::Action;
use ghostlink_web::ApiError;
use serde::Deserialize;
use utoipa::IntoParams;

use super::query::range;
use crate::api::{load_visible, DomainParam, ErrorBody, LinkRef};
use crate::auth::Caller;
use crate::{db_error, Shared};

const PAGE: i64 = 2000;

const COLUMNS: &[&str] = &[
    "occurred_at",
    "event_id",
    "outcome",
    "method",
    "bot",
    "bot_reason",
    "country",
    "region",
    "browser",
    "os",
    "device",
    "referrer",
    "referrer_host",
    "domain",
    "rule",
    "user_agent",
];

/// Which clicks.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClicksQuery {
    /// Start (RFC 3339, inclusive); default: 30 days before `to`.
    pub from: Option<String>,
    /// End (RFC 3339, exclusive); default: now.
    pub to: Option<String>,
}

/// A link's raw clicks as CSV.
#[utoipa::path(
    get, path = "/api/v1/links/{code}/clicks", tag = "analytics",
    params(("code" = String, Path, description = "The short code"), DomainParam, ClicksQuery),
    responses(
        (status = 200, description = "CSV, oldest first, a header row; cells starting with = + - @ tab or CR get a leading '",
         content_type = "text/csv", body = String),
        (status = 400, description = "A bad range", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such link", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn clicks_csv(
    caller: Caller,
    link: LinkRef,
    query: web::Query<ClicksQuery>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadAnalytics)?;
    let (from, to) = range(query.from.as_deref(), query.to.as_deref())?;
    let row = load_visible(&shared, &caller, &link).await?;
    let code = row.code;
    let start = Page { after: None, first: true, done: false };
    let body = stream::unfold(start, move |mut st| {
        let (shared, code) = (shared.clone(), code.clone());
        async move {
            if st.done {
                return None;
            }
            let after = st.after;
            let page = shared
                .db
                .run(move |c| ghostlink_db::clicks::page_for_code(c, &code, from, to, after, PAGE))
                .await;
            let rows = match page {
                Ok(rows) => rows,
                Err(e) => {
                    slog::warn!(shared.log, "click export ended early"; "error" => %e);
                    st.done = true;
                    return Some((Err(db_error(e)), st));
                }
            };
            st.done = (rows.len() as i64) < PAGE;
            st.after = rows.last().map(|r| (r.occurred_at, r.event_id)).or(st.after);
            let chunk = csv_chunk(st.first, &rows);
            st.first = false;
            Some((chunk.map(Bytes::from), st))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("content-disposition", "attachment; filename=\"ghostlink-clicks.csv\""))
        .streaming(body))
}

struct Page {
    after: Option<(chrono::DateTime<chrono::Utc>, uuid::Uuid)>,
    first: bool,
    done: bool,
}

fn csv_chunk(first: bool, rows: &[NewClick]) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 300 + 256));
    // Writing into a Vec fails only on a bug (a record of another length).
    let fail = |_: csv::Error| ApiError::internal();
    if first {
        w.write_record(COLUMNS).map_err(fail)?;
    }
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    for r in rows {
        let d = &r.details;
        let cells = [
            r.occurred_at.to_rfc3339(),
            r.event_id.to_string(),
            r.outcome.as_str().to_owned(),
            r.method.clone(),
            r.bot.to_string(),
            d.bot_reason.map(|b| b.as_str().to_owned()).unwrap_or_default(),
            opt(&d.country),
            opt(&d.region),
            opt(&d.browser),
            d.os.map(|o| o.as_str().to_owned()).unwrap_or_default(),
            d.device.map(|o| o.as_str().to_owned()).unwrap_or_default(),
            opt(&r.referrer),
            opt(&d.referrer_host),
            opt(&d.domain),
            d.rule.map(|n| n.to_string()).unwrap_or_default(),
            opt(&r.user_agent),
        ];
        w.write_record(cells.iter().map(|c| neutralise_formula(c).into_owned())).map_err(fail)?;
    }
    w.into_inner().map_err(|_| ApiError::internal())
}
