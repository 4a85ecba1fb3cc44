//! JSON merge patch (RFC 7396) onto AIP-134 updates: the keys present in
//! the body are the update mask, `null` clears, and the etag comes from
//! `If-Match` or the body (AIP-154).

use axum::http::{HeaderMap, HeaderValue, header};
use rapport_platform::error::FieldViolation;
use serde_json::{Map, Value};

use crate::problem::Problem;

/// Fields a client cannot write.
const READ_ONLY: &[&str] = &[
    "id",
    "create_time",
    "created_by",
    "update_time",
    "updated_by",
];

/// A merge patch split into its parts.
#[derive(Debug)]
pub(crate) struct MergePatch {
    /// Field mask paths, e.g. `email`, `address.city`, `custom_fields.tier`.
    pub(crate) paths: Vec<String>,
    /// The new values (still holding `null`s, which read as "empty").
    pub(crate) values: Map<String, Value>,
    /// The etag the body carried, if any.
    pub(crate) etag: Option<String>,
}

/// Splits `body`. Keys in `nested` are objects patched key by key
/// (`{"address": {"city": "Oslo"}}` changes only `address.city`); `null`
/// for the whole object clears all of it.
pub(crate) fn split(mut body: Map<String, Value>, nested: &[&str]) -> Result<MergePatch, Problem> {
    let etag = match body.remove("etag") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s).filter(|s| !s.is_empty()),
        Some(_) => return Err(invalid("etag", "expected a string")),
    };
    let mut violations = Vec::new();
    for key in READ_ONLY {
        if body.contains_key(*key) {
            violations.push(FieldViolation::new(*key, "read-only; leave it out"));
        }
    }
    if !violations.is_empty() {
        return Err(Problem::invalid(
            "INVALID_FIELD",
            "read-only fields cannot be patched",
            violations,
        ));
    }
    let mut paths = Vec::new();
    for (key, value) in &body {
        match value {
            Value::Object(inner) if nested.contains(&key.as_str()) => {
                paths.extend(inner.keys().map(|k| format!("{key}.{k}")));
            }
            _ => paths.push(key.clone()),
        }
    }
    Ok(MergePatch {
        paths,
        values: body,
        etag,
    })
}

/// The etag an update must match: `If-Match` (`*` means any) or the body's
/// `etag`; both given and different is a 400. Empty means "don't check".
pub(crate) fn precondition(
    headers: &HeaderMap,
    body_etag: Option<String>,
) -> Result<String, Problem> {
    let header = match headers.get(header::IF_MATCH) {
        None => None,
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| invalid("If-Match", "not visible ASCII"))?
                .trim();
            Some(if v == "*" {
                String::new()
            } else {
                v.to_owned()
            })
        }
    };
    match (header, body_etag) {
        (Some(h), Some(b)) if !h.is_empty() && bare(&h) != bare(&b) => Err(invalid(
            "etag",
            "differs from the If-Match header; send one of them",
        )),
        (Some(h), _) => Ok(h),
        (None, Some(b)) => Ok(b),
        (None, None) => Ok(String::new()),
    }
}

/// An etag without the weak prefix and quotes, for comparing.
pub(crate) fn bare(etag: &str) -> &str {
    etag.trim().trim_start_matches("W/").trim_matches('"')
}

/// The `ETag` header for a record's etag (quoted, as RFC 9110 wants).
pub(crate) fn etag_header(etag: &str) -> Option<(header::HeaderName, HeaderValue)> {
    if etag.is_empty() {
        return None;
    }
    let quoted = if etag.starts_with('"') || etag.starts_with("W/\"") {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    };
    HeaderValue::from_str(&quoted)
        .ok()
        .map(|v| (header::ETAG, v))
}

/// Takes a boolean flag out of a body (`null` or absent is false).
pub(crate) fn take_flag(body: &mut Map<String, Value>, key: &str) -> Result<bool, Problem> {
    match body.remove(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(_) => Err(invalid(key, "expected true or false")),
    }
}

fn invalid(field: &str, why: &str) -> Problem {
    Problem::invalid(
        "INVALID_FIELD",
        format!("invalid request: {field}: {why}"),
        vec![FieldViolation::new(field, why)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn present_keys_become_the_mask() {
        let p = split(
            obj(json!({
                "email": null,
                "tags": ["a"],
                "address": {"city": "Oslo", "street": null},
                "custom_fields": {"tier": "gold"},
                "etag": "\"3\""
            })),
            &["address", "custom_fields"],
        )
        .unwrap();
        let mut paths = p.paths.clone();
        paths.sort();
        assert_eq!(
            paths,
            [
                "address.city",
                "address.street",
                "custom_fields.tier",
                "email",
                "tags"
            ]
        );
        assert_eq!(p.etag.as_deref(), Some("\"3\""));
        assert!(!p.values.contains_key("etag"));
    }

    #[test]
    fn null_nested_object_clears_it_whole() {
        let p = split(obj(json!({"address": null})), &["address"]).unwrap();
        assert_eq!(p.paths, ["address"]);
    }

    #[test]
    fn read_only_fields_are_refused() {
        let e = split(obj(json!({"id": "x", "create_time": "y"})), &[]).unwrap_err();
        assert_eq!(e.errors.len(), 2);
    }

    #[test]
    fn if_match_and_body_etag_must_agree() {
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"2\""));
        assert_eq!(precondition(&h, None).unwrap(), "\"2\"");
        assert_eq!(precondition(&h, Some("2".into())).unwrap(), "\"2\"");
        assert!(precondition(&h, Some("\"3\"".into())).is_err());
        h.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(precondition(&h, Some("\"3\"".into())).unwrap(), "");
        assert_eq!(precondition(&HeaderMap::new(), None).unwrap(), "");
    }

    #[test]
    fn etag_headers_are_quoted() {
        assert_eq!(etag_header("\"4\"").unwrap().1, "\"4\"");
        assert_eq!(etag_header("4").unwrap().1, "\"4\"");
        assert!(etag_header("").is_none());
    }
}
