//! `POST /v1/contacts:reassign-owner`: handing records over to a new owner
//! (one, a filtered set, or everything a departing user owns).

use axum::extract::State;
use rapport_platform::error::FieldViolation;
use rapport_proto::contacts::v1::{
    ReassignOwnerRequest, RecordIds, reassign_owner_request::Selection,
};
use serde::{Deserialize, Serialize};

use super::{
    enums::{ObjectType, empty_as_none, opt_to_proto},
    filter::FilterJson,
};
use crate::{AppState, auth::Caller, json::JsonBody, problem::Problem};

/// Body: exactly one of `ids`, `filter` and `from_owner`, plus the new owner.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReassignBody {
    ids: Option<Vec<String>>,
    filter: Option<FilterJson>,
    #[serde(default, deserialize_with = "empty_as_none")]
    from_owner: Option<String>,
    /// With `filter`: people or companies; both when absent.
    #[serde(default, deserialize_with = "empty_as_none")]
    object_type: Option<ObjectType>,
    new_owner: Option<String>,
    /// Unchanged when absent.
    new_team: Option<String>,
}

/// How many records changed owner.
#[derive(Debug, Serialize)]
pub(crate) struct ReassignedJson {
    reassigned_count: i64,
}

/// `POST /v1/contacts:reassign-owner`.
pub(crate) async fn reassign(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<ReassignBody>,
) -> Result<axum::Json<ReassignedJson>, Problem> {
    let selections: Vec<Selection> = [
        body.ids.map(|ids| Selection::Ids(RecordIds { ids })),
        body.filter.map(|f| Selection::Filter(f.into_proto())),
        body.from_owner.map(Selection::FromOwner),
    ]
    .into_iter()
    .flatten()
    .collect();
    let [selection] = <[Selection; 1]>::try_from(selections).map_err(|_| {
        Problem::invalid(
            "INVALID_SELECTION",
            "give exactly one of ids, filter or from_owner",
            vec![FieldViolation::new(
                "ids",
                "exactly one of ids, filter, from_owner",
            )],
        )
    })?;
    let resp = state
        .peers
        .contacts
        .clone()
        .reassign_owner(principal.request(ReassignOwnerRequest {
            selection: Some(selection),
            object_type: opt_to_proto(body.object_type, ObjectType::to_proto),
            new_owner: body.new_owner.unwrap_or_default(),
            new_team: body.new_team.unwrap_or_default(),
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(ReassignedJson {
        reassigned_count: resp.reassigned_count,
    }))
}
