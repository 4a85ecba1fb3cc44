//! `/v1/contact-settings`: the tenant's settings of the contacts service.

use axum::extract::State;
use rapport_proto::contacts::v1::{
    ContactSettings, GetContactSettingsRequest, UpdateContactSettingsRequest,
};
use serde::{Deserialize, Serialize};

use crate::{AppState, auth::Caller, json::JsonBody, problem::Problem};

/// The settings as REST shows and takes them.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsJson {
    /// ISO 3166-1 alpha-2 region for phone numbers written without a
    /// country code (`GB` reads "020 7946 0958" as +44 20 7946 0958).
    default_phone_region: Option<String>,
}

impl From<ContactSettings> for SettingsJson {
    fn from(s: ContactSettings) -> Self {
        SettingsJson {
            default_phone_region: super::non_empty(s.default_phone_region),
        }
    }
}

/// `GET /v1/contact-settings`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<axum::Json<SettingsJson>, Problem> {
    let s = state
        .peers
        .contacts
        .clone()
        .get_contact_settings(principal.request(GetContactSettingsRequest {}))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(s.into()))
}

/// `PATCH /v1/contact-settings` (tenant admins).
pub(crate) async fn patch(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<SettingsJson>,
) -> Result<axum::Json<SettingsJson>, Problem> {
    let s = state
        .peers
        .contacts
        .clone()
        .update_contact_settings(principal.request(UpdateContactSettingsRequest {
            settings: Some(ContactSettings {
                default_phone_region: body.default_phone_region.unwrap_or_default(),
            }),
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(s.into()))
}
