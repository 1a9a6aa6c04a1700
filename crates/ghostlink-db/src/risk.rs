//! Risk assessments: the latest per link.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::risk_assessments;
use crate::DbError;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = risk_assessments)]
pub struct RiskRow {
    pub code: String,
    pub url: String,
    pub score: i32,
    pub level: String,
    /// JSON array of `{rule, weight, detail}`.
    pub reasons: String,
    pub assessed_at: DateTime<Utc>,
}

/// Stores an assessment, replacing the previous one of the code (idempotent).
pub fn upsert(conn: &mut PgConnection, row: &RiskRow) -> Result<(), DbError> {
    diesel::insert_into(risk_assessments::table)
        .values(row)
        .on_conflict(risk_assessments::code)
        .do_update()
        .set(row)
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut PgConnection, code: &str) -> Result<Option<RiskRow>, DbError> {
    Ok(risk_assessments::table
        .filter(risk_assessments::code.eq(code))
        .select(RiskRow::as_select())
        .first(conn)
        .optional()?)
}

/// Links by current level, for the `links by level` gauge.
pub fn count_by_level(conn: &mut PgConnection) -> Result<Vec<(String, i64)>, DbError> {
    use diesel::dsl::count_star;
    Ok(risk_assessments::table
        .group_by(risk_assessments::level)
        .select((risk_assessments::level, count_star()))
        .load(conn)?)
}

/// The `detail` of each stored reason (the JSON written by the risk scorer); unreadable JSON
/// gives none.
pub fn reason_details(reasons_json: &str) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct R {
        rule: String,
        detail: String,
    }
    serde_json::from_str::<Vec<R>>(reasons_json)
        .map(|v| v.into_iter().map(|r| format!("{}: {}", r.rule, r.detail)).collect())
        .unwrap_or_default()
}
