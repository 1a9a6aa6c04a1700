//! Links: creation, lookup, listing, changes and the one atomic click counter.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ghostlink_domain::risk::Level;
use ghostlink_domain::rules::Rule;
use ghostlink_domain::utm::{QueryOptions, Utm};
use ghostlink_domain::{HealthState, LinkSnapshot, LinkStatus};

use crate::outbox::OutboxEvent;
use crate::schema::links;
use crate::stored::{AsText, Jsonb};
use crate::{Conn, DbError};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = links)]
pub struct LinkRow {
    pub id: i64,
    pub code: String,
    pub url: String,
    pub owner_token_id: Option<i64>,
    #[diesel(deserialize_as = AsText<LinkStatus>)]
    pub status: LinkStatus,
    pub status_since: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_clicks: Option<i64>,
    pub click_count: i64,
    pub workspace_id: i64,
    /// The member who created it (none for links older than workspaces without a token).
    pub owner_member_id: Option<i64>,
    pub title: Option<String>,
    pub description: Option<String>,
    #[diesel(deserialize_as = Jsonb<Vec<Rule>>)]
    pub rules: Vec<Rule>,
    pub forward_query: bool,
    #[diesel(deserialize_as = Jsonb<Utm>)]
    pub utm: Utm,
    /// argon2id PHC string; never shown by the API.
    pub password_hash: Option<String>,
}

impl LinkRow {
    /// Query forwarding and UTM, as the redirect applies them.
    pub fn query_options(&self) -> QueryOptions {
        let utm = (self.utm != Utm::default()).then(|| self.utm.clone());
        QueryOptions { forward_query: self.forward_query, utm }
    }

    pub fn snapshot(&self) -> LinkSnapshot {
        LinkSnapshot {
            code: self.code.clone(),
            url: self.url.clone(),
            status: self.status,
            expires_at: self.expires_at,
            max_clicks: self.max_clicks,
            status_since: Some(self.status_since),
            risk: None,
            risk_reasons: vec![],
            rules: self.rules.clone(),
            query: self.query_options(),
            password_hash: self.password_hash.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = links)]
pub struct NewLink {
    pub code: String,
    pub url: String,
    pub owner_token_id: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_clicks: Option<i64>,
    /// `None`: the default workspace (tools and tests that predate workspaces).
    pub workspace_id: Option<i64>,
    pub owner_member_id: Option<i64>,
    pub title: Option<String>,
    pub description: Option<String>,
    #[diesel(serialize_as = Jsonb<Vec<Rule>>)]
    pub rules: Vec<Rule>,
    pub forward_query: bool,
    #[diesel(serialize_as = Jsonb<Utm>)]
    pub utm: Utm,
    pub password_hash: Option<String>,
}

/// Every column of `links`, in [`LinkRow`]'s order, for the raw statements that return rows.
const LINK_COLUMNS: &str = "id, code, url, owner_token_id, status, status_since, created_at, updated_at, \
    expires_at, max_clicks, click_count, workspace_id, owner_member_id, title, description, rules, \
    forward_query, utm, password_hash";

/// Inserts a link; `Conflict` when the code exists (in any status, deleted included).
pub fn insert(conn: &mut Conn, new: &NewLink) -> Result<LinkRow, DbError> {
    let mut new = new.clone();
    if new.workspace_id.is_none() {
        new.workspace_id = Some(crate::workspaces::default_workspace(conn)?.id);
    }
    let conn = conn.pg();
    Ok(diesel::insert_into(links::table).values(new).returning(LinkRow::as_returning()).get_result(conn)?)
}

/// Inserts a link, created at `at`, and the event describing it, in one statement (so one round
/// trip instead of BEGIN, two INSERTs and COMMIT: creation is bound by round trips to Postgres,
/// see docs/performance.md). The event is built before the row exists, from what the row will
/// hold; `at` is also the row's `status_since` and `updated_at`. `Conflict` when the code exists.
pub fn insert_with_event(
    conn: &mut Conn,
    new: &NewLink,
    at: DateTime<Utc>,
    event: &OutboxEvent,
) -> Result<LinkRow, DbError> {
    let conn = conn.pg();
    let (traceparent, tracestate) = crate::outbox::current_trace();
    use diesel::sql_types::{BigInt, Bool, Jsonb as JsonbSql, Nullable, Text, Timestamptz, Uuid};
    let row = diesel::sql_query(format!(
        "WITH l AS ( \
           INSERT INTO links (code, url, owner_token_id, expires_at, max_clicks, created_at, updated_at, \
                              status_since, workspace_id, owner_member_id, title, description, rules, \
                              forward_query, utm, password_hash) \
           VALUES ($1, $2, $3, $4, $5, $6, $6, $6, \
                   coalesce($7, (SELECT id FROM workspaces WHERE slug = 'default')), $8, $9, $10, $11, $12, $13, $14) RETURNING * \
         ), o AS ( \
           INSERT INTO outbox (event_id, routing_key, payload, traceparent, tracestate) \
           SELECT $15, $16, $17, $18, $19 FROM l \
         ) \
         SELECT {LINK_COLUMNS} FROM l"
    ))
    .bind::<Text, _>(&new.code)
    .bind::<Text, _>(&new.url)
    .bind::<Nullable<BigInt>, _>(new.owner_token_id)
    .bind::<Nullable<Timestamptz>, _>(new.expires_at)
    .bind::<Nullable<BigInt>, _>(new.max_clicks)
    .bind::<Timestamptz, _>(at)
    .bind::<Nullable<BigInt>, _>(new.workspace_id)
    .bind::<Nullable<BigInt>, _>(new.owner_member_id)
    .bind::<Nullable<Text>, _>(&new.title)
    .bind::<Nullable<Text>, _>(&new.description)
    .bind::<JsonbSql, _>(Jsonb(new.rules.clone()))
    .bind::<Bool, _>(new.forward_query)
    .bind::<JsonbSql, _>(Jsonb(new.utm.clone()))
    .bind::<Nullable<Text>, _>(&new.password_hash)
    .bind::<Uuid, _>(event.event_id)
    .bind::<Text, _>(&event.routing_key)
    .bind::<Text, _>(&event.payload)
    .bind::<Nullable<Text>, _>(traceparent)
    .bind::<Nullable<Text>, _>(tracestate)
    .get_result::<LinkRow>(conn)?;
    Ok(row)
}

/// [`update`] and the event describing the result, in one transaction.
pub fn update_with_event(
    conn: &mut Conn,
    code: &str,
    changes: &LinkChanges,
    event: impl FnOnce(&LinkRow) -> OutboxEvent,
) -> Result<Option<LinkRow>, DbError> {
    let conn = conn.pg();
    conn.transaction(|conn| {
        let Some(row) = update(Conn::wrap(conn), code, changes)? else { return Ok(None) };
        crate::outbox::enqueue(Conn::wrap(conn), &event(&row))?;
        Ok(Some(row))
    })
}

/// [`soft_delete`] and the event describing it, in one transaction.
pub fn delete_with_event(
    conn: &mut Conn,
    code: &str,
    event: impl FnOnce(&LinkRow) -> OutboxEvent,
) -> Result<bool, DbError> {
    let conn = conn.pg();
    conn.transaction(|conn| {
        if !soft_delete(Conn::wrap(conn), code)? {
            return Ok(false);
        }
        let row =
            get(Conn::wrap(conn), code)?.ok_or_else(|| DbError::Query("deleted row vanished".into()))?;
        crate::outbox::enqueue(Conn::wrap(conn), &event(&row))?;
        Ok(true)
    })
}

/// The link with this code, deleted ones included.
pub fn get(conn: &mut Conn, code: &str) -> Result<Option<LinkRow>, DbError> {
    let conn = conn.pg();
    Ok(links::table.filter(links::code.eq(code)).select(LinkRow::as_select()).first(conn).optional()?)
}

/// A listing query. `workspace` restricts to one workspace's links, `owner` to one token's.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub workspace: Option<i64>,
    pub owner: Option<i64>,
    /// Only links carrying this tag of this workspace (the name case-insensitively).
    pub tag: Option<(i64, String)>,
    pub status: Option<LinkStatus>,
    /// Substring of the url or the code, case-insensitive.
    pub search: Option<String>,
    /// Only links whose destination currently has this risk level.
    pub risk: Option<Level>,
    /// Only links in this canary health state (`quarantined` means the link's status, whoever
    /// set it).
    pub health: Option<HealthState>,
    /// Return links with an id below this (keyset pagination, newest first).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Links matching `filter`, newest first; deleted ones only when asked for by status.
pub fn list(conn: &mut Conn, filter: &ListFilter) -> Result<Vec<LinkRow>, DbError> {
    let conn = conn.pg();
    let mut q = links::table.select(LinkRow::as_select()).into_boxed();
    if let Some(owner) = filter.owner {
        q = q.filter(links::owner_token_id.eq(owner));
    }
    if let Some(ws) = filter.workspace {
        q = q.filter(links::workspace_id.eq(ws));
    }
    if let Some((tag_ws, tag)) = &filter.tag {
        use diesel::sql_types::{BigInt, Bool, Text};
        q = q.filter(
            diesel::dsl::sql::<Bool>(
                "links.id IN (SELECT lt.link_id FROM link_tags lt JOIN tags t ON t.id = lt.tag_id \
                 WHERE t.workspace_id = ",
            )
            .bind::<BigInt, _>(*tag_ws)
            .sql(" AND lower(t.name) = lower(")
            .bind::<Text, _>(tag.clone())
            .sql("))"),
        );
    }
    match filter.status {
        Some(s) => q = q.filter(links::status.eq(AsText(s))),
        None => q = q.filter(links::status.ne(AsText(LinkStatus::Deleted))),
    }
    if let Some(search) = filter.search.as_deref().filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", escape_like(search));
        q = q.filter(links::url.ilike(pattern.clone()).or(links::code.ilike(pattern)));
    }
    if let Some(level) = filter.risk {
        use crate::schema::risk_assessments;
        q = q.filter(
            links::code.eq_any(
                risk_assessments::table
                    .filter(risk_assessments::level.eq(AsText(level)))
                    .select(risk_assessments::code),
            ),
        );
    }
    if let Some(state) = filter.health {
        use crate::schema::link_health;
        if state == HealthState::Quarantined {
            q = q.filter(links::status.eq(AsText(LinkStatus::Quarantined)));
        } else {
            q = q.filter(links::status.ne(AsText(LinkStatus::Quarantined))).filter(links::code.eq_any(
                link_health::table.filter(link_health::state.eq(AsText(state))).select(link_health::code),
            ));
        }
    }
    if let Some(before) = filter.before_id {
        q = q.filter(links::id.lt(before));
    }
    Ok(q.order(links::id.desc()).limit(filter.limit).load(conn)?)
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A partial update. `Some(None)` clears a nullable column.
#[derive(Debug, Clone, Default)]
pub struct LinkChanges {
    pub status: Option<LinkStatus>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub max_clicks: Option<Option<i64>>,
    /// A new destination: recorded as a revision by `actor` when it differs.
    pub url: Option<String>,
    pub title: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub rules: Option<Vec<Rule>>,
    pub forward_query: Option<bool>,
    pub utm: Option<Utm>,
    pub password_hash: Option<Option<String>>,
    /// Who makes the change (for the revision): the member, and a name to show.
    pub actor: Option<(Option<i64>, String)>,
}

impl LinkChanges {
    /// Whether anything would change.
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.expires_at.is_none()
            && self.max_clicks.is_none()
            && self.url.is_none()
            && self.title.is_none()
            && self.description.is_none()
            && self.rules.is_none()
            && self.forward_query.is_none()
            && self.utm.is_none()
            && self.password_hash.is_none()
    }
}

/// [`LinkChanges`] as diesel writes them.
#[derive(AsChangeset)]
#[diesel(table_name = links)]
struct Changeset {
    status: Option<AsText<LinkStatus>>,
    expires_at: Option<Option<DateTime<Utc>>>,
    max_clicks: Option<Option<i64>>,
    url: Option<String>,
    title: Option<Option<String>>,
    description: Option<Option<String>>,
    rules: Option<Jsonb<Vec<Rule>>>,
    forward_query: Option<bool>,
    utm: Option<Jsonb<Utm>>,
    password_hash: Option<Option<String>>,
}

impl From<&LinkChanges> for Changeset {
    fn from(c: &LinkChanges) -> Self {
        Self {
            status: c.status.map(AsText),
            expires_at: c.expires_at,
            max_clicks: c.max_clicks,
            url: c.url.clone(),
            title: c.title.clone(),
            description: c.description.clone(),
            rules: c.rules.clone().map(Jsonb),
            forward_query: c.forward_query,
            utm: c.utm.clone().map(Jsonb),
            password_hash: c.password_hash.clone(),
        }
    }
}

/// A change of a link's destination.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::link_revisions)]
pub struct RevisionRow {
    pub id: i64,
    pub changed_at: DateTime<Utc>,
    pub member_id: Option<i64>,
    pub actor: String,
    pub old_url: String,
    pub new_url: String,
}

/// A link's destination changes, oldest first.
pub fn revisions(conn: &mut Conn, link_id: i64) -> Result<Vec<RevisionRow>, DbError> {
    use crate::schema::link_revisions;
    Ok(link_revisions::table
        .filter(link_revisions::link_id.eq(link_id))
        .order(link_revisions::id)
        .select(RevisionRow::as_select())
        .load(conn.pg())?)
}

/// Applies `changes` to a live (not deleted) link; `None` when there is none.
pub fn update(conn: &mut Conn, code: &str, changes: &LinkChanges) -> Result<Option<LinkRow>, DbError> {
    let conn = conn.pg();
    conn.transaction(|conn| {
        let current: Option<LinkRow> = links::table
            .filter(links::code.eq(code))
            .filter(links::status.ne(AsText(LinkStatus::Deleted)))
            .select(LinkRow::as_select())
            .for_update()
            .first(conn)
            .optional()?;
        let Some(current) = current else { return Ok(None) };
        if let Some(new_url) = changes.url.as_deref().filter(|u| *u != current.url) {
            use crate::schema::link_revisions;
            let (member, actor) = changes.actor.clone().unwrap_or((None, String::new()));
            diesel::insert_into(link_revisions::table)
                .values((
                    link_revisions::link_id.eq(current.id),
                    link_revisions::member_id.eq(member),
                    link_revisions::actor.eq(actor),
                    link_revisions::old_url.eq(&current.url),
                    link_revisions::new_url.eq(new_url),
                ))
                .execute(conn)?;
        }
        let status_changed = changes.status.is_some_and(|s| s != current.status);
        let row = diesel::update(links::table.filter(links::id.eq(current.id)))
            .set((Changeset::from(changes), links::updated_at.eq(diesel::dsl::now)))
            .returning(LinkRow::as_returning())
            .get_result(conn)?;
        if status_changed {
            if current.status == LinkStatus::Quarantined && changes.status == Some(LinkStatus::Active) {
                // Released by hand: the canary's run of failures no longer counts.
                crate::health::reset(Conn::wrap(conn), code)?;
            }
            let row = diesel::update(links::table.filter(links::id.eq(current.id)))
                .set(links::status_since.eq(diesel::dsl::now))
                .returning(LinkRow::as_returning())
                .get_result(conn)?;
            return Ok(Some(row));
        }
        Ok(Some(row))
    })
}

/// Marks a link deleted; its code stays taken forever. `false` when there was no live link.
pub fn soft_delete(conn: &mut Conn, code: &str) -> Result<bool, DbError> {
    let conn = conn.pg();
    let n = diesel::update(links::table)
        .filter(links::code.eq(code))
        .filter(links::status.ne(AsText(LinkStatus::Deleted)))
        .set((
            links::status.eq(AsText(LinkStatus::Deleted)),
            links::status_since.eq(diesel::dsl::now),
            links::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(n > 0)
}

/// The atomic counter of a `max_clicks` link: takes one click if one is left and the link is
/// still live. Returns the new count, or `None` when the link is used up or gone. Concurrent
/// callers serialise on the row, so exactly `max_clicks` calls succeed.
pub fn take_click(conn: &mut Conn, code: &str) -> Result<Option<i64>, DbError> {
    let conn = conn.pg();
    Ok(diesel::update(links::table)
        .filter(links::code.eq(code))
        .filter(links::status.eq(AsText(LinkStatus::Active)))
        .filter(links::max_clicks.is_null().or(links::click_count.lt(links::max_clicks.assume_not_null())))
        .filter(links::expires_at.is_null().or(links::expires_at.gt(diesel::dsl::now)))
        .set(links::click_count.eq(links::click_count + 1))
        .returning(links::click_count)
        .get_result(conn)
        .optional()?)
}

/// The redirect's view of a link, with its destination's risk once scored.
pub fn snapshot(conn: &mut Conn, code: &str) -> Result<Option<LinkSnapshot>, DbError> {
    let Some(row) = get(conn, code)? else { return Ok(None) };
    let mut snap = row.snapshot();
    if let Some(risk) = crate::risk::get(conn, code)? {
        snap.risk = Some(risk.level);
        snap.risk_reasons = risk.reasons.iter().map(|r| r.to_string()).collect();
    }
    Ok(Some(snap))
}

/// Live links to (re-)score, by id after `after_id`: all of them, or only those never scored.
pub fn for_rescore(conn: &mut Conn, all: bool, after_id: i64, limit: i64) -> Result<Vec<LinkRow>, DbError> {
    let conn = conn.pg();
    use crate::schema::risk_assessments;
    let mut q = links::table
        .filter(links::status.ne(AsText(LinkStatus::Deleted)))
        .filter(links::id.gt(after_id))
        .select(LinkRow::as_select())
        .into_boxed();
    if !all {
        q = q.filter(diesel::dsl::not(
            links::code.eq_any(risk_assessments::table.select(risk_assessments::code)),
        ));
    }
    Ok(q.order(links::id).limit(limit).load(conn)?)
}

/// The workspace of each of `codes` (link keys) that names a link, deleted ones included (a
/// link's workspace never changes, so a caller may remember the answer); codes of no link are
/// absent from the answer. One query for the whole batch.
pub fn workspaces_of(conn: &mut Conn, codes: &[String]) -> Result<Vec<(String, i64)>, DbError> {
    let conn = conn.pg();
    Ok(links::table
        .filter(links::code.eq_any(codes))
        .select((links::code, links::workspace_id))
        .load(conn)?)
}
