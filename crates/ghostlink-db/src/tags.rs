//! Tags: a workspace's own names (case-insensitively unique), many per link.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::schema::{link_tags, tags};
use crate::{Conn, DbError};

/// A tag and how many live links carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCount {
    pub name: String,
    pub links: i64,
}

/// Makes `link`'s tags exactly `names` (creating the workspace's missing tags), in one
/// transaction. A name is matched to an existing tag case-insensitively and keeps that tag's
/// spelling.
pub fn set_for_link(conn: &mut Conn, workspace: i64, link: i64, names: &[String]) -> Result<(), DbError> {
    conn.pg().transaction(|c| {
        diesel::delete(link_tags::table.filter(link_tags::link_id.eq(link))).execute(c)?;
        for name in names {
            diesel::sql_query(
                "INSERT INTO tags (workspace_id, name) VALUES ($1, $2) \
                 ON CONFLICT (workspace_id, lower(name)) DO NOTHING",
            )
            .bind::<diesel::sql_types::BigInt, _>(workspace)
            .bind::<diesel::sql_types::Text, _>(name)
            .execute(c)?;
            let id: i64 = tags::table
                .filter(tags::workspace_id.eq(workspace))
                .filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("lower(name) = lower(")
                        .bind::<diesel::sql_types::Text, _>(name)
                        .sql(")"),
                )
                .select(tags::id)
                .first(c)?;
            diesel::insert_into(link_tags::table)
                .values((link_tags::link_id.eq(link), link_tags::tag_id.eq(id)))
                .on_conflict_do_nothing()
                .execute(c)?;
        }
        Ok(())
    })
}

/// The tag names of each of `links`, sorted case-insensitively.
pub fn for_links(conn: &mut Conn, link_ids: &[i64]) -> Result<HashMap<i64, Vec<String>>, DbError> {
    let rows: Vec<(i64, String)> = link_tags::table
        .inner_join(tags::table)
        .filter(link_tags::link_id.eq_any(link_ids))
        .select((link_tags::link_id, tags::name))
        .load(conn.pg())?;
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for (link, name) in rows {
        out.entry(link).or_default().push(name);
    }
    for names in out.values_mut() {
        names.sort_by_key(|n| n.to_lowercase());
    }
    Ok(out)
}

/// A workspace's tags with how many live links carry each, by name.
pub fn list(conn: &mut Conn, workspace: i64) -> Result<Vec<TagCount>, DbError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        links: i64,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT t.name, count(l.id) AS links FROM tags t \
         LEFT JOIN link_tags lt ON lt.tag_id = t.id \
         LEFT JOIN links l ON l.id = lt.link_id AND l.status <> $2 \
         WHERE t.workspace_id = $1 GROUP BY t.id, t.name ORDER BY lower(t.name)",
    )
    .bind::<diesel::sql_types::BigInt, _>(workspace)
    .bind::<diesel::sql_types::Text, _>(ghostlink_domain::LinkStatus::Deleted.as_str())
    .load(conn.pg())?;
    Ok(rows.into_iter().map(|r| TagCount { name: r.name, links: r.links }).collect())
}

/// Renames a tag (found case-insensitively); `Ok(false)` when the workspace has none of that
/// name, `Conflict` when the new name is another tag's.
pub fn rename(conn: &mut Conn, workspace: i64, from: &str, to: &str) -> Result<bool, DbError> {
    let n =
        diesel::sql_query("UPDATE tags SET name = $3 WHERE workspace_id = $1 AND lower(name) = lower($2)")
            .bind::<diesel::sql_types::BigInt, _>(workspace)
            .bind::<diesel::sql_types::Text, _>(from)
            .bind::<diesel::sql_types::Text, _>(to)
            .execute(conn.pg())?;
    Ok(n > 0)
}

/// Deletes a tag from the workspace and from every link carrying it; `false` when there was none.
pub fn delete(conn: &mut Conn, workspace: i64, name: &str) -> Result<bool, DbError> {
    let n = diesel::sql_query("DELETE FROM tags WHERE workspace_id = $1 AND lower(name) = lower($2)")
        .bind::<diesel::sql_types::BigInt, _>(workspace)
        .bind::<diesel::sql_types::Text, _>(name)
        .execute(conn.pg())?;
    Ok(n > 0)
}
