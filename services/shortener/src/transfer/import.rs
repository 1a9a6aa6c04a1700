//! `POST /api/v1/import`: a document read under this route's own size limit, parsed into rows
//! (`ghostlink_domain::import`), each validated like a create, matched against what exists,
//! and written in batches.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use ghostlink_db::import::ImportLink;
use ghostlink_db::links::NewLink;
use ghostlink_domain::domains::{link_key, split_key, validate_host};
use ghostlink_domain::import::{Format, Record, RowStatus};
use ghostlink_domain::workspace::Action;
use ghostlink_domain::{generate_code, LinkStatus};
use ghostlink_proto::LinkCreated;
use ghostlink_web::{ApiError, RequestId};
use serde_json::Value;

use super::{ImportQuery, ImportReport, ImportRowReport, IMPORT_BATCH, IMPORT_BODY_LIMIT, REPORTED_OTHERS};
use crate::api::{outbox_event, read_new_link, ErrorDetail};
use crate::auth::Caller;
use crate::{db_error, Shared};

/// How long the import body may take to arrive.
const BODY_DEADLINE: Duration = Duration::from_secs(60);
/// Rounds of fresh codes tried for rows whose generated code was taken meanwhile.
const CODE_ATTEMPTS: usize = 8;

/// Import links into the workspace.
#[utoipa::path(
    post, path = "/api/v1/import", tag = "links",
    params(ImportQuery),
    request_body(description = "The document: CSV (`text/csv` or `text/plain`) or JSON \
        (`application/json`), at most 32 MiB and 100000 rows",
        content((String = "text/csv"), (Vec<Object> = "application/json"))),
    responses(
        (status = 200, description = "What was (or in a dry run would be) created, unchanged and refused, row by row", body = ImportReport),
        (status = 400, description = "Bad query parameter", body = crate::api::ErrorBody),
        (status = 401, description = "Missing or bad token", body = crate::api::ErrorBody),
        (status = 403, description = "The key lacks links:write, or the member may not create links", body = crate::api::ErrorBody),
        (status = 408, description = "The body did not arrive within 60 s (`body_timeout`)", body = crate::api::ErrorBody),
        (status = 413, description = "Body larger than 32 MiB", body = crate::api::ErrorBody),
        (status = 415, description = "Not CSV or JSON (`unsupported_media_type`), or encoded (`unsupported_encoding`)", body = crate::api::ErrorBody),
        (status = 422, description = "Not a document of the format (`invalid_document`, `missing_column`, `empty_document`, `too_many_rows`)", body = crate::api::ErrorBody),
        (status = 503, description = "Database unavailable", body = crate::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn import(
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
    query: web::Query<ImportQuery>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::CreateLink)?;
    let json_body = media_type(&req)?;
    let format = match query.format.as_deref() {
        None | Some("") if json_body => Format::Json,
        None | Some("") => Format::Csv,
        Some(f) => {
            f.parse::<Format>().map_err(|e| ApiError::bad_request("invalid_query", format!("format: {e}")))?
        }
    };
    let dry_run = match query.dry_run.as_deref() {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::bad_request("invalid_query", "dry_run: must be true or false")),
    };
    let rid = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let doc = read_body(&req, payload).await?;
    let parsed = tokio::task::spawn_blocking(move || ghostlink_domain::import::parse(format, &doc))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| ApiError::unprocessable(e.code(), format!("{format} document: {e}")))?;
    let started = std::time::Instant::now();
    let v_shared = shared.clone();
    let (ws, token, member) = (caller.workspace_id, caller.token_id, caller.member_id);
    let hosts: HashSet<String> = shared
        .db
        .run(move |c| ghostlink_db::domains::list(c, ws))
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|d| d.host)
        .collect();
    let rows: Vec<Row> = tokio::task::spawn_blocking(move || {
        parsed.into_iter().map(|r| prepare(&v_shared, &hosts, r, ws, token, member)).collect()
    })
    .await
    .map_err(|_| ApiError::internal())?;

    let mut run = Run { workspace: ws, seen_codes: HashMap::new(), seen_urls: HashMap::new() };
    // Batches are matched in order, and written up to WRITERS at a time (each on a connection
    // of its own: Postgres then indexes them on several cores).
    let mut writes = tokio::task::JoinSet::new();
    let mut done: Vec<Option<Vec<Outcome>>> = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<Row> = rows.by_ref().take(IMPORT_BATCH).collect();
        let (out, pending) = run.plan(&shared, batch).await?;
        let index = done.len();
        done.push(None);
        if dry_run || pending.is_empty() {
            done[index] = Some(out);
            continue;
        }
        if writes.len() >= WRITERS {
            finish(&mut writes, &mut done).await?;
        }
        writes.spawn(write(shared.clone(), rid.clone(), index, out, pending));
    }
    while !writes.is_empty() {
        finish(&mut writes, &mut done).await?;
    }
    let mut outcomes: Vec<Outcome> = done.into_iter().flatten().flatten().collect();
    resolve_codes(&mut outcomes);
    let written = started.elapsed();
    let created = outcomes.iter().filter(|o| o.status == RowStatus::Created).count() as u64;
    if !dry_run && created > 0 {
        shared.relay.notify_one();
        metrics::counter!("links_created_total").increment(created);
    }
    let report = report(dry_run, outcomes);
    metrics::counter!("links_imported_total", "format" => format.as_str()).increment(report.created as u64);
    slog::info!(shared.log, "import";
        "token.name" => &caller.name, "format" => format.as_str(), "dry_run" => dry_run,
        "total" => report.total, "created" => report.created, "unchanged" => report.unchanged,
        "refused" => report.refused, "elapsed_ms" => started.elapsed().as_millis() as u64, "written_ms" => written.as_millis() as u64);
    Ok(HttpResponse::Ok().json(report))
}

/// Whether the body is JSON (else CSV text); 415 for any other media type or an encoding.
fn media_type(req: &HttpRequest) -> Result<bool, ApiError> {
    for value in req.headers().get_all(CONTENT_ENCODING) {
        let identity = value
            .to_str()
            .is_ok_and(|t| t.split(',').map(str::trim).all(|c| c.eq_ignore_ascii_case("identity")));
        if !identity {
            metrics::counter!("http_request_bodies_refused_total", "reason" => "encoding").increment(1);
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                "Content-Encoding is not accepted: send the body unencoded (identity)",
            ));
        }
    }
    match req.mime_type() {
        Ok(Some(m)) if m.subtype() == mime_json() || m.suffix() == Some(mime_json()) => Ok(true),
        Ok(Some(m)) if m.type_() == "text" && (m.subtype() == "csv" || m.subtype() == "plain") => Ok(false),
        _ => {
            metrics::counter!("http_request_bodies_refused_total", "reason" => "media_type").increment(1);
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "an import is CSV (Content-Type: text/csv) or JSON (Content-Type: application/json)",
            ))
        }
    }
}

fn mime_json() -> actix_web::mime::Name<'static> {
    actix_web::mime::JSON
}

/// The body, counted as it arrives against [`IMPORT_BODY_LIMIT`], within [`BODY_DEADLINE`].
async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        metrics::counter!("http_request_bodies_refused_total", "reason" => "too_large").increment(1);
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than {IMPORT_BODY_LIMIT} bytes"),
        )
    };
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > IMPORT_BODY_LIMIT) {
        return Err(too_large());
    }
    let deadline = tokio::time::Instant::now() + BODY_DEADLINE;
    let mut buf = Vec::with_capacity(declared.unwrap_or(64 * 1024).min(IMPORT_BODY_LIMIT));
    loop {
        match tokio::time::timeout_at(deadline, payload.next()).await {
            Err(_) => {
                metrics::counter!("http_request_bodies_refused_total", "reason" => "timeout").increment(1);
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!("the request body did not arrive within {} s", BODY_DEADLINE.as_secs()),
                ));
            }
            Ok(None) => return Ok(buf),
            Ok(Some(Err(e))) => {
                return Err(ApiError::bad_request(
                    "incomplete_body",
                    format!("the request body could not be read: {e}"),
                ))
            }
            Ok(Some(Ok(chunk))) => {
                if buf.len() + chunk.len() > IMPORT_BODY_LIMIT {
                    return Err(too_large());
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}

/// A row after validation.
enum Row {
    Refused { line: usize, code: Option<String>, error: ApiError },
    Valid { line: usize, new: Box<NewLink>, alias: bool, status: LinkStatus, tags: Vec<String> },
}

/// Validates one record exactly as a create body (a password is not imported: no export
/// carries one).
fn prepare(
    shared: &Shared,
    hosts: &HashSet<String>,
    record: Result<Record, ghostlink_domain::import::RowError>,
    ws: i64,
    token: Option<i64>,
    member: i64,
) -> Row {
    let mut r = match record {
        Ok(r) => r,
        Err(e) => {
            return Row::Refused {
                line: e.line,
                code: None,
                error: ApiError::unprocessable(e.code, e.message),
            }
        }
    };
    r.body.remove("password");
    let code = r.body.get("alias").and_then(Value::as_str).map(|c| c.chars().take(64).collect());
    let domain = match row_domain(hosts, &r.body) {
        Ok(d) => d,
        Err(error) => return Row::Refused { line: r.line, code, error },
    };
    match read_new_link(shared, &r.body) {
        Err(error) => Row::Refused { line: r.line, code, error },
        Ok(input) => Row::Valid {
            line: r.line,
            alias: input.alias.is_some(),
            new: Box::new(NewLink {
                // A row without a code keeps its domain as the key's prefix (`host/`) until
                // [`write`] generates the code.
                code: link_key(domain.as_deref(), &input.alias.unwrap_or_default()),
                url: input.url,
                owner_token_id: token,
                expires_at: input.expires_at,
                max_clicks: input.max_clicks,
                workspace_id: Some(ws),
                owner_member_id: Some(member),
                title: input.fields.title.flatten(),
                description: input.fields.description.flatten(),
                rules: input.rules,
                forward_query: input.fields.forward_query.flatten().unwrap_or(false),
                utm: input.fields.utm.flatten().unwrap_or_default(),
                password_hash: None,
            }),
            status: if r.disabled { LinkStatus::Disabled } else { LinkStatus::Active },
            tags: input.tags,
        },
    }
}

/// The custom domain a row names (`domain`), which must be one of the workspace's `hosts`.
fn row_domain(
    hosts: &HashSet<String>,
    body: &serde_json::Map<String, Value>,
) -> Result<Option<String>, ApiError> {
    let unknown = || ApiError::unprocessable("unknown_domain", "domain: not a domain of this workspace");
    match body.get("domain") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(d)) if d.is_empty() => Ok(None),
        Some(Value::String(d)) => match validate_host(d) {
            Ok(h) if hosts.contains(&h) => Ok(Some(h)),
            _ => Err(unknown()),
        },
        Some(_) => Err(unknown()),
    }
}

/// What happened to one row.
struct Outcome {
    line: usize,
    code: Option<String>,
    /// The destination of a row without a code of its own.
    url: Option<String>,
    status: RowStatus,
    error: Option<ApiError>,
}

/// Batches written at once.
const WRITERS: usize = 3;

/// A row to write: its index in its batch's outcomes, the link, its status and tags, and
/// whether its code is the row's own.
type Pending = (usize, NewLink, LinkStatus, Vec<String>, bool);

/// One import's matching state across its batches.
struct Run {
    workspace: i64,
    /// Codes this import creates (or would create), with their destinations.
    seen_codes: HashMap<String, String>,
    /// Destinations this import creates (or would create) a link for, with its code when the
    /// row named one (a generated code is known once written: [`resolve_codes`]).
    seen_urls: HashMap<String, Option<String>>,
}

fn taken_error() -> ApiError {
    ApiError::conflict("alias_taken", "alias: this code is already taken")
}

impl Run {
    /// Matches a batch against what exists and what this import already took: each row's
    /// outcome, and the rows to write.
    async fn plan(
        &mut self,
        shared: &Shared,
        batch: Vec<Row>,
    ) -> Result<(Vec<Outcome>, Vec<Pending>), ApiError> {
        let codes: Vec<String> = batch
            .iter()
            .filter_map(|r| match r {
                Row::Valid { alias: true, new, .. } => Some(new.code.clone()),
                _ => None,
            })
            .collect();
        let urls: Vec<String> = batch
            .iter()
            .filter_map(|r| match r {
                Row::Valid { alias: false, new, .. } => Some(new.url.clone()),
                _ => None,
            })
            .collect();
        let ws = self.workspace;
        let (taken, by_url) = shared
            .db
            .run(move |c| {
                Ok((
                    ghostlink_db::import::taken(c, &codes)?,
                    ghostlink_db::import::codes_by_url(c, ws, &urls)?,
                ))
            })
            .await
            .map_err(db_error)?;

        let mut out: Vec<Outcome> = Vec::with_capacity(batch.len());
        let mut pending: Vec<Pending> = vec![];
        for row in batch {
            let (line, new, alias, status, tags) = match row {
                Row::Refused { line, code, error } => {
                    out.push(Outcome {
                        line,
                        code,
                        url: None,
                        status: RowStatus::Refused,
                        error: Some(error),
                    });
                    continue;
                }
                Row::Valid { line, new, alias, status, tags } => (line, *new, alias, status, tags),
            };
            let idx = out.len();
            if alias {
                let same = |url: &str| url == new.url;
                let verdict = match (taken.get(&new.code), self.seen_codes.get(&new.code)) {
                    (Some(t), _) => t.workspace_id == ws && t.status != LinkStatus::Deleted && same(&t.url),
                    (None, Some(url)) => same(url),
                    (None, None) => {
                        self.seen_codes.insert(new.code.clone(), new.url.clone());
                        self.seen_urls.entry(new.url.clone()).or_insert_with(|| Some(new.code.clone()));
                        let code = Some(new.code.clone());
                        out.push(Outcome { line, code, url: None, status: RowStatus::Created, error: None });
                        pending.push((idx, new, status, tags, true));
                        continue;
                    }
                };
                let code = Some(new.code);
                out.push(match verdict {
                    true => Outcome { line, code, url: None, status: RowStatus::Unchanged, error: None },
                    false => Outcome {
                        line,
                        code,
                        url: None,
                        status: RowStatus::Refused,
                        error: Some(taken_error()),
                    },
                });
            } else if let Some(code) = by_url.get(&new.url) {
                let code = Some(code.clone());
                out.push(Outcome { line, code, url: None, status: RowStatus::Unchanged, error: None });
            } else if let Some(code) = self.seen_urls.get(&new.url) {
                let (code, url) = (code.clone(), Some(new.url.clone()));
                out.push(Outcome { line, code, url, status: RowStatus::Unchanged, error: None });
            } else {
                self.seen_urls.insert(new.url.clone(), None);
                let url = Some(new.url.clone());
                out.push(Outcome { line, code: None, url, status: RowStatus::Created, error: None });
                pending.push((idx, new, status, tags, false));
            }
        }
        Ok((out, pending))
    }
}

/// Waits for one batch's write and files its outcomes.
async fn finish(
    writes: &mut tokio::task::JoinSet<Result<(usize, Vec<Outcome>), ApiError>>,
    done: &mut [Option<Vec<Outcome>>],
) -> Result<(), ApiError> {
    if let Some(joined) = writes.join_next().await {
        let (index, out) = joined.map_err(|_| ApiError::internal())??;
        done[index] = Some(out);
    }
    Ok(())
}

/// Writes a batch's `pending` rows, giving code-less rows generated codes (fresh ones for
/// those taken in the meantime; a named code taken in the meantime is refused), then drops
/// the new codes' cache entries (a negative entry may exist for a code someone tried before
/// it existed).
async fn write(
    shared: web::Data<Shared>,
    rid: Option<String>,
    index: usize,
    mut out: Vec<Outcome>,
    mut pending: Vec<Pending>,
) -> Result<(usize, Vec<Outcome>), ApiError> {
    let mut created = vec![];
    for attempt in 0..CODE_ATTEMPTS {
        if pending.is_empty() {
            break;
        }
        for (_, new, _, _, alias) in pending.iter_mut() {
            if !*alias {
                let domain = split_key(&new.code).0.map(str::to_owned);
                new.code = link_key(domain.as_deref(), &generate_code(&mut rand::rngs::OsRng));
            }
        }
        let at = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
        let links: Vec<ImportLink> = pending
            .iter()
            .map(|(_, new, status, tags, _)| ImportLink {
                event: outbox_event(
                    rid.clone(),
                    LinkCreated {
                        code: new.code.clone(),
                        url: new.url.clone(),
                        status: *status,
                        owner_token_id: new.owner_token_id,
                        expires_at: new.expires_at,
                        max_clicks: new.max_clicks,
                        created_at: at,
                    },
                ),
                new: new.clone(),
                status: *status,
                tags: tags.clone(),
            })
            .collect();
        let inserted = shared
            .db
            .run(move |c| ghostlink_db::import::insert_batch(c, at, links))
            .await
            .map_err(db_error)?;
        let inserted: std::collections::HashSet<String> = inserted.into_iter().map(|(c, _)| c).collect();
        let mut retry = vec![];
        for p in pending {
            let (idx, new, _, _, alias) = &p;
            if inserted.contains(&new.code) {
                out[*idx].code = Some(new.code.clone());
                created.push(new.code.clone());
            } else if *alias || attempt + 1 == CODE_ATTEMPTS {
                out[*idx].status = RowStatus::Refused;
                out[*idx].error = Some(if *alias { taken_error() } else { ApiError::internal() });
            } else {
                retry.push(p);
            }
        }
        pending = retry;
    }
    futures_util::stream::iter(created.iter()).for_each_concurrent(16, |code| shared.invalidate(code)).await;
    Ok((index, out))
}

/// Gives the rows that matched a destination this import created without a code the code it
/// got (known only once its batch was written).
fn resolve_codes(outcomes: &mut [Outcome]) {
    let made: HashMap<String, String> = outcomes
        .iter()
        .filter(|o| o.status == RowStatus::Created)
        .filter_map(|o| Some((o.url.clone()?, o.code.clone()?)))
        .collect();
    for o in outcomes.iter_mut().filter(|o| o.status == RowStatus::Unchanged && o.code.is_none()) {
        o.code = o.url.as_ref().and_then(|u| made.get(u).cloned());
    }
}

/// The report: counts of all rows, every refused row and the first [`REPORTED_OTHERS`] others.
fn report(dry_run: bool, outcomes: Vec<Outcome>) -> ImportReport {
    let count = |s: RowStatus| outcomes.iter().filter(|o| o.status == s).count();
    let (created, unchanged, refused) =
        (count(RowStatus::Created), count(RowStatus::Unchanged), count(RowStatus::Refused));
    let total = outcomes.len();
    let mut others = 0;
    let rows: Vec<ImportRowReport> = outcomes
        .into_iter()
        .filter(|o| {
            o.status == RowStatus::Refused || {
                others += 1;
                others <= REPORTED_OTHERS
            }
        })
        .map(|o| ImportRowReport {
            line: o.line,
            code: o.code,
            status: o.status,
            error: o.error.map(|e| ErrorDetail { code: e.code.to_string(), message: e.message }),
        })
        .collect();
    let rows_omitted = total - rows.len();
    ImportReport { dry_run, total, created, unchanged, refused, rows, rows_omitted }
}
