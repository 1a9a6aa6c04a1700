//! Reading other shorteners' exports (and GhostLink's own) into rows to import, one file per
//! format behind [`Format`].
//!
//! Parsing only: each row becomes the body a `POST /api/v1/links` would carry ([`Record::body`]:
//! `url`, `alias`, `title`, `description`, `tags`, `expires_at`, `max_clicks`, `forward_query`,
//! `utm`, `rules`), so the shortener validates it with exactly the rules of a create. A row this
//! module cannot read at all (not UTF-8, no URL column) is a [`RowError`] for that row only; a
//! document that is not the format at all is a [`DocumentError`]. Nothing here does I/O.

mod bitly;
mod ghostlink;
mod kutt;
mod shlink;
mod table;
mod yourls;

use serde_json::{Map, Value};

pub use table::{neutralise_formula, unneutralise_formula};

crate::named::named_enum! {
    /// The shape of an import (or export) document.
    pub enum Format: "import format" {
        /// GhostLink's own CSV export (a header row; see `ghostlink.rs` for the columns).
        Csv = "csv",
        /// GhostLink's own JSON export: an array of link objects.
        Json = "json",
        /// Shlink's CSV: `Long URL`, `Short code`, optional `Title`, `Tags` (`|`-separated);
        /// the web client's `shortCode`, `longUrl`, `title`, `tags` spellings too.
        Shlink = "shlink",
        /// YOURLS's `yourls_url` table as CSV: `keyword,url,title,timestamp,ip,clicks`, with or
        /// without that header row.
        Yourls = "yourls",
        /// Kutt's API JSON: `{"data": [{"address", "target", "description", "expire_in", ...}]}`
        /// or the bare array.
        Kutt = "kutt",
        /// Bitly's CSV export: `link` (the short URL, whose path is the code), `long_url`,
        /// `title`, `created`, optional `tags`.
        Bitly = "bitly",
    }
}

crate::named::named_enum! {
    /// What an import did with a row.
    pub enum RowStatus: "import row status" {
        Created = "created",
        /// The link was already there: same code and destination, or (without a code) the
        /// same destination.
        Unchanged = "unchanged",
        Refused = "refused",
    }
}

impl Format {
    /// Whether the document is JSON (else CSV).
    pub fn is_json(self) -> bool {
        matches!(self, Format::Json | Format::Kutt)
    }
}

/// The most rows one import may hold (the document is refused past it).
pub const MAX_ROWS: usize = 100_000;

/// One row to import: its position and the create body it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The CSV line the row starts on (1 is the header, when there is one), or the 1-based
    /// position of the object in a JSON array.
    pub line: usize,
    /// The fields of a create request (`alias` is the row's code, when it has one).
    pub body: Map<String, Value>,
    /// The row says the link is disabled (GhostLink's own exports): imported disabled.
    pub disabled: bool,
}

/// A row that could not be read, and why (the report's error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RowError {
    pub line: usize,
    /// Stable machine-readable code, e.g. `invalid_utf8`.
    pub code: &'static str,
    pub message: String,
}

/// A document that is not of the format at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("not {format} JSON: {why}")]
    Json { format: &'static str, why: String },
    #[error("the {format} header row has no {column} column (found: {found})")]
    MissingColumn { format: &'static str, column: &'static str, found: String },
    #[error("the document is empty")]
    Empty,
    #[error("more than {MAX_ROWS} rows: split the import")]
    TooManyRows,
    #[error("not CSV: {0}")]
    Csv(String),
}

impl DocumentError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            DocumentError::Json { .. } | DocumentError::Csv(_) => "invalid_document",
            DocumentError::MissingColumn { .. } => "missing_column",
            DocumentError::Empty => "empty_document",
            DocumentError::TooManyRows => "too_many_rows",
        }
    }
}

/// Each row of `doc` read as `format`: a record, or why the row could not be read.
pub fn parse(format: Format, doc: &[u8]) -> Result<Vec<Result<Record, RowError>>, DocumentError> {
    let rows = match format {
        Format::Csv => ghostlink::csv(doc)?,
        Format::Json => ghostlink::json(doc)?,
        Format::Shlink => shlink::parse(doc)?,
        Format::Yourls => yourls::parse(doc)?,
        Format::Kutt => kutt::parse(doc)?,
        Format::Bitly => bitly::parse(doc)?,
    };
    if rows.len() > MAX_ROWS {
        return Err(DocumentError::TooManyRows);
    }
    Ok(rows)
}

/// A JSON document's array of objects: the bare array, or the array under `key` of an object.
fn json_items(format: &'static str, doc: &[u8], key: &str) -> Result<Vec<Value>, DocumentError> {
    let bad = |why: String| DocumentError::Json { format, why };
    if doc.iter().all(u8::is_ascii_whitespace) {
        return Err(DocumentError::Empty);
    }
    let value: Value = serde_json::from_slice(doc).map_err(|e| bad(e.to_string()))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut m) => match m.remove(key) {
            Some(Value::Array(items)) => items,
            _ => return Err(bad(format!("expected an array, or an object with a '{key}' array"))),
        },
        _ => return Err(bad(format!("expected an array, or an object with a '{key}' array"))),
    };
    if items.len() > MAX_ROWS {
        return Err(DocumentError::TooManyRows);
    }
    Ok(items)
}

/// Puts `value` in `body` under `key` unless it is empty text or null.
fn put(body: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(v) => {
            body.insert(key.to_string(), v);
        }
    }
}

/// A text cell as the JSON value of a create body: a whole number when it reads as one (for
/// `max_clicks`), else the text (which then fails the field's rule, naming it).
fn number_or_text(cell: &str) -> Value {
    match cell.trim().parse::<i64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::String(cell.to_string()),
    }
}

/// Tag names of a cell: `sep`-separated, blanks dropped (validation is the create's).
fn split_tags(cell: &str, sep: char) -> Value {
    Value::Array(
        cell.split(sep).map(str::trim).filter(|t| !t.is_empty()).map(|t| Value::String(t.into())).collect(),
    )
}

/// The last path segment of a short URL (`https://bit.ly/3abc` → `3abc`), or the cell itself
/// when it is not a URL with a path.
fn code_of_short_url(cell: &str) -> String {
    let cell = cell.trim();
    let without_scheme = cell.split_once("://").map_or(cell, |(_, rest)| rest);
    match without_scheme.split_once('/') {
        Some((_, path)) => path.trim_end_matches('/').rsplit('/').next().unwrap_or("").to_string(),
        None if cell.contains("://") => String::new(),
        None => cell.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_url_codes() {
        assert_eq!(code_of_short_url("https://bit.ly/3abcDEF"), "3abcDEF");
        assert_eq!(code_of_short_url("bit.ly/xyz/"), "xyz");
        assert_eq!(code_of_short_url("plain"), "plain");
        assert_eq!(code_of_short_url("https://bit.ly"), "");
    }

    #[test]
    fn formats_have_names() {
        assert_eq!("kutt".parse::<Format>(), Ok(Format::Kutt));
        assert!("xml".parse::<Format>().is_err());
        assert!(Format::Json.is_json() && !Format::Bitly.is_json());
    }

    #[test]
    fn empty_and_oversized_documents_are_refused() {
        assert_eq!(parse(Format::Json, b"  "), Err(DocumentError::Empty));
        assert_eq!(parse(Format::Csv, b""), Err(DocumentError::Empty));
        let many = format!("url\n{}", "https://a.example/\n".repeat(MAX_ROWS + 1));
        assert_eq!(parse(Format::Csv, many.as_bytes()), Err(DocumentError::TooManyRows));
    }
}
