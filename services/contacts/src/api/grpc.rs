//! `rapport.contacts.v1.ContactsService`: decodes requests, calls the use
//! cases, encodes results.

use std::{collections::BTreeMap, pin::Pin, sync::Arc};

use futures::{Stream, StreamExt};
use rapport_platform::proto_time::to_timestamp;
use rapport_proto::contacts::v1::{self as pb, contacts_service_server::ContactsService};
use rapport_store::{PageToken, StoreError};
use tonic::{Request, Response, Status, Streaming};

use super::{
    ContactsApi, Filter, Order, SearchQuery, convert, principal, records::Handover, status,
    store_status,
};
use crate::domain::{
    CustomFieldDef, DuplicatePolicy, ImportJob, ImportOptions, ImportState, Kind, RecordId, Region,
    index::attr, invalid,
};

/// The gRPC service: a shared handle on the use cases.
#[derive(Clone)]
pub struct ContactsGrpc(pub Arc<ContactsApi>);

type ExportStream = Pin<Box<dyn Stream<Item = Result<pb::ExportContactsChunk, Status>> + Send>>;

fn kind_or(v: i32, default: Kind) -> Result<Kind, Status> {
    convert::kind_from_pb(v)
        .map(|k| k.unwrap_or(default))
        .map_err(|e| status(invalid("object_type", e)))
}

fn id(field: &str, s: &str) -> Result<RecordId, Status> {
    RecordId::parse(s).map_err(|_| status(invalid(field, "not a valid id")))
}

fn filter(f: Option<pb::ContactFilter>) -> Result<Filter, Status> {
    let f = f.unwrap_or_default();
    Ok(Filter {
        email: f.email,
        phone: f.phone,
        company_id: f.company_id,
        tag: f.tag,
        owner: f.owner,
        team: f.team,
        lifecycle_stage: convert::stage_from_pb(f.lifecycle_stage)
            .map_err(|e| status(invalid("filter.lifecycle_stage", e)))?,
        custom_fields: f.custom_fields.into_iter().collect::<BTreeMap<_, _>>(),
        external_id: f.external_id,
        source_channel: f.source_channel,
    })
}

fn page(p: Option<rapport_proto::common::v1::PageRequest>) -> Result<(usize, String), Status> {
    let p = p.unwrap_or_default();
    if p.page_size < 0 {
        return Err(status(invalid("page.page_size", "must not be negative")));
    }
    Ok((p.page_size as usize, p.page_token))
}

fn mask(m: Option<prost_types::FieldMask>) -> Vec<String> {
    m.map(|m| m.paths).unwrap_or_default()
}

fn import_to_pb(j: &ImportJob) -> pb::Import {
    pb::Import {
        id: j.id.to_string(),
        options: Some(pb::ImportOptions {
            column_mapping: j.options.column_mapping.clone().into_iter().collect(),
            on_duplicate: match j.options.on_duplicate {
                DuplicatePolicy::Skip => pb::DuplicatePolicy::Skip,
                DuplicatePolicy::Update => pb::DuplicatePolicy::Update,
                DuplicatePolicy::Create => pb::DuplicatePolicy::Create,
            } as i32,
            delimiter: j
                .options
                .delimiter
                .map(|d| (d as char).to_string())
                .unwrap_or_default(),
            file_name: j.options.file_name.clone(),
            expected_bytes: j.options.expected_bytes as i64,
            object_type: pb::ObjectType::Person as i32,
        }),
        state: match j.state {
            ImportState::Pending => pb::ImportState::Pending,
            ImportState::Running => pb::ImportState::Running,
            ImportState::Succeeded => pb::ImportState::Succeeded,
            ImportState::Failed => pb::ImportState::Failed,
        } as i32,
        rows_processed: j.rows_processed as i64,
        rows_created: j.rows_created as i64,
        rows_updated: j.rows_updated as i64,
        rows_skipped: j.rows_skipped as i64,
        rows_failed: j.rows_failed as i64,
        bytes_processed: j.bytes_processed as i64,
        rows_per_second: j.rows_per_second(),
        eta_seconds: j.eta_seconds().map(|s| s as i64).unwrap_or(-1),
        failure: j.failure.clone(),
        create_time: Some(to_timestamp(j.create_time)),
        update_time: Some(to_timestamp(j.update_time)),
        created_by: j.created_by.clone(),
    }
}

/// A record as the API shows it: a `Contact` or a `Company`.
trait Shown: Sized {
    fn shown(r: &crate::domain::Record, defs: &[CustomFieldDef]) -> Self;
}

impl Shown for pb::Contact {
    fn shown(r: &crate::domain::Record, defs: &[CustomFieldDef]) -> Self {
        convert::contact_to_pb(r, defs)
    }
}

impl Shown for pb::Company {
    fn shown(r: &crate::domain::Record, defs: &[CustomFieldDef]) -> Self {
        convert::company_to_pb(r, defs)
    }
}

impl ContactsGrpc {
    /// The tenant's custom field definitions for `kind` (to show values).
    async fn defs(
        &self,
        p: &rapport_platform::identity::Principal,
        kind: Kind,
    ) -> Result<Vec<CustomFieldDef>, Status> {
        self.0
            .list_custom_fields(&p.tenant, Some(kind))
            .await
            .map_err(status)
    }

    /// A reply carrying one record.
    async fn reply<T: Shown>(
        &self,
        p: &rapport_platform::identity::Principal,
        r: &crate::domain::Record,
    ) -> Result<Response<T>, Status> {
        let defs = self.defs(p, r.kind()).await?;
        Ok(Response::new(T::shown(r, &defs)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        p: &rapport_platform::identity::Principal,
        kind: Kind,
        query: String,
        f: Option<pb::ContactFilter>,
        order_by: &str,
        pg: Option<rapport_proto::common::v1::PageRequest>,
        include_total_size: bool,
    ) -> Result<(Vec<crate::domain::Record>, String, i64, Vec<CustomFieldDef>), Status> {
        let (page_size, page_token) = page(pg)?;
        let result = self
            .0
            .search(
                p,
                SearchQuery {
                    kind,
                    query,
                    filter: filter(f)?,
                    order: Order::parse(order_by).map_err(status)?,
                    page_size,
                    page_token,
                    include_total_size,
                },
            )
            .await
            .map_err(status)?;
        let defs = self.defs(p, kind).await?;
        Ok((
            result.records,
            result.next_page_token,
            result.total_size,
            defs,
        ))
    }
}

#[tonic::async_trait]
impl ContactsService for ContactsGrpc {
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_contact(
        &self,
        req: Request<pb::CreateContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let p = principal(&req)?;
        let req = req.into_inner();
        let fields = convert::contact_fields(req.contact.unwrap_or_default())
            .map_err(|e| status(invalid("contact", e)))?;
        let r = self
            .0
            .create_record(&p, Kind::Person, fields, req.allow_duplicate)
            .await
            .map_err(status)?;
        self.reply(&p, &r).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_contact(
        &self,
        req: Request<pb::GetContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let p = principal(&req)?;
        let r = self
            .0
            .get_record(&p, Kind::Person, &id("id", &req.get_ref().id)?)
            .await
            .map_err(status)?;
        self.reply(&p, &r).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_contact(
        &self,
        req: Request<pb::UpdateContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let p = principal(&req)?;
        let req = req.into_inner();
        let contact = req.contact.unwrap_or_default();
        let record_id = id("contact.id", &contact.id)?;
        let etag = contact.etag.clone();
        let fields = convert::contact_fields(contact).map_err(|e| status(invalid("contact", e)))?;
        let r = self
            .0
            .update_record(
                &p,
                Kind::Person,
                &record_id,
                fields,
                &etag,
                &mask(req.update_mask),
            )
            .await
            .map_err(status)?;
        self.reply(&p, &r).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn search_contacts(
        &self,
        req: Request<pb::SearchContactsRequest>,
    ) -> Result<Response<pb::SearchContactsResponse>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let (records, next_page_token, total_size, defs) = self
            .search(
                &p,
                Kind::Person,
                r.query,
                r.filter,
                &r.order_by,
                r.page,
                r.include_total_size,
            )
            .await?;
        Ok(Response::new(pb::SearchContactsResponse {
            contacts: records
                .iter()
                .map(|r| convert::contact_to_pb(r, &defs))
                .collect(),
            next_page_token,
            total_size,
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn lookup_contacts(
        &self,
        req: Request<pb::LookupContactsRequest>,
    ) -> Result<Response<pb::LookupContactsResponse>, Status> {
        let p = principal(&req)?;
        let (key, value) = match req.into_inner().key {
            Some(pb::lookup_contacts_request::Key::Phone(v)) => (attr::PHONE, v),
            Some(pb::lookup_contacts_request::Key::Email(v)) => (attr::EMAIL, v),
            Some(pb::lookup_contacts_request::Key::ExternalId(v)) => (attr::EXTERNAL_ID, v),
            None => return Err(status(invalid("key", "set phone, email or external_id"))),
        };
        let records = self
            .0
            .lookup(&p, Kind::Person, key, &value)
            .await
            .map_err(status)?;
        let defs = self.defs(&p, Kind::Person).await?;
        Ok(Response::new(pb::LookupContactsResponse {
            contacts: records
                .iter()
                .map(|r| convert::contact_to_pb(r, &defs))
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn find_duplicates(
        &self,
        req: Request<pb::FindDuplicatesRequest>,
    ) -> Result<Response<pb::FindDuplicatesResponse>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let kind = kind_or(r.object_type, Kind::Person)?;
        let (size, token) = page(r.page)?;
        let size = if size == 0 { 50 } else { size.min(500) };
        let after = match PageToken::decode(&token).map_err(store_status)? {
            None => None,
            Some(t) => Some(
                serde_json::from_slice::<(String, String)>(t.as_bytes())
                    .map_err(|_| store_status(StoreError::InvalidPageToken))?,
            ),
        };
        let (groups, next) = self
            .0
            .duplicates(&p, kind, after, size)
            .await
            .map_err(status)?;
        let next_page_token = match next {
            Some(after) => {
                PageToken::from_bytes(serde_json::to_vec(&after).unwrap_or_default()).encode()
            }
            None => String::new(),
        };
        Ok(Response::new(pb::FindDuplicatesResponse {
            groups: groups
                .into_iter()
                .map(|g| pb::DuplicateGroup {
                    reason: if g.attr == attr::SORT_NAME {
                        "name".into()
                    } else {
                        g.attr
                    },
                    value: g.value,
                    // A very common name could form a huge group: the
                    // first 100 ids are enough to act on.
                    ids: g.ids.iter().take(100).map(ToString::to_string).collect(),
                })
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn merge_contacts(
        &self,
        req: Request<pb::MergeContactsRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let merged = r
            .merged_ids
            .iter()
            .map(|m| id("merged_ids", m))
            .collect::<Result<Vec<_>, _>>()?;
        let rec = self
            .0
            .merge(
                &p,
                Kind::Person,
                &id("survivor_id", &r.survivor_id)?,
                &merged,
                &r.survivor_etag,
            )
            .await
            .map_err(status)?;
        self.reply(&p, &rec).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_company(
        &self,
        req: Request<pb::CreateCompanyRequest>,
    ) -> Result<Response<pb::Company>, Status> {
        let p = principal(&req)?;
        let req = req.into_inner();
        let fields = convert::company_fields(req.company.unwrap_or_default())
            .map_err(|e| status(invalid("company", e)))?;
        let r = self
            .0
            .create_record(&p, Kind::Company, fields, req.allow_duplicate)
            .await
            .map_err(status)?;
        self.reply(&p, &r).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_company(
        &self,
        req: Request<pb::GetCompanyRequest>,
    ) -> Result<Response<pb::Company>, Status> {
        let p = principal(&req)?;
        let r = self
            .0
            .get_record(&p, Kind::Company, &id("id", &req.get_ref().id)?)
            .await
            .map_err(status)?;
        self.reply(&p, &r).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_company(
        &self,
        req: Request<pb::UpdateCompanyRequest>,
    ) -> Result<Response<pb::Company>, Status> {
        let p = principal(&req)?;
        let req = req.into_inner();
        let company = req.company.unwrap_or_default();
        let record_id = id("company.id", &company.id)?;
        let etag = company.etag.clone();
        let fields = convert::company_fields(company).map_err(|e| status(invalid("company", e)))?;
        let r = self
            .0
            .update_record(
                &p,
                Kind::Company,
                &record_id,
                fields,
                &etag,
                &mask(req.update_mask),
            )
            .await
            .map_err(status)?;
        self.reply(&p, &r).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn search_companies(
        &self,
        req: Request<pb::SearchCompaniesRequest>,
    ) -> Result<Response<pb::SearchCompaniesResponse>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let (records, next_page_token, total_size, defs) = self
            .search(
                &p,
                Kind::Company,
                r.query,
                r.filter,
                &r.order_by,
                r.page,
                r.include_total_size,
            )
            .await?;
        Ok(Response::new(pb::SearchCompaniesResponse {
            companies: records
                .iter()
                .map(|r| convert::company_to_pb(r, &defs))
                .collect(),
            next_page_token,
            total_size,
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn merge_companies(
        &self,
        req: Request<pb::MergeCompaniesRequest>,
    ) -> Result<Response<pb::Company>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let merged = r
            .merged_ids
            .iter()
            .map(|m| id("merged_ids", m))
            .collect::<Result<Vec<_>, _>>()?;
        let rec = self
            .0
            .merge(
                &p,
                Kind::Company,
                &id("survivor_id", &r.survivor_id)?,
                &merged,
                &r.survivor_etag,
            )
            .await
            .map_err(status)?;
        self.reply(&p, &rec).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn reassign_owner(
        &self,
        req: Request<pb::ReassignOwnerRequest>,
    ) -> Result<Response<pb::ReassignOwnerResponse>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let kinds = match convert::kind_from_pb(r.object_type)
            .map_err(|e| status(invalid("object_type", e)))?
        {
            Some(k) => vec![k],
            None => vec![Kind::Person, Kind::Company],
        };
        let selection = match r.selection {
            Some(pb::reassign_owner_request::Selection::Ids(ids)) => Handover::Ids(
                ids.ids
                    .iter()
                    .map(|i| id("ids", i))
                    .collect::<Result<_, _>>()?,
            ),
            Some(pb::reassign_owner_request::Selection::Filter(f)) => {
                Handover::Filter(Box::new(filter(Some(f))?), kinds)
            }
            Some(pb::reassign_owner_request::Selection::FromOwner(o)) if !o.trim().is_empty() => {
                Handover::FromOwner(o)
            }
            _ => {
                return Err(status(invalid(
                    "selection",
                    "set ids, filter or from_owner",
                )));
            }
        };
        let n = self
            .0
            .reassign(&p, selection, &r.new_owner, &r.new_team)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ReassignOwnerResponse {
            reassigned_count: n as i64,
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_custom_field(
        &self,
        req: Request<pb::CreateCustomFieldRequest>,
    ) -> Result<Response<pb::CustomField>, Status> {
        let p = principal(&req)?;
        let f = req.into_inner().field.unwrap_or_default();
        let kind = convert::kind_from_pb(f.object_type)
            .map_err(|e| status(invalid("field.object_type", e)))?
            .ok_or_else(|| status(invalid("field.object_type", "person or company")))?;
        let def = CustomFieldDef {
            key: f.key,
            kind,
            label: f.label,
            field_type: convert::field_type_from_pb(f.r#type)
                .map_err(|e| status(invalid("field.type", e)))?,
            required: f.required,
            choices: f.choices,
            min: f.min,
            max: f.max,
            max_length: f.max_length.max(0) as u32,
            create_time: chrono::Utc::now(),
            created_by: String::new(),
        };
        let def = self.0.create_custom_field(&p, def).await.map_err(status)?;
        Ok(Response::new(convert::custom_field_to_pb(&def)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_custom_fields(
        &self,
        req: Request<pb::ListCustomFieldsRequest>,
    ) -> Result<Response<pb::ListCustomFieldsResponse>, Status> {
        let p = principal(&req)?;
        let kind = convert::kind_from_pb(req.get_ref().object_type)
            .map_err(|e| status(invalid("object_type", e)))?;
        let defs = self
            .0
            .list_custom_fields(&p.tenant, kind)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListCustomFieldsResponse {
            fields: defs.iter().map(convert::custom_field_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn delete_custom_field(
        &self,
        req: Request<pb::DeleteCustomFieldRequest>,
    ) -> Result<Response<pb::DeleteCustomFieldResponse>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let kind = convert::kind_from_pb(r.object_type)
            .map_err(|e| status(invalid("object_type", e)))?
            .ok_or_else(|| status(invalid("object_type", "person or company")))?;
        self.0
            .delete_custom_field(&p, kind, &r.key)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteCustomFieldResponse {}))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_import(
        &self,
        req: Request<pb::CreateImportRequest>,
    ) -> Result<Response<pb::Import>, Status> {
        let p = principal(&req)?;
        let o = req.into_inner().options.unwrap_or_default();
        if kind_or(o.object_type, Kind::Person)? != Kind::Person {
            return Err(status(invalid(
                "options.object_type",
                "only people can be imported in this version",
            )));
        }
        let delimiter = match o.delimiter.as_str() {
            "" => None,
            "\\t" | "\t" | "tab" => Some(b'\t'),
            d if d.len() == 1 => Some(d.as_bytes()[0]),
            _ => return Err(status(invalid("options.delimiter", "one character"))),
        };
        let options = ImportOptions {
            column_mapping: o.column_mapping.into_iter().collect(),
            on_duplicate: match pb::DuplicatePolicy::try_from(o.on_duplicate) {
                Ok(pb::DuplicatePolicy::Unspecified | pb::DuplicatePolicy::Skip) => {
                    DuplicatePolicy::Skip
                }
                Ok(pb::DuplicatePolicy::Update) => DuplicatePolicy::Update,
                Ok(pb::DuplicatePolicy::Create) => DuplicatePolicy::Create,
                Err(_) => {
                    return Err(status(invalid(
                        "options.on_duplicate",
                        "skip, update or create",
                    )));
                }
            },
            delimiter,
            file_name: o.file_name,
            expected_bytes: o.expected_bytes.max(0) as u64,
        };
        let job = self.0.create_import(&p, options).await.map_err(status)?;
        Ok(Response::new(import_to_pb(&job)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn upload_import_data(
        &self,
        req: Request<Streaming<pb::UploadImportDataRequest>>,
    ) -> Result<Response<pb::Import>, Status> {
        let p = principal(&req)?;
        let mut stream = req.into_inner();
        let first = match stream.next().await {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(e),
            None => return Err(status(invalid("import_id", "the stream was empty"))),
        };
        let import_id = id("import_id", &first.import_id)?;
        // The file is complete only when a message says `last`; a stream
        // that just ends (a caller that went away) fails the import.
        let complete = Arc::new(std::sync::atomic::AtomicBool::new(first.last));
        let seen = complete.clone();
        let rest = stream
            .take_while(move |m| {
                let more = !seen.load(std::sync::atomic::Ordering::Relaxed);
                if let Ok(m) = m
                    && m.last
                {
                    seen.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                futures::future::ready(more)
            })
            .map(|m| m.map(|m| m.data));
        let end = futures::stream::once(async move {
            if complete.load(std::sync::atomic::Ordering::Relaxed) {
                Ok(Vec::new())
            } else {
                Err(Status::cancelled(
                    "the upload ended before its final message (last = true)",
                ))
            }
        });
        let chunks = futures::stream::once(async move { Ok::<_, Status>(first.data) })
            .chain(rest)
            .chain(end)
            .filter(|c| futures::future::ready(!matches!(c, Ok(d) if d.is_empty())))
            .boxed();
        // The import runs on its own task: if the caller goes away, the
        // stream ends in an error and the import is recorded as failed
        // instead of being dropped mid-way with its state `running`.
        let api = self.0.clone();
        // The task's audit entries name this request's origin.
        let origin = rapport_platform::audit::Origin::current();
        let job =
            tokio::spawn(origin.scope(async move { api.run_import(&p, &import_id, chunks).await }))
                .await
                .map_err(|e| Status::internal(format!("import task: {e}")))?
                .map_err(status)?;
        Ok(Response::new(import_to_pb(&job)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_import(
        &self,
        req: Request<pb::GetImportRequest>,
    ) -> Result<Response<pb::Import>, Status> {
        let p = principal(&req)?;
        let job = self
            .0
            .get_import(&p.tenant, &id("id", &req.get_ref().id)?)
            .await
            .map_err(status)?;
        Ok(Response::new(import_to_pb(&job)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_import_errors(
        &self,
        req: Request<pb::ListImportErrorsRequest>,
    ) -> Result<Response<pb::ListImportErrorsResponse>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let (size, token) = page(r.page)?;
        let size = if size == 0 { 100 } else { size.min(1000) };
        let after = match PageToken::decode(&token).map_err(store_status)? {
            None => 0,
            Some(t) => <[u8; 8]>::try_from(t.as_bytes())
                .map(u64::from_be_bytes)
                .map_err(|_| store_status(StoreError::InvalidPageToken))?,
        };
        let errors = self
            .0
            .import_errors(&p.tenant, &id("import_id", &r.import_id)?, after, size)
            .await
            .map_err(status)?;
        let next_page_token = match errors.last() {
            Some(e) if errors.len() == size => {
                PageToken::from_bytes(e.row.to_be_bytes().to_vec()).encode()
            }
            _ => String::new(),
        };
        Ok(Response::new(pb::ListImportErrorsResponse {
            errors: errors
                .into_iter()
                .map(|e| pb::ImportRowError {
                    row: e.row as i64,
                    field: e.field,
                    message: e.message,
                })
                .collect(),
            next_page_token,
        }))
    }

    type ExportContactsStream = ExportStream;

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_contacts(
        &self,
        req: Request<pb::ExportContactsRequest>,
    ) -> Result<Response<ExportStream>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let query = SearchQuery {
            kind: kind_or(r.object_type, Kind::Person)?,
            filter: filter(r.filter)?,
            ..Default::default()
        };
        let stream = self.0.clone().export_csv(p, query).await.map_err(status)?;
        Ok(Response::new(Box::pin(stream.map(|chunk| {
            chunk
                .map(|data| pb::ExportContactsChunk { data })
                .map_err(status)
        }))))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_contact_settings(
        &self,
        req: Request<pb::GetContactSettingsRequest>,
    ) -> Result<Response<pb::ContactSettings>, Status> {
        let p = principal(&req)?;
        let region = self.0.region(&p.tenant).await.map_err(status)?;
        Ok(Response::new(pb::ContactSettings {
            default_phone_region: region.code().to_owned(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_contact_settings(
        &self,
        req: Request<pb::UpdateContactSettingsRequest>,
    ) -> Result<Response<pb::ContactSettings>, Status> {
        let p = principal(&req)?;
        let s = req.into_inner().settings.unwrap_or_default();
        let region = Region::parse(&s.default_phone_region)
            .map_err(|e| status(invalid("settings.default_phone_region", e.to_string())))?;
        self.0.set_phone_region(&p, &region).await.map_err(status)?;
        Ok(Response::new(pb::ContactSettings {
            default_phone_region: region.code().to_owned(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_personal_data(
        &self,
        req: Request<pb::ExportPersonalDataRequest>,
    ) -> Result<Response<pb::ExportPersonalDataResponse>, Status> {
        let p = principal(&req)?;
        let doc = self
            .0
            .export_personal_data(&p, &id("contact_id", &req.get_ref().contact_id)?)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ExportPersonalDataResponse {
            document_json: doc.to_string(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn erase_person(
        &self,
        req: Request<pb::ErasePersonRequest>,
    ) -> Result<Response<pb::ErasePersonResponse>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let audit = self
            .0
            .erase_person(&p, &id("contact_id", &r.contact_id)?, &r.reason)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ErasePersonResponse {
            erasure_id: audit.id.to_string(),
            erase_time: Some(to_timestamp(audit.erase_time)),
        }))
    }
}
