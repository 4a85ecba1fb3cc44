//! `rapport.common.v1.PersonalDataService`: the tasks held about a person,
//! for the contacts service's data-protection export. The shared
//! [`rapport_platform::personal_data`] service answers; this is the
//! [`TaskStore`] as its [`PersonalDataSource`].

use async_trait::async_trait;
use rapport_platform::{
    error::FieldViolation,
    identity::TenantId,
    personal_data::{self, PersonalDataSource},
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::tasks::DOMAIN;
use crate::{SERVICE, domain::TaskError, store::TaskStore};

/// The personal-data export of the tasks service.
pub type PersonalDataApi = personal_data::PersonalDataApi<dyn TaskStore>;

#[async_trait]
impl PersonalDataSource for dyn TaskStore {
    type Error = TaskError;
    const SERVICE: &'static str = SERVICE;
    const DOMAIN: &'static str = DOMAIN;
    const SECTION: &'static str = "tasks";

    fn invalid(violations: Vec<FieldViolation>) -> TaskError {
        TaskError::Invalid(violations)
    }

    /// Every task linked to the contact in `tenant`.
    async fn export(&self, tenant: &TenantId, contact_id: Uuid) -> Result<Vec<Value>, TaskError> {
        let tasks = self.list_by_contact(tenant, contact_id).await?;
        Ok(tasks
            .iter()
            .map(|t| {
                json!({
                    "id": t.id,
                    "title": t.title,
                    "due_time": t.due_time.map(|d| d.to_rfc3339()),
                    "assignee": t.assignee.as_str(),
                    "create_time": t.create_time.to_rfc3339(),
                    "created_by": t.created_by.as_str(),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;
    use rapport_platform::identity::{Principal, Role, TenantId, UserId};
    use rapport_proto::common::v1::{
        PersonalDataRequest, personal_data_service_server::PersonalDataService,
    };
    use rapport_store::OutboxMessage;

    use super::*;
    use crate::{domain::TaskDraft, store::SqliteTaskStore};

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
                aggregate_version: None,
            };
            let audit = OutboxMessage {
                event_id: Uuid::now_v7().to_string(),
                ..event.clone()
            };
            store.create(&d, &event, &audit).await.unwrap();
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
