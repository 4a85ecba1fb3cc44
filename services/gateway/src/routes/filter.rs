//! The record filter shared by search, export and handover, and the body
//! of the search operations.

use std::collections::HashMap;

use rapport_platform::error::FieldViolation;
use rapport_proto::{common::v1::PageRequest, contacts::v1 as pb};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::enums::{LifecycleStage, empty_as_none, opt_to_proto};
use crate::{json, problem::Problem};

/// Filters; every one given must match.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilterJson {
    email: Option<String>,
    phone: Option<String>,
    company_id: Option<String>,
    tag: Option<String>,
    owner: Option<String>,
    team: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    lifecycle_stage: Option<LifecycleStage>,
    /// Choice-type custom fields: key -> one of its choices.
    custom_fields: Option<HashMap<String, String>>,
    external_id: Option<String>,
    source_channel: Option<String>,
}

impl FilterJson {
    /// The proto filter.
    pub(crate) fn into_proto(self) -> pb::ContactFilter {
        pb::ContactFilter {
            email: self.email.unwrap_or_default(),
            phone: self.phone.unwrap_or_default(),
            company_id: self.company_id.unwrap_or_default(),
            tag: self.tag.unwrap_or_default(),
            owner: self.owner.unwrap_or_default(),
            team: self.team.unwrap_or_default(),
            lifecycle_stage: opt_to_proto(self.lifecycle_stage, LifecycleStage::to_proto),
            custom_fields: self.custom_fields.unwrap_or_default(),
            external_id: self.external_id.unwrap_or_default(),
            source_channel: self.source_channel.unwrap_or_default(),
        }
    }
}

/// Body of `POST /v1/contacts:search` and `POST /v1/companies:search`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchBody {
    /// Name prefix: each word must start a word of the name.
    pub(crate) query: Option<String>,
    #[serde(default)]
    pub(crate) filter: FilterJson,
    /// `create_time` (default), `create_time desc` or `display_name`/`name`.
    pub(crate) order_by: Option<String>,
    pub(crate) page_size: Option<i32>,
    pub(crate) page_token: Option<String>,
    pub(crate) include_total_size: Option<bool>,
}

impl SearchBody {
    /// The page of the request.
    pub(crate) fn page(&mut self) -> Option<PageRequest> {
        Some(PageRequest {
            page_size: self.page_size.unwrap_or(0),
            page_token: self.page_token.take().unwrap_or_default(),
        })
    }
}

/// The keys of [`SearchBody`] itself; any other top-level key is a filter.
const SEARCH_KEYS: &[&str] = &[
    "query",
    "filter",
    "order_by",
    "page_size",
    "page_token",
    "include_total_size",
];

/// Reads a search body. Filter keys may be given inside `filter` or at the
/// top level (`{"query": "jo", "tag": "vip"}`), not both for the same key.
pub(crate) fn search_body(mut body: Map<String, Value>) -> Result<SearchBody, Problem> {
    let mut filter = match body.remove("filter") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(Problem::invalid(
                "INVALID_FIELD",
                "invalid request body: `filter` must be an object",
                vec![FieldViolation::new("filter", "expected an object")],
            ));
        }
    };
    let top: Vec<String> = body
        .keys()
        .filter(|k| !SEARCH_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in top {
        if filter.contains_key(&key) {
            return Err(Problem::invalid(
                "INVALID_FIELD",
                format!("`{key}` is given both at the top level and in `filter`"),
                vec![FieldViolation::new(
                    key,
                    "given twice (top level and filter)",
                )],
            ));
        }
        if let Some(v) = body.remove(&key) {
            filter.insert(key, v);
        }
    }
    body.insert("filter".into(), Value::Object(filter));
    json::from_value(Value::Object(body))
}
