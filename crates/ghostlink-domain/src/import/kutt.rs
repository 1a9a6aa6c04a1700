//! Kutt: the JSON of its API's link list, `{"data": [...], "total": n}` or the bare array of
//! links. Of each link: `address` (the code), `target` (the destination), `description`,
//! `expire_in` (an RFC 3339 time, the expiry). Its `link`, `visit_count`, `password` (a flag in
//! the list) and dates are not imported.

use serde_json::{Map, Value};

use super::{json_items, put, DocumentError, Record, RowError};

pub(super) fn parse(doc: &[u8]) -> Result<Vec<Result<Record, RowError>>, DocumentError> {
    Ok(json_items("kutt", doc, "data")?
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let line = i + 1;
            let Value::Object(mut m) = item else {
                return Err(RowError { line, code: "invalid_row", message: "not a JSON object".into() });
            };
            let mut body = Map::new();
            for (from, to) in [
                ("target", "url"),
                ("address", "alias"),
                ("description", "description"),
                ("expire_in", "expires_at"),
            ] {
                put(&mut body, to, m.remove(from));
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
    fn api_list_and_bare_array() {
        let item = json!({"id": "5f0b", "address": "kt1", "target": "https://a.example/", "description": "d",
                          "expire_in": null, "link": "https://kutt.it/kt1", "visit_count": 4, "password": false});
        for doc in [json!({"data": [item.clone()], "total": 1}), json!([item])] {
            let rows = parse(doc.to_string().as_bytes()).expect("rows");
            let body = Value::Object(rows[0].as_ref().expect("row").body.clone());
            assert_eq!(body, json!({"url": "https://a.example/", "alias": "kt1", "description": "d"}));
        }
    }
}
