//! The query of the stats routes, read into a [`Window`]: every value checked, a bad one a 400
//! naming the parameter.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use ghostlink_domain::analytics::{point_count, Dimension, Granularity, MAX_POINTS};
use ghostlink_web::ApiError;
use serde::Deserialize;
use utoipa::IntoParams;

/// The longest range a query may cover.
pub const MAX_RANGE_DAYS: i64 = 3 * 366;
/// The range when none is given: the last 30 days.
const DEFAULT_DAYS: i64 = 30;

/// What to count.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Start of the range (RFC 3339, inclusive); default: 30 days before `to`.
    pub from: Option<String>,
    /// End of the range (RFC 3339, exclusive); default: now.
    pub to: Option<String>,
    /// `hour`, `day` (default), `week` (from Monday) or `month`.
    pub granularity: Option<String>,
    /// An IANA time zone for the series' buckets (`Europe/Paris`); default `UTC`.
    pub tz: Option<String>,
    /// Comma-separated breakdowns: country, region, browser, os, device, referrer, domain,
    /// rule, traffic, outcome, link (a workspace's top links); default: all of them;
    /// `none` for none.
    pub breakdowns: Option<String>,
    /// Values listed per breakdown, 1–100 (default 10).
    pub limit: Option<i64>,
}

/// A checked query.
#[derive(Debug, Clone)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub tz: Tz,
    pub granularity: Granularity,
    pub breakdowns: Vec<Dimension>,
    pub limit: i64,
}

impl Window {
    /// The UTC days the range touches (breakdowns are counted by UTC day).
    pub fn days(&self) -> (NaiveDate, NaiveDate) {
        let last = self.to - Duration::nanoseconds(1);
        (self.from.date_naive(), last.max(self.from).date_naive())
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

/// At most 64 characters of a value, for a message.
fn shown(s: &str) -> String {
    s.chars().take(64).collect()
}

pub(crate) fn instant(name: &str, v: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| invalid(format!("{name}: '{}' is not an RFC 3339 date and time", shown(v))))
}

/// `[from, to)` from the two optional parameters: default the last 30 days, at most
/// [`MAX_RANGE_DAYS`], `from` before `to`.
pub(crate) fn range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let to = to.map(|v| instant("to", v)).transpose()?.unwrap_or_else(Utc::now);
    let from = from.map(|v| instant("from", v)).transpose()?.unwrap_or(to - Duration::days(DEFAULT_DAYS));
    if from >= to {
        return Err(invalid("from: must be before to".into()));
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(invalid(format!("from, to: a range of at most {MAX_RANGE_DAYS} days")));
    }
    Ok((from, to))
}

impl StatsQuery {
    /// Checks every parameter; `workspace`: the workspace route (where `link` is a breakdown).
    pub fn resolve(&self, workspace: bool) -> Result<Window, ApiError> {
        let (from, to) = range(self.from.as_deref(), self.to.as_deref())?;
        let granularity = match self.granularity.as_deref() {
            None | Some("") => Granularity::Day,
            Some(g) => {
                g.parse().map_err(|e: ghostlink_domain::UnknownName| invalid(format!("granularity: {e}")))?
            }
        };
        let tz: Tz = match self.tz.as_deref() {
            None | Some("") => Tz::UTC,
            Some(z) => {
                z.parse().map_err(|_| invalid(format!("tz: '{}' is not an IANA time zone", shown(z))))?
            }
        };
        let points = point_count(from, to, granularity, tz);
        if points > MAX_POINTS {
            return Err(invalid(format!(
                "granularity: {points} points of {granularity} over this range, at most {MAX_POINTS}"
            )));
        }
        let breakdowns = match self.breakdowns.as_deref().map(str::trim) {
            None | Some("") => super::applicable(workspace).collect(),
            Some("none") => Vec::new(),
            Some(list) => {
                let mut dims = Vec::new();
                for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let d: Dimension = name
                        .parse()
                        .map_err(|e: ghostlink_domain::UnknownName| invalid(format!("breakdowns: {e}")))?;
                    if !super::applicable(workspace).any(|a| a == d) {
                        return Err(invalid(format!(
                            "breakdowns: '{d}' is a breakdown of a workspace's stats only"
                        )));
                    }
                    if !dims.contains(&d) {
                        dims.push(d);
                    }
                }
                dims
            }
        };
        let limit = self.limit.unwrap_or(10);
        if !(1..=100).contains(&limit) {
            return Err(invalid("limit: between 1 and 100".into()));
        }
        Ok(Window { from, to, tz, granularity, breakdowns, limit })
    }
}
