//! `/v1/contacts`: people. Create, get, merge-patch update, search, direct
//! lookup, duplicates and merge. Handover, personal data and erasure live
//! in their own files.

use axum::{
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use rapport_platform::error::FieldViolation;
use rapport_proto::{
    common::v1::PageRequest,
    contacts::v1::{
        self as pb, CreateContactRequest, FindDuplicatesRequest, GetContactRequest,
        LookupContactsRequest, MergeContactsRequest, SearchContactsRequest, UpdateContactRequest,
        lookup_contacts_request::Key,
    },
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    address::{AddressInput, AddressJson, address_json},
    enums::{CompanyRole, LifecycleStage, ObjectType, empty_as_none, opt_to_proto},
    filter::search_body,
    merge_patch::{self, etag_header, take_flag},
    non_empty, personal_data, query, rfc3339, split_action, total_size, values,
};
use crate::{
    AppState,
    auth::Caller,
    json::{self, JsonBody},
    problem::Problem,
};

/// Keys of a contact patched key by key.
const NESTED: &[&str] = &["address", "custom_fields"];

/// The writable fields of a contact, as `POST` and `PATCH` take them.
/// Unknown fields are refused, so a typo never silently drops data;
/// `null` and `""` mean "empty".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactInput {
    given_name: Option<String>,
    family_name: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    company_name: Option<String>,
    external_id: Option<String>,
    additional_emails: Option<Vec<String>>,
    additional_phones: Option<Vec<String>>,
    job_title: Option<String>,
    companies: Option<Vec<CompanyRelationJson>>,
    owner: Option<String>,
    team: Option<String>,
    /// `user:<id>` or `team:<path>` entries.
    shared_with: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "empty_as_none")]
    lifecycle_stage: Option<LifecycleStage>,
    source_channel: Option<String>,
    /// `YYYY-MM-DD`.
    birthday: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    address: Option<AddressInput>,
    custom_fields: Option<Map<String, Value>>,
}

impl ContactInput {
    /// The proto contact (without id and etag).
    pub(crate) fn into_proto(self) -> pb::Contact {
        pb::Contact {
            given_name: self.given_name.unwrap_or_default(),
            family_name: self.family_name.unwrap_or_default(),
            display_name: self.display_name.unwrap_or_default(),
            email: self.email.unwrap_or_default(),
            phone: self.phone.unwrap_or_default(),
            company_name: self.company_name.unwrap_or_default(),
            external_id: self.external_id.unwrap_or_default(),
            additional_emails: self.additional_emails.unwrap_or_default(),
            additional_phones: self.additional_phones.unwrap_or_default(),
            job_title: self.job_title.unwrap_or_default(),
            companies: self
                .companies
                .unwrap_or_default()
                .into_iter()
                .map(|r| pb::CompanyRelation {
                    company_id: r.company_id,
                    role: opt_to_proto(r.role, CompanyRole::to_proto),
                })
                .collect(),
            owner: self.owner.unwrap_or_default(),
            team: self.team.unwrap_or_default(),
            shared_with: self.shared_with.unwrap_or_default(),
            tags: self.tags.unwrap_or_default(),
            lifecycle_stage: opt_to_proto(self.lifecycle_stage, LifecycleStage::to_proto),
            source_channel: self.source_channel.unwrap_or_default(),
            birthday: self.birthday.unwrap_or_default(),
            address: self.address.map(AddressInput::into_proto),
            custom_fields: values::fields_to_proto(self.custom_fields.unwrap_or_default()),
            ..Default::default()
        }
    }
}

/// A person's link to a company.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompanyRelationJson {
    company_id: String,
    /// `works_at` when not given.
    #[serde(default, deserialize_with = "empty_as_none")]
    role: Option<CompanyRole>,
}

/// A contact as REST returns it. Empty strings are `null`.
#[derive(Debug, Serialize)]
pub(crate) struct ContactJson {
    id: String,
    given_name: Option<String>,
    family_name: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    company_name: Option<String>,
    external_id: Option<String>,
    additional_emails: Vec<String>,
    additional_phones: Vec<String>,
    job_title: Option<String>,
    companies: Vec<CompanyRelationJson>,
    owner: Option<String>,
    team: Option<String>,
    shared_with: Vec<String>,
    tags: Vec<String>,
    lifecycle_stage: Option<LifecycleStage>,
    source_channel: Option<String>,
    birthday: Option<String>,
    address: Option<AddressJson>,
    custom_fields: std::collections::BTreeMap<String, Value>,
    etag: String,
    create_time: Option<String>,
    created_by: Option<String>,
    update_time: Option<String>,
    updated_by: Option<String>,
}

impl From<pb::Contact> for ContactJson {
    fn from(c: pb::Contact) -> Self {
        let audit = c.audit.unwrap_or_default();
        ContactJson {
            id: c.id,
            given_name: non_empty(c.given_name),
            family_name: non_empty(c.family_name),
            display_name: non_empty(c.display_name),
            email: non_empty(c.email),
            phone: non_empty(c.phone),
            company_name: non_empty(c.company_name),
            external_id: non_empty(c.external_id),
            additional_emails: c.additional_emails,
            additional_phones: c.additional_phones,
            job_title: non_empty(c.job_title),
            companies: c
                .companies
                .into_iter()
                .map(|r| CompanyRelationJson {
                    company_id: r.company_id,
                    role: CompanyRole::from_proto(r.role),
                })
                .collect(),
            owner: non_empty(c.owner),
            team: non_empty(c.team),
            shared_with: c.shared_with,
            tags: c.tags,
            lifecycle_stage: LifecycleStage::from_proto(c.lifecycle_stage),
            source_channel: non_empty(c.source_channel),
            birthday: non_empty(c.birthday),
            address: address_json(c.address),
            custom_fields: values::fields_from_proto(c.custom_fields),
            etag: c.etag,
            create_time: rfc3339(audit.create_time.as_ref()),
            created_by: non_empty(audit.created_by),
            update_time: rfc3339(audit.update_time.as_ref()),
            updated_by: non_empty(audit.updated_by),
        }
    }
}

/// A contact with its `ETag` header.
fn contact_response(status: StatusCode, contact: pb::Contact) -> Response {
    let etag = etag_header(&contact.etag);
    let mut resp = (status, axum::Json(ContactJson::from(contact))).into_response();
    if let Some((k, v)) = etag {
        resp.headers_mut().insert(k, v);
    }
    resp
}

/// `POST /v1/contacts` -> 201 with the contact, `Location` and `ETag`.
/// `"allow_duplicate": true` creates even when the e-mail or phone exists
/// (otherwise 409 with `existing_id`).
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(mut body): JsonBody<Map<String, Value>>,
) -> Result<Response, Problem> {
    let allow_duplicate = take_flag(&mut body, "allow_duplicate")?;
    let input: ContactInput = json::from_value(Value::Object(body))?;
    let req = principal.request(CreateContactRequest {
        contact: Some(input.into_proto()),
        allow_duplicate,
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
    let mut resp = contact_response(StatusCode::CREATED, contact);
    if let Ok(v) = location.parse() {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `GET /v1/contacts/{id}` and `GET /v1/contacts/{id}:personal-data`.
pub(crate) async fn get_or_action(
    State(state): State<AppState>,
    caller: Caller,
    Path(segment): Path<String>,
) -> Result<Response, Problem> {
    match split_action(&segment) {
        (id, None) => get_contact(&state, &caller, id)
            .await
            .map(|c| contact_response(StatusCode::OK, c)),
        (id, Some("personal-data")) => personal_data::export(&state, &caller, id).await,
        (_, Some(_)) => Err(super::no_route()),
    }
}

/// `POST /v1/contacts/{id}:erase`.
pub(crate) async fn post_action(
    State(state): State<AppState>,
    caller: Caller,
    Path(segment): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, Problem> {
    match split_action(&segment) {
        (id, Some("erase")) => personal_data::erase(&state, &caller, id, body).await,
        _ => Err(super::no_route()),
    }
}

async fn get_contact(state: &AppState, caller: &Caller, id: &str) -> Result<pb::Contact, Problem> {
    Ok(state
        .peers
        .contacts
        .clone()
        .get_contact(caller.0.request(GetContactRequest { id: id.to_owned() }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner())
}

/// `PATCH /v1/contacts/{id}`: a JSON merge patch. The keys present form
/// the update mask (`address.city`, `custom_fields.tier` for nested keys);
/// `null` clears. `If-Match` or `"etag"` guards against lost updates: a
/// stale one is 409 and changes nothing.
pub(crate) async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Response, Problem> {
    let patch = merge_patch::split(body, NESTED)?;
    let etag = merge_patch::precondition(&headers, patch.etag)?;
    let input: ContactInput = json::from_value(Value::Object(patch.values))?;
    if patch.paths.is_empty() {
        // An empty merge patch changes nothing: answer with the record,
        // still honouring the precondition.
        let contact = get_contact(&state, &caller, &id).await?;
        check_unchanged(&etag, &contact.etag)?;
        return Ok(contact_response(StatusCode::OK, contact));
    }
    let mut contact = input.into_proto();
    contact.id = id;
    contact.etag = etag;
    let req = caller.0.request(UpdateContactRequest {
        contact: Some(contact),
        update_mask: Some(prost_types::FieldMask { paths: patch.paths }),
    });
    let contact = state
        .peers
        .contacts
        .clone()
        .update_contact(req)
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(contact_response(StatusCode::OK, contact))
}

/// 409 when a no-op patch carried an etag other than the stored one.
pub(crate) fn check_unchanged(wanted: &str, stored: &str) -> Result<(), Problem> {
    if wanted.is_empty() || merge_patch::bare(wanted) == merge_patch::bare(stored) {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::CONFLICT,
            "ETAG_MISMATCH",
            format!("the record changed (etag {stored}); read it again"),
        ))
    }
}

/// A page of people.
#[derive(Debug, Serialize)]
pub(crate) struct ContactsPage {
    contacts: Vec<ContactJson>,
    /// `null` on the last page.
    next_page_token: Option<String>,
    /// Number of matches when asked for; `null` otherwise.
    total_size: Option<i64>,
}

/// `POST /v1/contacts:search`.
pub(crate) async fn search(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<axum::Json<ContactsPage>, Problem> {
    let mut body = search_body(body)?;
    let page = body.page();
    let req = principal.request(SearchContactsRequest {
        query: body.query.unwrap_or_default(),
        filter: Some(body.filter.into_proto()),
        order_by: body.order_by.unwrap_or_default(),
        page,
        include_total_size: body.include_total_size.unwrap_or(false),
    });
    let resp = state
        .peers
        .contacts
        .clone()
        .search_contacts(req)
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(ContactsPage {
        contacts: resp.contacts.into_iter().map(Into::into).collect(),
        next_page_token: non_empty(resp.next_page_token),
        total_size: total_size(resp.total_size),
    }))
}

/// Query of `GET /v1/contacts:lookup`: exactly one key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LookupQuery {
    phone: Option<String>,
    email: Option<String>,
    external_id: Option<String>,
}

/// Every person with the key.
#[derive(Debug, Serialize)]
pub(crate) struct LookupJson {
    contacts: Vec<ContactJson>,
}

/// `GET /v1/contacts:lookup?phone=|email=|external_id=`.
pub(crate) async fn lookup(
    State(state): State<AppState>,
    Caller(principal): Caller,
    q: Result<Query<LookupQuery>, QueryRejection>,
) -> Result<axum::Json<LookupJson>, Problem> {
    let q = query(q)?;
    let keys: Vec<Key> = [
        q.phone.filter(|s| !s.is_empty()).map(Key::Phone),
        q.email.filter(|s| !s.is_empty()).map(Key::Email),
        q.external_id.filter(|s| !s.is_empty()).map(Key::ExternalId),
    ]
    .into_iter()
    .flatten()
    .collect();
    let [key] = <[Key; 1]>::try_from(keys).map_err(|_| {
        Problem::invalid(
            "INVALID_QUERY",
            "give exactly one of phone, email or external_id",
            vec![FieldViolation::new(
                "phone",
                "exactly one of phone, email, external_id",
            )],
        )
    })?;
    let resp = state
        .peers
        .contacts
        .clone()
        .lookup_contacts(principal.request(LookupContactsRequest { key: Some(key) }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(LookupJson {
        contacts: resp.contacts.into_iter().map(Into::into).collect(),
    }))
}

/// Query of the duplicates operations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DuplicatesQuery {
    object_type: Option<ObjectType>,
    page_size: Option<i32>,
    page_token: Option<String>,
}

/// Records that are likely the same.
#[derive(Debug, Serialize)]
pub(crate) struct DuplicateGroupJson {
    /// `email`, `phone` or `name`.
    reason: String,
    value: String,
    ids: Vec<String>,
}

/// A page of duplicate groups.
#[derive(Debug, Serialize)]
pub(crate) struct DuplicatesPage {
    groups: Vec<DuplicateGroupJson>,
    next_page_token: Option<String>,
}

/// `GET /v1/contacts:duplicates` (people unless `object_type` says
/// otherwise) and `GET /v1/companies:duplicates`.
pub(crate) async fn duplicates(
    state: &AppState,
    caller: &Caller,
    q: Result<Query<DuplicatesQuery>, QueryRejection>,
    default_type: ObjectType,
) -> Result<axum::Json<DuplicatesPage>, Problem> {
    let q = query(q)?;
    let req = caller.0.request(FindDuplicatesRequest {
        object_type: q.object_type.unwrap_or(default_type).to_proto(),
        page: Some(PageRequest {
            page_size: q.page_size.unwrap_or(0),
            page_token: q.page_token.unwrap_or_default(),
        }),
    });
    let resp = state
        .peers
        .contacts
        .clone()
        .find_duplicates(req)
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(DuplicatesPage {
        groups: resp
            .groups
            .into_iter()
            .map(|g| DuplicateGroupJson {
                reason: g.reason,
                value: g.value,
                ids: g.ids,
            })
            .collect(),
        next_page_token: non_empty(resp.next_page_token),
    }))
}

/// `GET /v1/contacts:duplicates`.
pub(crate) async fn contact_duplicates(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<DuplicatesQuery>, QueryRejection>,
) -> Result<axum::Json<DuplicatesPage>, Problem> {
    duplicates(&state, &caller, q, ObjectType::Person).await
}

/// Body of the merge operations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MergeBody {
    pub(crate) survivor_id: String,
    pub(crate) merged_ids: Vec<String>,
    /// When given (or sent as `If-Match`), must match the survivor's etag.
    pub(crate) survivor_etag: Option<String>,
}

/// `POST /v1/contacts:merge` -> the survivor.
pub(crate) async fn merge(
    State(state): State<AppState>,
    Caller(principal): Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<MergeBody>,
) -> Result<Response, Problem> {
    let etag = merge_patch::precondition(&headers, body.survivor_etag.filter(|e| !e.is_empty()))?;
    let req = principal.request(MergeContactsRequest {
        survivor_id: body.survivor_id,
        merged_ids: body.merged_ids,
        survivor_etag: etag,
    });
    let contact = state
        .peers
        .contacts
        .clone()
        .merge_contacts(req)
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(contact_response(StatusCode::OK, contact))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_field_reaches_the_proto() {
        let input: ContactInput = json::from_value(json!({
            "given_name": "José",
            "email": "jose@example.com",
            "tags": ["vip"],
            "lifecycle_stage": "customer",
            "companies": [{"company_id": "c1", "role": "decision_maker"}],
            "address": {"city": "Sevilla", "country_code": "ES"},
            "custom_fields": {"tier": "gold", "seats": 40, "gone": null},
            "birthday": "1990-02-01"
        }))
        .unwrap();
        let c = input.into_proto();
        assert_eq!(c.lifecycle_stage, pb::LifecycleStage::Customer as i32);
        assert_eq!(c.companies[0].role, pb::CompanyRole::DecisionMaker as i32);
        assert_eq!(c.address.unwrap().city, "Sevilla");
        assert_eq!(c.custom_fields.len(), 2);
        let back = serde_json::to_value(ContactJson::from(pb::Contact {
            custom_fields: c.custom_fields,
            lifecycle_stage: c.lifecycle_stage,
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(back["custom_fields"], json!({"seats": 40, "tier": "gold"}));
        assert_eq!(back["lifecycle_stage"], "customer");
        assert_eq!(back["email"], Value::Null);
        assert_eq!(back["address"], Value::Null);
    }

    #[test]
    fn bad_values_name_the_field() {
        let e = json::from_value::<ContactInput>(json!({"lifecycle_stage": "hot"})).unwrap_err();
        assert_eq!(e.errors[0].field, "lifecycle_stage");
        let e = json::from_value::<ContactInput>(json!({"address": {"town": "x"}})).unwrap_err();
        assert_eq!(e.errors[0].field, "address.town");
        let e = json::from_value::<ContactInput>(json!({"nickname": "x"})).unwrap_err();
        assert_eq!(e.errors[0].field, "nickname");
    }
}
