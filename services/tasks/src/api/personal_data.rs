//! `rapport.common.v1.PersonalDataService`: the tasks held about a person,
//! for the contacts service's data-protection export.

use std::sync::Arc;

use rapport_platform::{error::FieldViolation, identity::Principal};
use rapport_proto::common::v1::{
    PersonalData, PersonalDataRequest, personal_data_service_server::PersonalDataService,
};
use serde_json::json;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::tasks::{principal, status};
use crate::{SERVICE, domain::TaskError, store::TaskStore};

/// The personal-data export of the tasks service.
pub struct PersonalDataApi {
    store: Arc<dyn TaskStore>,
}

impl PersonalDataApi {
    /// An export over `store`.
    pub fn new(store: Arc<dyn TaskStore>) -> Self {
        PersonalDataApi { store }
    }
}

#[tonic::async_trait]
impl PersonalDataService for PersonalDataApi {
    /// Every task linked to the contact in the caller's tenant. The contact
    /// is not looked up: the contacts service is the caller, and a contact
    /// without tasks (or of another tenant) simply has none.
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_personal_data(
        &self,
        req: Request<PersonalDataRequest>,
    ) -> Result<Response<PersonalData>, Status> {
        let principal: Principal = principal(&req)?;
        tracing::Span::current().record("tenant", principal.tenant.as_str());
        let contact_id = Uuid::parse_str(req.get_ref().contact_id.trim()).map_err(|_| {
            status(TaskError::Invalid(vec![FieldViolation::new(
                "contact_id",
                "required: a contact id",
            )]))
        })?;
        let tasks = self
            .store
            .list_by_contact(&principal.tenant, contact_id)
            .await
            .map_err(|e| status(e.into()))?;
        let document = json!({
            "contact_id": contact_id,
            "tasks": tasks.iter().map(|t| json!({
                "id": t.id,
                "title": t.title,
                "due_time": t.due_time.map(|d| d.to_rfc3339()),
                "assignee": t.assignee.as_str(),
                "create_time": t.create_time.to_rfc3339(),
                "created_by": t.created_by.as_str(),
            })).collect::<Vec<_>>(),
        });
        Ok(Response::new(PersonalData {
            service: SERVICE.to_owned(),
            document_json: document.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use rapport_platform::identity::{Role, TenantId, UserId};
    use rapport_store::OutboxMessage;

    use super::*;
    use crate::{domain::TaskDraft, store::SqliteTaskStore};

    fn principal_of(tenant: &str) -> Principal {
        Principal {
            tenant: TenantId::parse(tenant).unwrap(),
            user: UserId::parse("dpo").unwrap(),
            roles: vec![Role::Admin],
        }
    }

    #[tokio::test]
    async fn exports_the_contacts_tasks_of_the_callers_tenant_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteTaskStore::open(&dir.path().join("tasks.db"))
                .await
                .unwrap(),
        );
        let contact = Uuid::now_v7();
        for (tenant, title) in [("acme", "Call back"), ("globex", "Not yours")] {
            let d = TaskDraft {
                title: title.into(),
                contact_id: contact.to_string(),
                ..Default::default()
            }
            .validate(
                TenantId::parse(tenant).unwrap(),
                UserId::parse("carol").unwrap(),
                Utc::now(),
            )
            .unwrap();
            let event = OutboxMessage {
                event_id: Uuid::now_v7().to_string(),
                topic: "rapport.tasks.v1".into(),
                key: "k".into(),
                payload: vec![1],
                headers: vec![],
            };
            store.create(&d, &event).await.unwrap();
        }
        let api = PersonalDataApi::new(store);
        let answer = api
            .export_personal_data(principal_of("acme").request(PersonalDataRequest {
                contact_id: contact.to_string(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.service, "tasks");
        let doc: serde_json::Value = serde_json::from_str(&answer.document_json).unwrap();
        assert_eq!(doc["contact_id"], contact.to_string());
        let tasks = doc["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0]["title"], "Call back");

        let bad = api
            .export_personal_data(principal_of("acme").request(PersonalDataRequest {
                contact_id: "nope".into(),
            }))
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    }
}
