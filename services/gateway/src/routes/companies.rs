//! `/v1/companies`: customers, suppliers and partners, and their holdings.

use axum::{
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use rapport_proto::{
    common::v1::PageRequest,
    contacts::v1::{
        self as pb, CreateCompanyRequest, GetCompanyRequest, MergeCompaniesRequest,
        SearchCompaniesRequest, UpdateCompanyRequest,
    },
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    address::{AddressInput, AddressJson, address_json},
    contacts::{DuplicatesPage, DuplicatesQuery, MergeBody, check_unchanged, duplicates},
    enums::{CompanyType, LifecycleStage, ObjectType, empty_as_none, opt_to_proto},
    filter::{FilterJson, search_body},
    merge_patch::{self, etag_header, take_flag},
    non_empty, query, rfc3339, split_action, total_size, values,
};
use crate::{
    AppState,
    auth::Caller,
    json::{self, JsonBody},
    problem::Problem,
};

/// Keys of a company patched key by key.
const NESTED: &[&str] = &["address", "custom_fields"];

/// The writable fields of a company.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompanyInput {
    name: Option<String>,
    types: Option<Vec<CompanyType>>,
    /// The holding this company belongs to.
    parent_company_id: Option<String>,
    external_id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    website: Option<String>,
    owner: Option<String>,
    team: Option<String>,
    /// `user:<id>` or `team:<path>` entries.
    shared_with: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "empty_as_none")]
    lifecycle_stage: Option<LifecycleStage>,
    source_channel: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    address: Option<AddressInput>,
    custom_fields: Option<Map<String, Value>>,
}

impl CompanyInput {
    fn into_proto(self) -> pb::Company {
        pb::Company {
            name: self.name.unwrap_or_default(),
            types: self
                .types
                .unwrap_or_default()
                .into_iter()
                .map(CompanyType::to_proto)
                .collect(),
            parent_company_id: self.parent_company_id.unwrap_or_default(),
            external_id: self.external_id.unwrap_or_default(),
            email: self.email.unwrap_or_default(),
            phone: self.phone.unwrap_or_default(),
            website: self.website.unwrap_or_default(),
            owner: self.owner.unwrap_or_default(),
            team: self.team.unwrap_or_default(),
            shared_with: self.shared_with.unwrap_or_default(),
            tags: self.tags.unwrap_or_default(),
            lifecycle_stage: opt_to_proto(self.lifecycle_stage, LifecycleStage::to_proto),
            source_channel: self.source_channel.unwrap_or_default(),
            address: self.address.map(AddressInput::into_proto),
            custom_fields: values::fields_to_proto(self.custom_fields.unwrap_or_default()),
            ..Default::default()
        }
    }
}

/// A company as REST returns it. Empty strings are `null`.
#[derive(Debug, Serialize)]
pub(crate) struct CompanyJson {
    id: String,
    name: Option<String>,
    types: Vec<CompanyType>,
    parent_company_id: Option<String>,
    external_id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    website: Option<String>,
    owner: Option<String>,
    team: Option<String>,
    shared_with: Vec<String>,
    tags: Vec<String>,
    lifecycle_stage: Option<LifecycleStage>,
    source_channel: Option<String>,
    address: Option<AddressJson>,
    custom_fields: std::collections::BTreeMap<String, Value>,
    etag: String,
    create_time: Option<String>,
    created_by: Option<String>,
    update_time: Option<String>,
    updated_by: Option<String>,
}

impl From<pb::Company> for CompanyJson {
    fn from(c: pb::Company) -> Self {
        let audit = c.audit.unwrap_or_default();
        CompanyJson {
            id: c.id,
            name: non_empty(c.name),
            types: c
                .types
                .into_iter()
                .filter_map(CompanyType::from_proto)
                .collect(),
            parent_company_id: non_empty(c.parent_company_id),
            external_id: non_empty(c.external_id),
            email: non_empty(c.email),
            phone: non_empty(c.phone),
            website: non_empty(c.website),
            owner: non_empty(c.owner),
            team: non_empty(c.team),
            shared_with: c.shared_with,
            tags: c.tags,
            lifecycle_stage: LifecycleStage::from_proto(c.lifecycle_stage),
            source_channel: non_empty(c.source_channel),
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

fn company_response(status: StatusCode, company: pb::Company) -> Response {
    let etag = etag_header(&company.etag);
    let mut resp = (status, axum::Json(CompanyJson::from(company))).into_response();
    if let Some((k, v)) = etag {
        resp.headers_mut().insert(k, v);
    }
    resp
}

/// `POST /v1/companies` -> 201 with the company.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(mut body): JsonBody<Map<String, Value>>,
) -> Result<Response, Problem> {
    let allow_duplicate = take_flag(&mut body, "allow_duplicate")?;
    let input: CompanyInput = json::from_value(Value::Object(body))?;
    let company = state
        .peers
        .contacts
        .clone()
        .create_company(principal.request(CreateCompanyRequest {
            company: Some(input.into_proto()),
            allow_duplicate,
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    let location = format!("/v1/companies/{}", company.id);
    let mut resp = company_response(StatusCode::CREATED, company);
    if let Ok(v) = location.parse() {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn get_company(state: &AppState, caller: &Caller, id: &str) -> Result<pb::Company, Problem> {
    Ok(state
        .peers
        .contacts
        .clone()
        .get_company(caller.0.request(GetCompanyRequest { id: id.to_owned() }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner())
}

/// `GET /v1/companies/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(segment): Path<String>,
) -> Result<Response, Problem> {
    match split_action(&segment) {
        (id, None) => get_company(&state, &caller, id)
            .await
            .map(|c| company_response(StatusCode::OK, c)),
        _ => Err(super::no_route()),
    }
}

/// `PATCH /v1/companies/{id}`: a JSON merge patch, as for contacts.
pub(crate) async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Response, Problem> {
    let patch = merge_patch::split(body, NESTED)?;
    let etag = merge_patch::precondition(&headers, patch.etag)?;
    let input: CompanyInput = json::from_value(Value::Object(patch.values))?;
    if patch.paths.is_empty() {
        let company = get_company(&state, &caller, &id).await?;
        check_unchanged(&etag, &company.etag)?;
        return Ok(company_response(StatusCode::OK, company));
    }
    let mut company = input.into_proto();
    company.id = id;
    company.etag = etag;
    let company = state
        .peers
        .contacts
        .clone()
        .update_company(caller.0.request(UpdateCompanyRequest {
            company: Some(company),
            update_mask: Some(prost_types::FieldMask { paths: patch.paths }),
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(company_response(StatusCode::OK, company))
}

/// A page of companies.
#[derive(Debug, Serialize)]
pub(crate) struct CompaniesPage {
    companies: Vec<CompanyJson>,
    next_page_token: Option<String>,
    total_size: Option<i64>,
}

async fn search_companies(
    state: &AppState,
    caller: &Caller,
    req: SearchCompaniesRequest,
) -> Result<axum::Json<CompaniesPage>, Problem> {
    let resp = state
        .peers
        .contacts
        .clone()
        .search_companies(caller.0.request(req))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(CompaniesPage {
        companies: resp.companies.into_iter().map(Into::into).collect(),
        next_page_token: non_empty(resp.next_page_token),
        total_size: total_size(resp.total_size),
    }))
}

/// `POST /v1/companies:search`: the same body as people's search.
pub(crate) async fn search(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<axum::Json<CompaniesPage>, Problem> {
    let mut body = search_body(body)?;
    let page = body.page();
    let req = SearchCompaniesRequest {
        query: body.query.unwrap_or_default(),
        filter: Some(body.filter.into_proto()),
        order_by: body.order_by.unwrap_or_default(),
        page,
        include_total_size: body.include_total_size.unwrap_or(false),
    };
    search_companies(&state, &caller, req).await
}

/// Query of `GET /v1/companies`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Name prefix.
    q: Option<String>,
    tag: Option<String>,
    owner: Option<String>,
    team: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    lifecycle_stage: Option<LifecycleStage>,
    page_size: Option<i32>,
    page_token: Option<String>,
    order_by: Option<String>,
}

/// `GET /v1/companies?q=&tag=&owner=&team=&lifecycle_stage=&page_size=&page_token=&order_by=`.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<axum::Json<CompaniesPage>, Problem> {
    let q = query(q)?;
    let filter: FilterJson = json::from_value(serde_json::json!({
        "tag": q.tag,
        "owner": q.owner,
        "team": q.team,
        "lifecycle_stage": q.lifecycle_stage,
    }))?;
    let req = SearchCompaniesRequest {
        query: q.q.unwrap_or_default(),
        filter: Some(filter.into_proto()),
        order_by: q.order_by.unwrap_or_default(),
        page: Some(PageRequest {
            page_size: q.page_size.unwrap_or(0),
            page_token: q.page_token.unwrap_or_default(),
        }),
        include_total_size: false,
    };
    search_companies(&state, &caller, req).await
}

/// `POST /v1/companies:merge` -> the survivor. People working at a merged
/// company and its subsidiaries move to the survivor.
pub(crate) async fn merge(
    State(state): State<AppState>,
    Caller(principal): Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<MergeBody>,
) -> Result<Response, Problem> {
    let etag = merge_patch::precondition(&headers, body.survivor_etag.filter(|e| !e.is_empty()))?;
    let company = state
        .peers
        .contacts
        .clone()
        .merge_companies(principal.request(MergeCompaniesRequest {
            survivor_id: body.survivor_id,
            merged_ids: body.merged_ids,
            survivor_etag: etag,
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(company_response(StatusCode::OK, company))
}

/// `GET /v1/companies:duplicates`.
pub(crate) async fn company_duplicates(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<DuplicatesQuery>, QueryRejection>,
) -> Result<axum::Json<DuplicatesPage>, Problem> {
    duplicates(&state, &caller, q, ObjectType::Company).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_and_stage_use_rest_names() {
        let input: CompanyInput = json::from_value(json!({
            "name": "Globex",
            "types": ["customer", "partner"],
            "lifecycle_stage": "prospect"
        }))
        .unwrap();
        let c = input.into_proto();
        assert_eq!(
            c.types,
            [
                pb::CompanyType::Customer as i32,
                pb::CompanyType::Partner as i32
            ]
        );
        let out = serde_json::to_value(CompanyJson::from(c)).unwrap();
        assert_eq!(out["types"], json!(["customer", "partner"]));
        assert_eq!(out["lifecycle_stage"], "prospect");
        let e = json::from_value::<CompanyInput>(json!({"types": ["vendor"]})).unwrap_err();
        assert_eq!(e.errors[0].field, "types[0]");
    }
}
