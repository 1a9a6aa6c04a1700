//! YOURLS: its `yourls_url` table as CSV, `keyword,url,title,timestamp,ip,clicks` — with that
//! header row, or without one (a table dump), in that order. The keyword is the code; the
//! timestamp, the creator's IP and the click count are not imported.

use serde_json::{Map, Value};

use super::table::{cell, normalise, Table};
use super::{put, DocumentError, Record, RowError};

pub(super) fn parse(doc: &[u8]) -> Result<Vec<Result<Record, RowError>>, DocumentError> {
    let table = Table::read(doc, |first| first.first().is_some_and(|c| normalise(c) == "keyword"))?;
    let (code, url, title) = match table.column(&["keyword"]) {
        Some(k) => (Some(k), table.column(&["url"]), table.column(&["title"])),
        None => (Some(0), Some(1), Some(2)),
    };
    let url = url.ok_or_else(|| DocumentError::MissingColumn {
        format: "yourls",
        column: "url",
        found: table.found(),
    })?;
    Ok(table
        .rows
        .into_iter()
        .map(|(line, cells)| {
            let cells = cells?;
            let mut body = Map::new();
            put(&mut body, "url", Some(Value::String(cell(&cells, Some(url)).into())));
            put(&mut body, "alias", Some(Value::String(cell(&cells, code).trim().into())));
            put(&mut body, "title", Some(Value::String(cell(&cells, title).into())));
            Ok(Record { line, body, disabled: false })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn with_and_without_a_header() {
        let with = "keyword,url,title,timestamp,ip,clicks\nozh,https://ozh.org/,Ozh,2009-01-01 10:00:00,127.0.0.1,12\n";
        let without = "ozh,https://ozh.org/,Ozh,2009-01-01 10:00:00,127.0.0.1,12\n";
        for (doc, line) in [(with, 2), (without, 1)] {
            let rows = parse(doc.as_bytes()).expect("rows");
            let r = rows[0].as_ref().expect("row");
            assert_eq!(r.line, line);
            assert_eq!(
                Value::Object(r.body.clone()),
                json!({"url": "https://ozh.org/", "alias": "ozh", "title": "Ozh"})
            );
        }
    }
}
