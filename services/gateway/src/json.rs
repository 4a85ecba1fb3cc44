//! Reading JSON request bodies with useful errors.
//!
//! axum's `Json` extractor answers with plain text; we read the body
//! ourselves (bounded), then report size, syntax and field errors as
//! problem documents naming the field.

use axum::{
    body::Body,
    extract::{FromRequest, Request},
    http::header,
};
use rapport_platform::error::FieldViolation;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// Largest accepted request body. Contacts and interactions are small; a
/// bound keeps one request from holding megabytes of memory.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// A JSON body of type `T`, or a 400 problem.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Problem> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            if !(ct.starts_with("application/json") || ct.contains("+json")) {
                return Err(Problem::new(
                    axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA_TYPE",
                    format!("content-type must be application/json, not {ct}"),
                ));
            }
        }
        let bytes = axum::body::to_bytes(Body::new(req.into_body()), MAX_BODY)
            .await
            .map_err(|_| {
                Problem::invalid(
                    "BODY_TOO_LARGE",
                    format!("request body is larger than {MAX_BODY} bytes"),
                    Vec::new(),
                )
            })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses `bytes` as `T`, naming the failing field on error.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(problem)
}

/// Reads an already parsed JSON value as `T`, naming the failing field on
/// error (for bodies read as an object first, e.g. merge patches).
pub(crate) fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(problem)
}

fn problem(e: serde_path_to_error::Error<serde_json::Error>) -> Problem {
    let path = e.path().to_string();
    let inner = e.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let mut field = if path == "." { String::new() } else { path };
            // An unknown field inside a value read by a custom deserializer
            // is reported at the value's path; name the field itself.
            if let Some(name) = unknown_field(&inner.to_string())
                && field != name
                && !field.ends_with(&format!(".{name}"))
            {
                field = if field.is_empty() {
                    name.to_owned()
                } else {
                    format!("{field}.{name}")
                };
            }
            Problem::invalid(
                "INVALID_FIELD",
                format!("invalid request body: {inner}"),
                vec![FieldViolation::new(field, inner.to_string())],
            )
        }
        _ => Problem::invalid(
            "MALFORMED_JSON",
            format!("request body is not valid JSON: {inner}"),
            Vec::new(),
        ),
    }
}

/// The name in serde's "unknown field `name`, expected ..." message.
fn unknown_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: Option<String>,
    }

    #[test]
    fn names_the_field_with_the_wrong_type() {
        let p = parse::<Body>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(p.status, 400);
        assert_eq!(p.errors[0].field, "name");
    }

    #[test]
    fn malformed_and_unknown_fields_are_400() {
        assert_eq!(parse::<Body>(b"{").unwrap_err().reason, "MALFORMED_JSON");
        let p = parse::<Body>(br#"{"nme": "x"}"#).unwrap_err();
        assert_eq!(p.reason, "INVALID_FIELD");
        assert_eq!(p.errors[0].field, "nme");
    }
}
