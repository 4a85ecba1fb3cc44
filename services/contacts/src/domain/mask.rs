//! Field masks (AIP-134 / AIP-161): which fields an update changes.
//!
//! Paths name API fields (`email`, `address.city`, `custom_fields.tier`,
//! a company's `name` and `types`). The update copies exactly those fields
//! from the request onto the stored record; everything else is untouched.

use rapport_platform::error::FieldViolation;
use serde_json::{Map, Value};

use super::{Fields, Kind};

/// API field name -> stored field name, per kind. Output-only fields (`id`,
/// `etag`, `audit`) are not here, so a mask naming them is refused.
fn stored_name(kind: Kind, api: &str) -> Option<&'static str> {
    const SHARED: &[&str] = &[
        "email",
        "additional_emails",
        "phone",
        "additional_phones",
        "external_id",
        "owner",
        "team",
        "shared_with",
        "tags",
        "lifecycle_stage",
        "source_channel",
        "address",
        "custom_fields",
    ];
    const PERSON: &[&str] = &[
        "given_name",
        "family_name",
        "display_name",
        "company_name",
        "job_title",
        "companies",
        "birthday",
    ];
    const COMPANY: &[&str] = &["parent_company_id", "website"];
    if let Some(s) = SHARED.iter().find(|s| **s == api) {
        return Some(s);
    }
    match kind {
        Kind::Person => PERSON.iter().find(|s| **s == api).copied(),
        Kind::Company => match api {
            "name" => Some("display_name"),
            "types" => Some("company_types"),
            _ => COMPANY.iter().find(|s| **s == api).copied(),
        },
    }
}

/// The API name of a stored field (inverse of `stored_name`).
pub fn api_name(kind: Kind, stored: &str) -> String {
    match (kind, stored) {
        (Kind::Company, "display_name") => "name".into(),
        (Kind::Company, "company_types") => "types".into(),
        _ => stored.into(),
    }
}

/// Copies the masked fields of `input` onto `current`. `*` copies all.
/// An empty mask is refused: an update must say what it changes.
pub fn apply_mask(
    kind: Kind,
    current: &Fields,
    input: &Fields,
    paths: &[String],
) -> Result<Fields, Vec<FieldViolation>> {
    if paths.is_empty() {
        return Err(vec![FieldViolation::new(
            "update_mask",
            "name the fields to change (or \"*\")",
        )]);
    }
    if paths.iter().any(|p| p == "*") {
        return Ok(input.clone());
    }
    let mut target = to_map(current);
    let source = to_map(input);
    let mut violations = Vec::new();
    for path in paths {
        let (head, rest) = match path.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (path.as_str(), None),
        };
        let Some(field) = stored_name(kind, head) else {
            violations.push(FieldViolation::new(
                "update_mask",
                format!("{path:?} is not an updatable field"),
            ));
            continue;
        };
        match (field, rest) {
            (_, None) => {
                target.insert(field.into(), source[field].clone());
            }
            ("address", Some(sub)) if source["address"].get(sub).is_some() => {
                target["address"][sub] = source["address"][sub].clone();
            }
            ("custom_fields", Some(key)) => {
                let slot = target["custom_fields"].as_object_mut();
                match (slot, source["custom_fields"].get(key)) {
                    (Some(map), Some(v)) => {
                        map.insert(key.into(), v.clone());
                    }
                    (Some(map), None) => {
                        map.remove(key);
                    }
                    (None, _) => {}
                }
            }
            _ => violations.push(FieldViolation::new(
                "update_mask",
                format!("{path:?} is not an updatable field"),
            )),
        }
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    serde_json::from_value(Value::Object(target)).map_err(|e| {
        vec![FieldViolation::new(
            "update_mask",
            format!("cannot apply: {e}"),
        )]
    })
}

/// Top-level API names of the fields that differ between two versions.
pub fn changed_fields(kind: Kind, before: &Fields, after: &Fields) -> Vec<String> {
    let (a, b) = (to_map(before), to_map(after));
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| api_name(kind, k))
        .collect()
}

fn to_map(f: &Fields) -> Map<String, Value> {
    match serde_json::to_value(f) {
        Ok(Value::Object(m)) => m,
        // Fields is a plain struct of strings, lists and maps: it always
        // serialises to an object.
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> Fields {
        Fields {
            given_name: "Ada".into(),
            email: "ada@example.com".into(),
            tags: vec!["vip".into()],
            custom_fields: [("tier".to_owned(), Value::from("gold"))].into(),
            ..Default::default()
        }
    }

    #[test]
    fn copies_only_masked_fields() {
        let input = Fields {
            given_name: "Grace".into(),
            email: "grace@example.com".into(),
            ..Default::default()
        };
        let out = apply_mask(Kind::Person, &person(), &input, &["email".into()]).unwrap();
        assert_eq!(out.given_name, "Ada");
        assert_eq!(out.email, "grace@example.com");
        assert_eq!(out.tags, ["vip"]);
        assert_eq!(changed_fields(Kind::Person, &person(), &out), ["email"]);
    }

    #[test]
    fn nested_paths_and_removal() {
        let mut input = Fields::default();
        input.address.city = "Dhaka".into();
        let out = apply_mask(
            Kind::Person,
            &person(),
            &input,
            &["address.city".into(), "custom_fields.tier".into()],
        )
        .unwrap();
        assert_eq!(out.address.city, "Dhaka");
        assert!(out.custom_fields.is_empty());
    }

    #[test]
    fn refuses_unknown_and_output_only_paths() {
        for path in ["etag", "id", "website", "address.planet", ""] {
            assert!(
                apply_mask(Kind::Person, &person(), &person(), &[path.into()]).is_err(),
                "{path}"
            );
        }
        assert!(apply_mask(Kind::Person, &person(), &person(), &[]).is_err());
        let company = apply_mask(
            Kind::Company,
            &Fields::default(),
            &Fields {
                display_name: "Acme".into(),
                ..Default::default()
            },
            &["name".into()],
        )
        .unwrap();
        assert_eq!(company.display_name, "Acme");
    }
}
