//! Import and export of a workspace's links (`GET /api/v1/export`, `POST /api/v1/import`).
//!
//! **Export** streams every live link of the caller's own workspace (never another's, not even
//! for the instance admin), oldest first, read in pages of [`EXPORT_PAGE`] by id, as CSV (a
//! header row, then one row per link, via the `csv` crate) or as a JSON array. Every field is
//! there — `tags`, `utm` and `rules` as JSON in CSV cells — except the password: a link says
//! `password_protected` only. CSV cells a spreadsheet would run as a formula (starting with `=`,
//! `+`, `-`, `@`, tab or CR) get a leading `'` (`ghostlink_domain::import::neutralise_formula`);
//! the CSV import takes it off again, so an export imports back as it was. A database failure
//! mid-stream ends the response early (the client sees a truncated body, never a partial
//! document that looks whole: the JSON array is unclosed, and the CSV ends mid-file).
//!
//! **Import** reads a document of one of `ghostlink_domain::import::Format` (up to
//! [`IMPORT_BODY_LIMIT`]: this route's own limit, the JSON API's 16 KiB elsewhere; the body is
//! read only after authentication, as everywhere). Each row is validated exactly like a create
//! (`crate::api::read_new_link`), and a refused row is reported, never failing the others.
//! Rows are written in batches ([`IMPORT_BATCH`], up to three at once), each one transaction
//! with its `link.created` events, so imported links are risk-scored and probed like created
//! ones. 100,000 rows import at about 5,900 rows/s (release build, the ignored test
//! `transfer::bench_import`). Idempotent:
//!
//! - a row with a code: `unchanged` when this workspace already has that code with the same
//!   destination; `refused` with `alias_taken` when the code is another destination's, another
//!   workspace's, or a deleted link's — nothing is ever overwritten;
//! - a row without a code: matched by destination within the workspace — `unchanged` when a
//!   live link of the workspace already goes there (the report names its code), else created
//!   with a generated code. So importing the same document twice creates nothing the second time.
//!
//! `dry_run=true` validates and matches the same way and writes nothing (`created` then means
//! "would be created", with no code for rows that would get a generated one). The report counts
//! every row and lists every refused row plus the first [`REPORTED_OTHERS`] others
//! (`rows_omitted` says how many are left out).

mod export;
mod import;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use export::{__path_export, export};
pub use import::{__path_import, import};

/// Links read per page of an export.
pub const EXPORT_PAGE: i64 = 1000;
/// The largest import body, in bytes.
pub const IMPORT_BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Rows written per transaction of an import.
pub const IMPORT_BATCH: usize = 1000;
/// Rows other than refused ones the report lists.
pub const REPORTED_OTHERS: usize = 1000;

/// Query of `GET /api/v1/export`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `csv` or `json` (default `json`).
    #[param(pattern = "^(csv|json)?$")]
    pub format: Option<String>,
}

/// Query of `POST /api/v1/import`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `csv`, `json`, `shlink`, `yourls`, `kutt` or `bitly` (default: `json` for a JSON body,
    /// `csv` otherwise).
    #[param(pattern = "^(csv|json|shlink|yourls|kutt|bitly)?$")]
    pub format: Option<String>,
    /// `true`: validate and report, write nothing (default `false`).
    #[param(pattern = "^(true|false)?$")]
    pub dry_run: Option<String>,
}

/// One exported link (a CSV row has the same columns, in this order).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportLink {
    pub code: String,
    /// The custom domain the link is on (`null`, an empty CSV cell: the default domain).
    pub domain: Option<String>,
    pub short_url: String,
    pub url: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// `active`, `disabled` or `quarantined`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_clicks: Option<i64>,
    pub click_count: i64,
    pub forward_query: bool,
    /// UTM parameters (`{}` when none).
    #[schema(value_type = Object)]
    pub utm: ghostlink_domain::utm::Utm,
    /// Redirect rules, first match wins.
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<ghostlink_domain::rules::Rule>,
    /// Whether visitors are asked for a password (never exported).
    pub password_protected: bool,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    /// Rows read.
    pub total: usize,
    pub created: usize,
    pub unchanged: usize,
    pub refused: usize,
    /// Every refused row, then the first 1000 others, in document order.
    pub rows: Vec<ImportRowReport>,
    /// Rows counted but not listed.
    pub rows_omitted: usize,
}

/// One row of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportRowReport {
    /// The CSV line the row starts on, or the position of the object in a JSON array (from 1).
    pub line: usize,
    /// The link's code, `host/code` on a custom domain (absent for a refused row without one,
    /// or a row a dry run would give a generated code).
    pub code: Option<String>,
    /// `created`, `unchanged` or `refused`.
    #[schema(value_type = String, pattern = "^(created|unchanged|refused)$")]
    pub status: ghostlink_domain::import::RowStatus,
    /// Why a row was refused: the error a create would answer.
    pub error: Option<crate::api::ErrorDetail>,
}
