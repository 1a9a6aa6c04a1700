//! Bitly's CSV export: `link` (the short URL: its last path segment is the code, e.g.
//! `https://bit.ly/3xYzAbc` → `3xYzAbc`), `long_url`, `title`, `created`, and `tags` when the
//! export has it (names separated by `,` inside the cell). Clicks and dates are not imported.

use serde_json::{Map, Value};

use super::table::{cell, Table};
use super::{code_of_short_url, put, split_tags, DocumentError, Record, RowError};

pub(super) fn parse(doc: &[u8]) -> Result<Vec<Result<Record, RowError>>, DocumentError> {
    let table = Table::read(doc, |_| true)?;
    let url = table.column(&["longurl"]).ok_or_else(|| DocumentError::MissingColumn {
        format: "bitly",
        column: "long_url",
        found: table.found(),
    })?;
    let (link, title, tags) =
        (table.column(&["link", "bitlink", "shortlink"]), table.column(&["title"]), table.column(&["tags"]));
    Ok(table
        .rows
        .into_iter()
        .map(|(line, cells)| {
            let cells = cells?;
            let mut body = Map::new();
            put(&mut body, "url", Some(Value::String(cell(&cells, Some(url)).into())));
            put(&mut body, "alias", Some(Value::String(code_of_short_url(cell(&cells, link)))));
            put(&mut body, "title", Some(Value::String(cell(&cells, title).into())));
            let t = cell(&cells, tags);
            if !t.trim().is_empty() {
                put(&mut body, "tags", Some(split_tags(t, ',')));
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
    fn code_from_the_short_link() {
        let doc = "link,long_url,title,created,tags\nhttps://bit.ly/3xYzAbc,https://a.example/,A,2023-05-01T10:00:00+0000,\"p, q\"\n";
        let rows = parse(doc.as_bytes()).expect("rows");
        let body = Value::Object(rows[0].as_ref().expect("row").body.clone());
        assert_eq!(
            body,
            json!({"url": "https://a.example/", "alias": "3xYzAbc", "title": "A", "tags": ["p", "q"]})
        );
    }
}
