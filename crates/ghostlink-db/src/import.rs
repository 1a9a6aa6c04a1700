//! Bulk transfer of a workspace's links: the pages an export streams (by id, oldest first) and
//! the batches an import writes — one multi-row `INSERT … ON CONFLICT (code) DO NOTHING` per
//! batch, with the `link.created` event of every row it inserted and the rows' tags, in one
//! transaction, so an imported link is scored and probed exactly like a created one.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use ghostlink_domain::rules::Rule;
use ghostlink_domain::utm::Utm;
use ghostlink_domain::LinkStatus;

use crate::links::{LinkRow, NewLink};
use crate::outbox::OutboxEvent;
use crate::schema::{links, outbox};
use crate::stored::{AsText, Jsonb};
use crate::{Conn, DbError};

/// Up to `limit` live (not deleted) links of `workspace` with an id above `after_id`, by id.
pub fn export_page(
    conn: &mut Conn,
    workspace: i64,
    after_id: i64,
    limit: i64,
) -> Result<Vec<LinkRow>, DbError> {
    Ok(links::table
        .filter(links::workspace_id.eq(workspace))
        .filter(links::status.ne(AsText(LinkStatus::Deleted)))
        .filter(links::id.gt(after_id))
        .order(links::id)
        .limit(limit)
        .select(LinkRow::as_select())
        .load(conn.pg())?)
}

/// A link that holds a code an import names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub workspace_id: i64,
    pub url: String,
    pub status: LinkStatus,
}

/// The links holding any of `codes` (in any workspace and status, deleted included: a code is
/// taken forever), by code. A join with the list, not `code = ANY(…)`: on a table that has just
/// grown (its statistics stale) the planner scans it and compares every row with every code.
pub fn taken(conn: &mut Conn, codes: &[String]) -> Result<HashMap<String, Taken>, DbError> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Text)]
        code: String,
        #[diesel(sql_type = BigInt)]
        workspace_id: i64,
        #[diesel(sql_type = Text)]
        url: String,
        #[diesel(sql_type = Text)]
        status: String,
    }
    if codes.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<Found> = diesel::sql_query(
        "SELECT l.code, l.workspace_id, l.url, l.status FROM unnest($1::text[]) AS c(code) \
         JOIN links l ON l.code = c.code",
    )
    .bind::<Array<Text>, _>(codes)
    .load(conn.pg())?;
    rows.into_iter()
        .map(|f| {
            let status = f.status.parse::<LinkStatus>().map_err(|e| DbError::Query(format!("stored {e}")))?;
            Ok((f.code, Taken { workspace_id: f.workspace_id, url: f.url, status }))
        })
        .collect()
}

/// For each of `urls` that a live link of `workspace` has as its destination, the code of the
/// oldest such link (a join with the list, as [`taken`] does).
pub fn codes_by_url(
    conn: &mut Conn,
    workspace: i64,
    urls: &[String],
) -> Result<HashMap<String, String>, DbError> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Text)]
        url: String,
        #[diesel(sql_type = Text)]
        code: String,
    }
    if urls.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<Found> = diesel::sql_query(
        "SELECT DISTINCT ON (l.url) l.url, l.code FROM (SELECT DISTINCT u FROM unnest($2::text[]) AS x(u)) AS w \
         JOIN links l ON l.url = w.u \
         WHERE l.workspace_id = $1 AND l.status <> $3 ORDER BY l.url, l.id",
    )
    .bind::<BigInt, _>(workspace)
    .bind::<Array<Text>, _>(urls)
    .bind::<Text, _>(LinkStatus::Deleted.as_str())
    .load(conn.pg())?;
    Ok(rows.into_iter().map(|f| (f.url, f.code)).collect())
}

/// One link of an import batch: the row, its status, its tags and its `link.created` event
/// (built beforehand from what the row will hold, as [`crate::links::insert_with_event`] does).
#[derive(Debug, Clone)]
pub struct ImportLink {
    /// `workspace_id` must be set.
    pub new: NewLink,
    pub status: LinkStatus,
    pub tags: Vec<String>,
    pub event: OutboxEvent,
}

#[derive(Insertable)]
#[diesel(table_name = links)]
struct Row {
    code: String,
    url: String,
    owner_token_id: Option<i64>,
    status: AsText<LinkStatus>,
    status_since: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    max_clicks: Option<i64>,
    workspace_id: i64,
    owner_member_id: Option<i64>,
    title: Option<String>,
    description: Option<String>,
    rules: Jsonb<Vec<Rule>>,
    forward_query: bool,
    utm: Jsonb<Utm>,
    password_hash: Option<String>,
}

/// Inserts `batch` (created at `at`) in one transaction: the links whose code is free, the
/// event of each of those, and their tags (made in the workspace as needed). Returns the codes
/// inserted with their ids; a link whose code was taken is skipped, not an error.
pub fn insert_batch(
    conn: &mut Conn,
    at: DateTime<Utc>,
    batch: Vec<ImportLink>,
) -> Result<Vec<(String, i64)>, DbError> {
    if batch.is_empty() {
        return Ok(vec![]);
    }
    let mut rows = Vec::with_capacity(batch.len());
    let mut rest = HashMap::with_capacity(batch.len());
    for l in batch {
        let workspace_id =
            l.new.workspace_id.ok_or_else(|| DbError::Query("import link without a workspace".into()))?;
        rest.insert(l.new.code.clone(), (workspace_id, l.tags, l.event));
        let n = l.new;
        rows.push(Row {
            code: n.code,
            url: n.url,
            owner_token_id: n.owner_token_id,
            status: AsText(l.status),
            status_since: at,
            created_at: at,
            updated_at: at,
            expires_at: n.expires_at,
            max_clicks: n.max_clicks,
            workspace_id,
            owner_member_id: n.owner_member_id,
            title: n.title,
            description: n.description,
            rules: Jsonb(n.rules),
            forward_query: n.forward_query,
            utm: Jsonb(n.utm),
            password_hash: n.password_hash,
        });
    }
    conn.pg().transaction(|c| {
        let inserted: Vec<(String, i64)> = diesel::insert_into(links::table)
            .values(rows)
            .on_conflict(links::code)
            .do_nothing()
            .returning((links::code, links::id))
            .get_results(c)?;
        let mut events = Vec::with_capacity(inserted.len());
        let mut tagged: Vec<(i64, i64, Vec<String>)> = vec![];
        for (code, id) in &inserted {
            if let Some((ws, tags, event)) = rest.remove(code) {
                events.push(event);
                if !tags.is_empty() {
                    tagged.push((ws, *id, tags));
                }
            }
        }
        diesel::insert_into(outbox::table).values(&events).execute(c)?;
        tag_links(c, &tagged)?;
        Ok(inserted)
    })
}

/// Gives each `(workspace, link, names)` its tags, creating the workspace's missing tags (a name
/// matches an existing tag case-insensitively): three statements whatever the count.
fn tag_links(c: &mut PgConnection, tagged: &[(i64, i64, Vec<String>)]) -> Result<(), DbError> {
    if tagged.is_empty() {
        return Ok(());
    }
    let mut seen = HashSet::new();
    let (mut ws, mut names) = (vec![], vec![]);
    for (w, _, tags) in tagged {
        for t in tags {
            if seen.insert((*w, t.to_lowercase())) {
                ws.push(*w);
                names.push(t.clone());
            }
        }
    }
    diesel::sql_query(
        "INSERT INTO tags (workspace_id, name) SELECT * FROM unnest($1::bigint[], $2::text[]) \
         ON CONFLICT (workspace_id, lower(name)) DO NOTHING",
    )
    .bind::<Array<BigInt>, _>(&ws)
    .bind::<Array<Text>, _>(&names)
    .execute(c)?;
    let (mut link_ids, mut link_ws, mut names_of) = (vec![], vec![], vec![]);
    for (w, link, tags) in tagged {
        for t in tags {
            link_ids.push(*link);
            link_ws.push(*w);
            names_of.push(t.clone());
        }
    }
    diesel::sql_query(
        "INSERT INTO link_tags (link_id, tag_id) \
         SELECT x.link_id, t.id FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS x(link_id, ws, name) \
         JOIN tags t ON t.workspace_id = x.ws AND lower(t.name) = lower(x.name) \
         ON CONFLICT DO NOTHING",
    )
    .bind::<Array<BigInt>, _>(&link_ids)
    .bind::<Array<BigInt>, _>(&link_ws)
    .bind::<Array<Text>, _>(&names_of)
    .execute(c)?;
    Ok(())
}
