//! `/v1/custom-fields`: tenant-defined fields of people and companies.

use axum::{
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use rapport_platform::error::FieldViolation;
use rapport_proto::contacts::v1::{
    self as pb, CreateCustomFieldRequest, DeleteCustomFieldRequest, ListCustomFieldsRequest,
};
use serde::{Deserialize, Serialize};

use super::{
    enums::{FieldType, ObjectType, empty_as_none, opt_to_proto},
    non_empty, query, rfc3339,
};
use crate::{AppState, auth::Caller, json::JsonBody, problem::Problem};

/// Body of `POST /v1/custom-fields`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomFieldInput {
    /// `[a-z][a-z0-9_]{0,39}`, unique per object type.
    key: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    object_type: Option<ObjectType>,
    label: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "empty_as_none")]
    field_type: Option<FieldType>,
    required: Option<bool>,
    choices: Option<Vec<String>>,
    min: Option<f64>,
    max: Option<f64>,
    max_length: Option<i32>,
}

/// A custom field as REST returns it.
#[derive(Debug, Serialize)]
pub(crate) struct CustomFieldJson {
    key: String,
    object_type: Option<ObjectType>,
    label: Option<String>,
    #[serde(rename = "type")]
    field_type: Option<FieldType>,
    required: bool,
    choices: Vec<String>,
    min: Option<f64>,
    max: Option<f64>,
    /// Longest text value in characters (1000 when not set).
    max_length: Option<i32>,
    create_time: Option<String>,
    created_by: Option<String>,
}

impl From<pb::CustomField> for CustomFieldJson {
    fn from(f: pb::CustomField) -> Self {
        let audit = f.audit.unwrap_or_default();
        CustomFieldJson {
            key: f.key,
            object_type: ObjectType::from_proto(f.object_type),
            label: non_empty(f.label),
            field_type: FieldType::from_proto(f.r#type),
            required: f.required,
            choices: f.choices,
            min: f.min,
            max: f.max,
            max_length: Some(f.max_length).filter(|n| *n > 0),
            create_time: rfc3339(audit.create_time.as_ref()),
            created_by: non_empty(audit.created_by),
        }
    }
}

/// Query of `GET /v1/custom-fields`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    #[serde(default, deserialize_with = "empty_as_none")]
    object_type: Option<ObjectType>,
}

/// The tenant's custom fields.
#[derive(Debug, Serialize)]
pub(crate) struct FieldsJson {
    fields: Vec<CustomFieldJson>,
}

/// `GET /v1/custom-fields[?object_type=person|company]`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<axum::Json<FieldsJson>, Problem> {
    let q = query(q)?;
    let resp = state
        .peers
        .contacts
        .clone()
        .list_custom_fields(principal.request(ListCustomFieldsRequest {
            object_type: opt_to_proto(q.object_type, ObjectType::to_proto),
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(FieldsJson {
        fields: resp.fields.into_iter().map(Into::into).collect(),
    }))
}

/// `POST /v1/custom-fields` -> 201 with the field.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<CustomFieldInput>,
) -> Result<Response, Problem> {
    let field = pb::CustomField {
        key: body.key.unwrap_or_default(),
        object_type: opt_to_proto(body.object_type, ObjectType::to_proto),
        label: body.label.unwrap_or_default(),
        r#type: opt_to_proto(body.field_type, FieldType::to_proto),
        required: body.required.unwrap_or(false),
        choices: body.choices.unwrap_or_default(),
        min: body.min,
        max: body.max,
        max_length: body.max_length.unwrap_or(0),
        audit: None,
    };
    let field = state
        .peers
        .contacts
        .clone()
        .create_custom_field(principal.request(CreateCustomFieldRequest { field: Some(field) }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    let json = CustomFieldJson::from(field);
    let location = format!(
        "/v1/custom-fields/{}/{}",
        json.object_type.map(ObjectType::as_str).unwrap_or("person"),
        json.key
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(json),
    )
        .into_response())
}

/// `DELETE /v1/custom-fields/{object_type}/{key}` -> 204. Stored values
/// stay but are no longer shown; defining the field again brings them back.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path((object_type, key)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let object_type = match object_type.as_str() {
        "person" => ObjectType::Person,
        "company" => ObjectType::Company,
        other => {
            return Err(Problem::invalid(
                "INVALID_FIELD",
                format!("unknown object type {other:?}; expected person or company"),
                vec![FieldViolation::new(
                    "object_type",
                    "expected person or company",
                )],
            ));
        }
    };
    state
        .peers
        .contacts
        .clone()
        .delete_custom_field(principal.request(DeleteCustomFieldRequest {
            object_type: object_type.to_proto(),
            key,
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?;
    Ok(StatusCode::NO_CONTENT)
}
