//! `rapport.common.v1.PersonalDataService`: what a service holds about a
//! person, for the contacts service's data-protection export.
//!
//! Every service that keeps records of people answers the same way: the
//! caller's tenant, the person's id checked, and a JSON document
//! `{"contact_id": ..., "<section>": [...]}`. [`PersonalDataApi`] is that
//! answer; a service implements [`PersonalDataSource`] with its records, as
//! JSON objects, and the name of its section.

use std::sync::Arc;

use async_trait::async_trait;
use rapport_proto::common::v1::{
    PersonalData, PersonalDataRequest, personal_data_service_server::PersonalDataService,
};
use serde_json::Value;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    error::{FieldViolation, ServiceError, to_status},
    identity::{Permission, TenantId, caller},
};

/// A service's records of people, as its personal-data export shows them.
#[async_trait]
pub trait PersonalDataSource: Send + Sync + 'static {
    /// The service's error, answered with [`to_status`] in [`Self::DOMAIN`].
    type Error: ServiceError + Send + 'static;
    /// The service's name (`PersonalData.service`).
    const SERVICE: &'static str;
    /// The `ErrorInfo` domain of its errors, e.g. `deals.rapport`.
    const DOMAIN: &'static str;
    /// The key of the document's list of records, e.g. `deals`.
    const SECTION: &'static str;

    /// The error of a request with invalid fields.
    fn invalid(violations: Vec<FieldViolation>) -> Self::Error;
    /// The records of `tenant` linked to `contact_id`, each as a JSON
    /// object, in the order the document lists them.
    async fn export(&self, tenant: &TenantId, contact_id: Uuid) -> Result<Vec<Value>, Self::Error>;
}

/// The `PersonalDataService` of a service, over its [`PersonalDataSource`]
/// (often its store: `PersonalDataApi<dyn DealStore>`).
pub struct PersonalDataApi<S: ?Sized> {
    source: Arc<S>,
}

impl<S: ?Sized> PersonalDataApi<S> {
    /// An export over `source`.
    pub fn new(source: Arc<S>) -> Self {
        PersonalDataApi { source }
    }
}

fn status<S: ?Sized + PersonalDataSource>(e: S::Error) -> Status {
    to_status(&e, S::DOMAIN)
}

#[async_trait]
impl<S: ?Sized + PersonalDataSource> PersonalDataService for PersonalDataApi<S> {
    /// Every record linked to the contact in the caller's tenant. The
    /// contact is not looked up: the contacts service is the caller, and a
    /// contact without records (or of another tenant) simply has none.
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_personal_data(
        &self,
        req: Request<PersonalDataRequest>,
    ) -> Result<Response<PersonalData>, Status> {
        // The contacts service asks with the caller's principal: an
        // export of someone's data is a tenant admin's request.
        let principal = caller(req.metadata(), Permission::ExportPersonalData)
            .map_err(|e| to_status(&e, S::DOMAIN))?;
        let contact_id = Uuid::parse_str(req.get_ref().contact_id.trim()).map_err(|_| {
            status::<S>(S::invalid(vec![FieldViolation::new(
                "contact_id",
                "required: a contact id",
            )]))
        })?;
        let records = self
            .source
            .export(&principal.tenant, contact_id)
            .await
            .map_err(status::<S>)?;
        let mut document = serde_json::Map::new();
        document.insert("contact_id".into(), contact_id.to_string().into());
        document.insert(S::SECTION.into(), Value::Array(records));
        Ok(Response::new(PersonalData {
            service: S::SERVICE.to_owned(),
            document_json: Value::Object(document).to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        error::{ErrorCode, status_details},
        identity::{Principal, Role, UserId},
    };

    #[derive(Debug, thiserror::Error)]
    enum NoteError {
        #[error("invalid note")]
        Invalid(Vec<FieldViolation>),
    }

    impl ServiceError for NoteError {
        fn code(&self) -> ErrorCode {
            match self {
                NoteError::Invalid(_) => ErrorCode::InvalidArgument,
            }
        }
        fn reason(&self) -> &'static str {
            match self {
                NoteError::Invalid(_) => "INVALID_NOTE",
            }
        }
        fn field_violations(&self) -> Vec<FieldViolation> {
            match self {
                NoteError::Invalid(v) => v.clone(),
            }
        }
    }

    /// One note per person, of tenant `acme` only.
    struct Notes;

    #[async_trait]
    impl PersonalDataSource for Notes {
        type Error = NoteError;
        const SERVICE: &'static str = "notes";
        const DOMAIN: &'static str = "notes.rapport";
        const SECTION: &'static str = "notes";

        fn invalid(violations: Vec<FieldViolation>) -> NoteError {
            NoteError::Invalid(violations)
        }
        async fn export(
            &self,
            tenant: &TenantId,
            contact_id: Uuid,
        ) -> Result<Vec<Value>, NoteError> {
            Ok(match tenant.as_str() {
                "acme" => vec![json!({"about": contact_id, "text": "Prefers calls"})],
                _ => Vec::new(),
            })
        }
    }

    fn principal_of(tenant: &str) -> Principal {
        Principal {
            tenant: TenantId::parse(tenant).unwrap(),
            user: UserId::parse("dpo").unwrap(),
            roles: vec![Role::Admin],
            teams: Vec::new(),
            scopes: None,
            grants: Vec::new(),
        }
    }

    fn request(contact_id: &str) -> PersonalDataRequest {
        PersonalDataRequest {
            contact_id: contact_id.into(),
        }
    }

    #[tokio::test]
    async fn exports_the_section_of_the_callers_tenant() {
        let api = PersonalDataApi::new(Arc::new(Notes));
        let contact = Uuid::now_v7();
        for (tenant, notes) in [("acme", 1), ("globex", 0)] {
            let answer = api
                .export_personal_data(
                    principal_of(tenant).request(request(&format!(" {contact} "))),
                )
                .await
                .unwrap()
                .into_inner();
            assert_eq!(answer.service, "notes");
            let doc: Value = serde_json::from_str(&answer.document_json).unwrap();
            assert_eq!(doc["contact_id"], contact.to_string());
            assert_eq!(doc["notes"].as_array().unwrap().len(), notes, "{tenant}");
        }
    }

    #[tokio::test]
    async fn refuses_bad_ids_and_anonymous_callers_in_the_service_domain() {
        let api = PersonalDataApi::new(Arc::new(Notes));
        let bad = api
            .export_personal_data(principal_of("acme").request(request("nope")))
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        let details = status_details(&bad);
        assert_eq!(details.reason.as_deref(), Some("INVALID_NOTE"));
        assert_eq!(details.domain.as_deref(), Some("notes.rapport"));

        let anonymous = api
            .export_personal_data(Request::new(request(&Uuid::now_v7().to_string())))
            .await
            .unwrap_err();
        assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);

        let mut rep = principal_of("acme");
        rep.roles = vec![Role::Rep, Role::Manager];
        let denied = api
            .export_personal_data(rep.request(request(&Uuid::now_v7().to_string())))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        let details = status_details(&denied);
        assert_eq!(details.reason.as_deref(), Some("PERMISSION_DENIED"));
        assert_eq!(details.domain.as_deref(), Some("notes.rapport"));
    }
}
