//! How typed values are stored: a domain enum as its name in a `text` column ([`AsText`]), an
//! optional one in a `text NOT NULL` column that says none with `''` ([`AsTextOrEmpty`]), a
//! serde value as `jsonb` ([`Jsonb`]).
//!
//! diesel's `ToSql`/`FromSql` cannot be implemented here for the domain's types themselves
//! (both the traits and the types belong to other crates), so each is stored through a wrapper
//! of this crate. Models keep the domain type in their public fields and name the wrapper in
//! `#[diesel(serialize_as = …, deserialize_as = …)]`; [`stored_as!`] writes the conversions.
//!
//! Reading never guesses: a name that is none of the enum's variants, or JSON that is not the
//! expected shape, fails the query (diesel's deserialization error, [`crate::DbError::Query`])
//! and counts `db_rows_unreadable_total{column}` — a bad row is a bug to see, not a default.

use std::io::Write;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types;
use ghostlink_domain::Named;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A [`Named`] enum in a `text` column, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = sql_types::Text)]
pub struct AsText<T>(pub T);

/// An optional [`Named`] enum in a `text NOT NULL` column: `''` is none (never a name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = sql_types::Text)]
pub struct AsTextOrEmpty<T>(pub Option<T>);

/// A [`Named`] enum in a nullable `text` column (read only: write `Option<&str>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct OptText<T>(pub Option<T>);

/// A serde value in a `jsonb` column.
#[derive(Debug, Clone, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = sql_types::Jsonb)]
pub struct Jsonb<T>(pub T);

impl<T> From<T> for AsText<T> {
    fn from(v: T) -> Self {
        AsText(v)
    }
}

impl<T> From<Option<T>> for AsTextOrEmpty<T> {
    fn from(v: Option<T>) -> Self {
        AsTextOrEmpty(v)
    }
}

impl<T> From<AsTextOrEmpty<T>> for Option<T> {
    fn from(v: AsTextOrEmpty<T>) -> Self {
        v.0
    }
}

impl<T> From<OptText<T>> for Option<T> {
    fn from(v: OptText<T>) -> Self {
        v.0
    }
}

impl<T> From<T> for Jsonb<T> {
    fn from(v: T) -> Self {
        Jsonb(v)
    }
}

/// Counts a value a column held that its type cannot read, and says which column type.
fn unreadable(column: &'static str, message: String) -> Box<dyn std::error::Error + Send + Sync> {
    metrics::counter!("db_rows_unreadable_total", "column" => column).increment(1);
    message.into()
}

impl<T: Named> ToSql<sql_types::Text, Pg> for AsText<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.0.as_str().as_bytes())?;
        Ok(IsNull::No)
    }
}

impl<T: Named> FromSql<sql_types::Text, Pg> for AsText<T> {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let text = std::str::from_utf8(value.as_bytes())
            .map_err(|e| unreadable(T::KIND, format!("a {} that is not UTF-8: {e}", T::KIND)))?;
        text.parse().map(AsText).map_err(|e| unreadable(T::KIND, format!("stored {e}")))
    }
}

impl<T: Named> FromSql<sql_types::Nullable<sql_types::Text>, Pg> for OptText<T> {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        AsText::<T>::from_sql(value).map(|AsText(v)| OptText(Some(v)))
    }

    fn from_nullable_sql(value: Option<PgValue<'_>>) -> deserialize::Result<Self> {
        value.map_or(Ok(OptText(None)), Self::from_sql)
    }
}

impl<T: Named> ToSql<sql_types::Text, Pg> for AsTextOrEmpty<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.0.map_or("", T::as_str).as_bytes())?;
        Ok(IsNull::No)
    }
}

impl<T: Named> FromSql<sql_types::Text, Pg> for AsTextOrEmpty<T> {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        if value.as_bytes().is_empty() {
            return Ok(AsTextOrEmpty(None));
        }
        AsText::<T>::from_sql(value).map(|AsText(v)| AsTextOrEmpty(Some(v)))
    }
}

/// The version byte of `jsonb`'s binary format.
const JSONB_VERSION: u8 = 1;

impl<T: Serialize + std::fmt::Debug> ToSql<sql_types::Jsonb, Pg> for Jsonb<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&[JSONB_VERSION])?;
        serde_json::to_writer(out, &self.0)?;
        Ok(IsNull::No)
    }
}

impl<T: DeserializeOwned> FromSql<sql_types::Jsonb, Pg> for Jsonb<T> {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let what = std::any::type_name::<T>();
        match value.as_bytes().split_first() {
            Some((&JSONB_VERSION, json)) => serde_json::from_slice(json)
                .map(Jsonb)
                .map_err(|e| unreadable("jsonb", format!("stored JSON is not a {what}: {e}"))),
            _ => Err(unreadable("jsonb", "not jsonb version 1".into())),
        }
    }
}

/// `From` a wrapper to the type it wraps, for each type stored through it (a generic impl is
/// what the orphan rule forbids).
macro_rules! stored_as {
    ($wrapper:ident: $($ty:ty),+ $(,)?) => {
        $(impl From<$crate::stored::$wrapper<$ty>> for $ty {
            fn from(v: $crate::stored::$wrapper<$ty>) -> Self {
                v.0
            }
        })+
    };
}

stored_as!(
    AsText: ghostlink_domain::LinkStatus,
    ghostlink_domain::risk::Level,
    ghostlink_domain::HealthState,
    ghostlink_domain::CheckOutcome,
    ghostlink_domain::ClickOutcome,
    ghostlink_domain::Role,
    ghostlink_domain::workspace::MemberRole,
    ghostlink_domain::probe::FindingKind,
    ghostlink_domain::probe::ProbeAction,
);
stored_as!(
    Jsonb: Vec<ghostlink_domain::risk::Reason>,
    Vec<String>,
    Vec<ghostlink_domain::workspace::Scope>,
    Vec<ghostlink_domain::rules::Rule>,
    ghostlink_domain::utm::Utm,
);

/// Counts by a named value, as grouped by a query, completed to every value of the enum (0
/// where the query found none), in the enum's order: what a gauge per value wants.
pub(crate) fn count_every<T: Named>(counted: Vec<(AsText<T>, i64)>) -> Vec<(T, i64)> {
    T::ALL.iter().map(|&v| (v, counted.iter().find(|(c, _)| c.0 == v).map_or(0, |(_, n)| *n))).collect()
}
