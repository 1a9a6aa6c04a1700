//! Risk assessments: the latest per link.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ghostlink_domain::risk::{Level, Reason};

use crate::schema::risk_assessments;
use crate::stored::{AsText, Jsonb};
use crate::{Conn, DbError};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = risk_assessments)]
pub struct RiskRow {
    pub code: String,
    pub url: String,
    pub score: i32,
    #[diesel(serialize_as = AsText<Level>, deserialize_as = AsText<Level>)]
    pub level: Level,
    /// The rules that contributed (`jsonb`, an array of `{rule, weight, detail}`).
    #[diesel(serialize_as = Jsonb<Vec<Reason>>, deserialize_as = Jsonb<Vec<Reason>>)]
    pub reasons: Vec<Reason>,
    pub assessed_at: DateTime<Utc>,
}

/// Stores an assessment, replacing the previous one of the code (idempotent).
pub fn upsert(conn: &mut Conn, row: &RiskRow) -> Result<(), DbError> {
    let conn = conn.pg();
    diesel::insert_into(risk_assessments::table)
        .values(row.clone())
        .on_conflict(risk_assessments::code)
        .do_update()
        .set(row.clone())
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut Conn, code: &str) -> Result<Option<RiskRow>, DbError> {
    let conn = conn.pg();
    Ok(risk_assessments::table
        .filter(risk_assessments::code.eq(code))
        .select(RiskRow::as_select())
        .first(conn)
        .optional()?)
}

/// Links by current level, for the `links by level` gauge: every level, those without a link
/// counted 0.
pub fn count_by_level(conn: &mut Conn) -> Result<Vec<(Level, i64)>, DbError> {
    let conn = conn.pg();
    use diesel::dsl::count_star;
    let counted: Vec<(AsText<Level>, i64)> = risk_assessments::table
        .group_by(risk_assessments::level)
        .select((risk_assessments::level, count_star()))
        .load(conn)?;
    Ok(crate::stored::count_every(counted))
}
