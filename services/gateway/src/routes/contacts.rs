//! `/v1/contacts`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
};
use rapport_proto::contacts::v1::{self as pb, CreateContactRequest, GetContactRequest};
use serde::{Deserialize, Serialize};

use super::{non_empty, rfc3339};
use crate::{AppState, auth::Caller, json::JsonBody, problem::Problem};

/// Body of `POST /v1/contacts`. Unknown fields are refused, so a typo never
/// silently drops data.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateContact {
    given_name: Option<String>,
    family_name: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    company_name: Option<String>,
}

/// A contact as REST returns it.
#[derive(Debug, Serialize)]
pub(crate) struct ContactJson {
    id: String,
    given_name: String,
    family_name: String,
    display_name: String,
    email: Option<String>,
    phone: Option<String>,
    company_name: String,
    etag: String,
    create_time: Option<String>,
    created_by: String,
    update_time: Option<String>,
    updated_by: String,
}

impl From<pb::Contact> for ContactJson {
    fn from(c: pb::Contact) -> Self {
        let audit = c.audit.unwrap_or_default();
        ContactJson {
            id: c.id,
            given_name: c.given_name,
            family_name: c.family_name,
            display_name: c.display_name,
            email: non_empty(c.email),
            phone: non_empty(c.phone),
            company_name: c.company_name,
            etag: c.etag,
            create_time: rfc3339(audit.create_time.as_ref()),
            created_by: audit.created_by,
            update_time: rfc3339(audit.update_time.as_ref()),
            updated_by: audit.updated_by,
        }
    }
}

/// `POST /v1/contacts` -> 201 with the contact.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<CreateContact>,
) -> Result<impl IntoResponse, Problem> {
    let req = principal.request(CreateContactRequest {
        contact: Some(pb::Contact {
            given_name: body.given_name.unwrap_or_default(),
            family_name: body.family_name.unwrap_or_default(),
            display_name: body.display_name.unwrap_or_default(),
            email: body.email.unwrap_or_default(),
            phone: body.phone.unwrap_or_default(),
            company_name: body.company_name.unwrap_or_default(),
            ..Default::default()
        }),
    });
    let contact = state
        .peers
        .contacts
        .clone()
        .create_contact(req)
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    let location = format!("/v1/contacts/{}", contact.id);
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::LOCATION, location)],
        axum::Json(ContactJson::from(contact)),
    ))
}

/// `GET /v1/contacts/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<ContactJson>, Problem> {
    let contact = state
        .peers
        .contacts
        .clone()
        .get_contact(principal.request(GetContactRequest { id }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(contact.into()))
}
