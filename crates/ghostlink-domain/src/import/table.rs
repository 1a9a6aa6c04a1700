//! CSV documents as a table of text cells under a header row, for every CSV format; and the
//! spreadsheet-formula guard of exported cells.
//!
//! Rows may have fewer or more cells than the header (missing cells are empty); a row whose
//! bytes are not UTF-8 is that row's error, not the document's. A UTF-8 byte order mark before
//! the header (spreadsheets write one) is skipped.

use super::{DocumentError, RowError, MAX_ROWS};

/// A CSV document read into cells.
pub(super) struct Table {
    /// The header's names, normalised by [`normalise`].
    headers: Vec<String>,
    /// Each row after the header: its line, and its cells or why they cannot be read.
    pub rows: Vec<(usize, Result<Vec<String>, RowError>)>,
}

/// A header name compared loosely: lower case, without spaces, `_` and `-`
/// (`Long URL` = `long_url` = `longUrl`).
pub(super) fn normalise(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, ' ' | '_' | '-')).flat_map(char::to_lowercase).collect()
}

impl Table {
    /// Reads `doc`; `is_header` says whether its first row names the columns.
    pub fn read(doc: &[u8], is_header: impl Fn(&[String]) -> bool) -> Result<Table, DocumentError> {
        let doc = doc.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(doc);
        if doc.iter().all(u8::is_ascii_whitespace) {
            return Err(DocumentError::Empty);
        }
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(doc);
        let mut record = csv::ByteRecord::new();
        let mut headers = None;
        let mut rows = Vec::new();
        // Where a record starts, as a line: counted from its byte offset (the reader's own line
        // count is off after a skipped blank line), walking forward only.
        let (mut at, mut lines) = (0usize, 1usize);
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(DocumentError::Csv(e.to_string())),
            }
            // A blank line between rows is no row.
            if record.len() == 1 && record.get(0).is_some_and(|c| c.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            let start = record.position().map_or(at, |p| p.byte() as usize).min(doc.len());
            lines += doc[at..start].iter().filter(|&&b| b == b'\n').count();
            at = start;
            // A record's offset may sit before the blank lines that precede it.
            while at < doc.len() && matches!(doc[at], b'\n' | b'\r') {
                lines += usize::from(doc[at] == b'\n');
                at += 1;
            }
            let line = lines;
            let cells: Result<Vec<String>, RowError> = record
                .iter()
                .map(|c| {
                    String::from_utf8(c.to_vec()).map_err(|_| RowError {
                        line,
                        code: "invalid_utf8",
                        message: "the row is not UTF-8 text".into(),
                    })
                })
                .collect();
            if headers.is_none() {
                match &cells {
                    Ok(c) if is_header(c) => {
                        headers = Some(c.iter().map(|h| normalise(h)).collect());
                        continue;
                    }
                    _ => headers = Some(Vec::new()),
                }
            }
            if rows.len() >= MAX_ROWS {
                return Err(DocumentError::TooManyRows);
            }
            rows.push((line, cells));
        }
        Ok(Table { headers: headers.unwrap_or_default(), rows })
    }

    /// The index of the first column named any of `names` (normalised spellings).
    pub fn column(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.headers.iter().position(|h| h == n))
    }

    /// The header as read, for messages.
    pub fn found(&self) -> String {
        self.headers.join(", ")
    }
}

/// The cell at `index` of `cells`, empty when absent.
pub(super) fn cell(cells: &[String], index: Option<usize>) -> &str {
    index.and_then(|i| cells.get(i)).map_or("", String::as_str)
}

/// A cell a spreadsheet would run as a formula — one starting with `=`, `+`, `-`, `@`, a tab or
/// a carriage return — with a `'` put before it, so it shows as text (the OWASP advice on CSV
/// injection). GhostLink's CSV export writes every cell through this; its CSV import takes the
/// `'` off again ([`unneutralise_formula`]), so an export imports back unchanged.
pub fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// The inverse of [`neutralise_formula`]: a `'` followed by a formula's first character is
/// dropped; any other cell is as it was.
pub fn unneutralise_formula(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if matches!(rest.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r')) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_restored() {
        for f in ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            let n = neutralise_formula(f);
            assert!(n.starts_with('\''), "{f:?}");
            assert_eq!(unneutralise_formula(&n), f);
        }
        assert_eq!(neutralise_formula("https://a.example/"), "https://a.example/");
        assert_eq!(unneutralise_formula("'plain"), "'plain");
    }

    #[test]
    fn headers_compare_loosely_and_rows_keep_their_lines() {
        let t = Table::read(b"\xEF\xBB\xBFLong URL,Short_Code\n\"a\nb\",x\n\nc,y,extra\nd\n", |_| true)
            .expect("table");
        assert_eq!(t.column(&["longurl"]), Some(0));
        assert_eq!(t.column(&["shortcode"]), Some(1));
        let lines: Vec<usize> = t.rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 5, 6]);
        let last = t.rows[2].1.as_ref().expect("cells");
        assert_eq!(cell(last, Some(1)), "");
    }

    #[test]
    fn a_row_that_is_not_utf8_is_that_rows_error() {
        let t = Table::read(b"url\n\xff\xfe\nhttps://a.example/\n", |_| true).expect("table");
        assert_eq!(t.rows[0].1.as_ref().err().map(|e| e.code), Some("invalid_utf8"));
        assert!(t.rows[1].1.is_ok());
    }
}
