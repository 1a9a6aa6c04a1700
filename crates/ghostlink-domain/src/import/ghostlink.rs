//! GhostLink's own export, read back: the CSV (a header row naming any of `code`, `domain`, `url`,
//! `title`, `description`, `tags`, `status`, `expires_at`, `max_clicks`, `forward_query`, `utm`,
//! `rules`; the export's other columns are ignored) and the JSON (an array of the export's
//! objects). Counts, dates of creation and `password_protected` are not imported: a link starts
//! afresh, without a password. `status: disabled` (and `quarantined`, which only the instance
//! admin may set) imports as disabled.

use serde_json::{Map, Value};

use super::table::{cell, unneutralise_formula, Table};
use super::{json_items, number_or_text, put, split_tags, DocumentError, Record, RowError};

pub(super) fn csv(doc: &[u8]) -> Result<Vec<Result<Record, RowError>>, DocumentError> {
    let table = Table::read(doc, |_| true)?;
    let col = |names: &[&str]| table.column(names);
    let url = col(&["url", "longurl"]).ok_or_else(|| DocumentError::MissingColumn {
        format: "csv",
        column: "url",
        found: table.found(),
    })?;
    let (code, domain, title, description, tags) =
        (col(&["code", "alias"]), col(&["domain"]), col(&["title"]), col(&["description"]), col(&["tags"]));
    let (status, expires, max_clicks, forward, utm, rules) = (
        col(&["status"]),
        col(&["expiresat"]),
        col(&["maxclicks"]),
        col(&["forwardquery"]),
        col(&["utm"]),
        col(&["rules"]),
    );
    Ok(table
        .rows
        .into_iter()
        .map(|(line, cells)| {
            let cells: Vec<String> = cells?.iter().map(|c| unneutralise_formula(c).to_string()).collect();
            let text = |i| Some(Value::String(cell(&cells, i).to_string()));
            let json = |i| json_cell(line, cell(&cells, i));
            let mut body = Map::new();
            put(&mut body, "url", text(Some(url)));
            put(&mut body, "alias", text(code));
            put(&mut body, "domain", text(domain));
            put(&mut body, "title", text(title));
            put(&mut body, "description", text(description));
            let t = cell(&cells, tags);
            if t.trim_start().starts_with('[') {
                put(&mut body, "tags", json(tags)?);
            } else if !t.trim().is_empty() {
                put(&mut body, "tags", Some(split_tags(t, ',')));
            }
            put(&mut body, "expires_at", text(expires));
            let mc = cell(&cells, max_clicks);
            if !mc.is_empty() {
                put(&mut body, "max_clicks", Some(number_or_text(mc)));
            }
            match cell(&cells, forward).trim() {
                "" => {}
                "true" => put(&mut body, "forward_query", Some(Value::Bool(true))),
                "false" => put(&mut body, "forward_query", Some(Value::Bool(false))),
                other => put(&mut body, "forward_query", Some(Value::String(other.into()))),
            }
            put(&mut body, "utm", json(utm)?.filter(|v| v.as_object().is_none_or(|m| !m.is_empty())));
            put(&mut body, "rules", json(rules)?.filter(|v| v.as_array().is_none_or(|a| !a.is_empty())));
            let disabled = matches!(cell(&cells, status).trim(), "disabled" | "quarantined");
            Ok(Record { line, body, disabled })
        })
        .collect())
}

/// A cell holding JSON (tags, utm, rules): `None` when empty.
fn json_cell(line: usize, text: &str) -> Result<Option<Value>, RowError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text).map(Some).map_err(|e| RowError {
        line,
        code: "invalid_field",
        message: format!("a JSON cell (tags, utm or rules) is not JSON: {e}"),
    })
}

/// The fields a JSON object brings to a create body, by the export's names.
const JSON_FIELDS: [(&str, &str); 11] = [
    ("url", "url"),
    ("code", "alias"),
    ("domain", "domain"),
    ("title", "title"),
    ("description", "description"),
    ("tags", "tags"),
    ("expires_at", "expires_at"),
    ("max_clicks", "max_clicks"),
    ("forward_query", "forward_query"),
    ("utm", "utm"),
    ("rules", "rules"),
];

pub(super) fn json(doc: &[u8]) -> Result<Vec<Result<Record, RowError>>, DocumentError> {
    Ok(json_items("json", doc, "links")?
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let line = i + 1;
            let Value::Object(mut m) = item else {
                return Err(RowError { line, code: "invalid_row", message: "not a JSON object".into() });
            };
            let disabled =
                matches!(m.get("status").and_then(Value::as_str), Some("disabled" | "quarantined"));
            let mut body = Map::new();
            for (from, to) in JSON_FIELDS {
                let v = m.remove(from);
                let empty = match &v {
                    Some(Value::Object(o)) => o.is_empty(),
                    Some(Value::Array(a)) => from != "tags" && a.is_empty(),
                    _ => false,
                };
                if !empty {
                    put(&mut body, to, v);
                }
            }
            Ok(Record { line, body, disabled })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn csv_rows_become_create_bodies() {
        let doc = "code,short_url,url,title,tags,status,max_clicks,forward_query,utm,rules,password_protected\n\
                   '-x,http://s/-x,https://a.example/,'=1,\"[\"\"a\"\",\"\"b\"\"]\",disabled,5,true,\"{\"\"source\"\":\"\"n\"\"}\",[],true\n\
                   ,,https://b.example/,,\"x, y\",active,,,,,false\n";
        let rows = csv(doc.as_bytes()).expect("rows");
        let r0 = rows[0].as_ref().expect("row");
        assert_eq!(r0.line, 2);
        assert!(r0.disabled);
        assert_eq!(
            Value::Object(r0.body.clone()),
            json!({"alias": "-x", "url": "https://a.example/", "title": "=1", "tags": ["a", "b"],
                   "max_clicks": 5, "forward_query": true, "utm": {"source": "n"}})
        );
        let r1 = rows[1].as_ref().expect("row");
        assert_eq!(Value::Object(r1.body.clone()), json!({"url": "https://b.example/", "tags": ["x", "y"]}));
        assert!(!r1.disabled);
    }

    #[test]
    fn csv_without_a_url_column_is_refused() {
        assert!(matches!(csv(b"code,title\nx,y\n"), Err(DocumentError::MissingColumn { column: "url", .. })));
    }

    #[test]
    fn json_rows_and_bad_items() {
        let doc =
            br#"[{"code":"abc","url":"https://a.example/","tags":[],"utm":{},"rules":[],"click_count":3},7]"#;
        let rows = json(doc).expect("rows");
        let r0 = rows[0].as_ref().expect("row");
        assert_eq!(
            Value::Object(r0.body.clone()),
            json!({"alias": "abc", "url": "https://a.example/", "tags": []})
        );
        assert_eq!(rows[1].as_ref().err().map(|e| (e.line, e.code)), Some((2, "invalid_row")));
        assert!(matches!(json(b"{\"x\":1}"), Err(DocumentError::Json { .. })));
    }
}
