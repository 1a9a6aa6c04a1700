//! Shlink's CSV: the importer's columns `Long URL` and `Short code`, optional `Domain`, `Title`
//! and `Tags` (tag names separated by `|`), and the web client's export spellings of the same
//! (`longUrl`, `shortCode`, `title`, `tags`; its `createdAt`, `shortUrl` and `visits` are
//! ignored). The domain is not imported: a code is GhostLink's own.

use serde_json::{Map, Value};

use super::table::{cell, Table};
use super::{put, split_tags, DocumentError, Record, RowError};

pub(super) fn parse(doc: &[u8]) -> Result<Vec<Result<Record, RowError>>, DocumentError> {
    let table = Table::read(doc, |_| true)?;
    let url = table.column(&["longurl"]).ok_or_else(|| DocumentError::MissingColumn {
        format: "shlink",
        column: "Long URL",
        found: table.found(),
    })?;
    let (code, title, tags) =
        (table.column(&["shortcode"]), table.column(&["title"]), table.column(&["tags"]));
    Ok(table
        .rows
        .into_iter()
        .map(|(line, cells)| {
            let cells = cells?;
            let mut body = Map::new();
            put(&mut body, "url", Some(Value::String(cell(&cells, Some(url)).into())));
            put(&mut body, "alias", Some(Value::String(cell(&cells, code).trim().into())));
            put(&mut body, "title", Some(Value::String(cell(&cells, title).into())));
            let t = cell(&cells, tags);
            if !t.trim().is_empty() {
                put(&mut body, "tags", Some(split_tags(t, '|')));
            }
            Ok(Record { line, body, disabled: false })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn importer_and_web_client_spellings() {
        for doc in [
            "Long URL,Short code,Domain,Title,Tags\nhttps://a.example/,abc,s.test,A,x|y\n",
            "createdAt,shortCode,shortUrl,longUrl,title,tags,visits\n2024-01-01T00:00:00+00:00,abc,https://s.test/abc,https://a.example/,A,x|y,3\n",
        ] {
            let rows = parse(doc.as_bytes()).expect("rows");
            let body = Value::Object(rows[0].as_ref().expect("row").body.clone());
            assert_eq!(body, json!({"url": "https://a.example/", "alias": "abc", "title": "A", "tags": ["x", "y"]}));
        }
        assert!(parse(b"url\nhttps://a.example/\n").is_err());
    }
}
