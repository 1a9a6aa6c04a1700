//! `GET /api/v1/export`: the workspace's links streamed page by page as CSV or JSON.

use actix_web::web;
use actix_web::HttpResponse;
use ghostlink_db::links::LinkRow;
use ghostlink_domain::import::{neutralise_formula, Format};
use ghostlink_domain::workspace::Action;
use ghostlink_web::ApiError;

use super::{ExportLink, ExportQuery, EXPORT_PAGE};
use crate::api::short_url;
use crate::auth::Caller;
use crate::paged::pages;
use crate::Shared;
use ghostlink_domain::domains::split_key;

/// The CSV header: [`ExportLink`]'s fields, in order.
const COLUMNS: [&str; 16] = [
    "code",
    "domain",
    "short_url",
    "url",
    "title",
    "description",
    "tags",
    "status",
    "created_at",
    "expires_at",
    "max_clicks",
    "click_count",
    "forward_query",
    "utm",
    "rules",
    "password_protected",
];

/// Export the workspace's links.
#[utoipa::path(
    get, path = "/api/v1/export", tag = "links",
    params(ExportQuery),
    responses(
        (status = 200, description = "Every live link of the caller's workspace, oldest first: CSV \
          (a header row; cells starting with = + - @ tab or CR get a leading ') or a JSON array",
         content((Vec<ExportLink> = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad query parameter", body = crate::api::ErrorBody),
        (status = 401, description = "Missing or bad token", body = crate::api::ErrorBody),
        (status = 403, description = "The key lacks links:read", body = crate::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn export(
    caller: Caller,
    query: web::Query<ExportQuery>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadLinks)?;
    let format = match query.format.as_deref() {
        None | Some("") | Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "format: '{}' is not an export format (csv, json)",
                    other.chars().take(32).collect::<String>()
                ),
            ))
        }
    };
    let workspace = caller.workspace_id;
    slog::info!(shared.log, "export"; "token.name" => &caller.name, "format" => format.as_str());
    let base = shared.base_url.clone();
    let fetch = move |c: &mut ghostlink_db::Conn, after: Option<i64>| {
        let rows = ghostlink_db::import::export_page(c, workspace, after.unwrap_or(0), EXPORT_PAGE)?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut tags = ghostlink_db::tags::for_links(c, &ids)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let (id, t) = (r.id, tags.remove(&r.id).unwrap_or_default());
                (id, link(r, &base, t))
            })
            .collect())
    };
    let render = move |first: bool, last: bool, links: &[(i64, ExportLink)]| {
        let links: Vec<&ExportLink> = links.iter().map(|(_, l)| l).collect();
        match format {
            Format::Csv => csv_chunk(first, &links),
            _ => Ok(json_chunk(first, last, &links)),
        }
    };
    let body = pages(
        shared.clone(),
        "links",
        EXPORT_PAGE as usize,
        fetch,
        |(id, _): &(i64, ExportLink)| *id,
        render,
    );
    let (content_type, file) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "ghostlink-links.csv"),
        _ => ("application/json", "ghostlink-links.json"),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("content-disposition", format!("attachment; filename=\"{file}\"")))
        .streaming(body))
}

fn link(r: LinkRow, base: &str, tags: Vec<String>) -> ExportLink {
    ExportLink {
        short_url: short_url(base, &r.code),
        status: r.status.as_str().to_string(),
        password_protected: r.password_hash.is_some(),
        domain: split_key(&r.code).0.map(str::to_owned),
        code: split_key(&r.code).1.to_owned(),
        url: r.url,
        title: r.title,
        description: r.description,
        tags,
        created_at: r.created_at,
        expires_at: r.expires_at,
        max_clicks: r.max_clicks,
        click_count: r.click_count,
        forward_query: r.forward_query,
        utm: r.utm,
        rules: r.rules,
    }
}

/// A page as JSON array items: the `[` before the first, the `]` after the last.
fn json_chunk(first: bool, last: bool, links: &[&ExportLink]) -> Vec<u8> {
    let mut out = Vec::with_capacity(links.len() * 400 + 2);
    if first {
        out.push(b'[');
    }
    for (i, l) in links.iter().enumerate() {
        if !(first && i == 0) {
            out.push(b',');
        }
        out.push(b'\n');
        // Serialising plain data into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, l);
    }
    if last {
        out.extend_from_slice(b"\n]\n");
    }
    out
}

/// A page as CSV rows, after the header row on the first page. Every cell goes through
/// [`neutralise_formula`].
fn csv_chunk(first: bool, links: &[&ExportLink]) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(links.len() * 300 + 256));
    // Writing into a Vec fails only on a bug (a record of another length).
    let fail = |_: csv::Error| ApiError::internal();
    if first {
        w.write_record(COLUMNS).map_err(fail)?;
    }
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    for l in links {
        let cells = [
            l.code.clone(),
            l.domain.clone().unwrap_or_default(),
            l.short_url.clone(),
            l.url.clone(),
            l.title.clone().unwrap_or_default(),
            l.description.clone().unwrap_or_default(),
            json_text(&l.tags),
            l.status.clone(),
            l.created_at.to_rfc3339(),
            time(l.expires_at),
            l.max_clicks.map(|n| n.to_string()).unwrap_or_default(),
            l.click_count.to_string(),
            l.forward_query.to_string(),
            json_text(&l.utm),
            json_text(&l.rules),
            l.password_protected.to_string(),
        ];
        w.write_record(cells.iter().map(|c| neutralise_formula(c).into_owned())).map_err(fail)?;
    }
    w.into_inner().map_err(|_| ApiError::internal())
}

/// A value as the JSON text of a CSV cell (plain data: serialising it cannot fail).
fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
