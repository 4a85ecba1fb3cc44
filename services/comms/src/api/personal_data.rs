//! `rapport.common.v1.PersonalDataService`: the interactions held about a
//! person,
//! for the contacts service's data-protection export.

use std::sync::Arc;

use rapport_platform::{error::FieldViolation, identity::Principal};
use rapport_proto::common::v1::{
    PersonalData, PersonalDataRequest, personal_data_service_server::PersonalDataService,
};
use serde_json::json;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::interactions::{principal, status};
use crate::{SERVICE, domain::CommsError, store::InteractionStore};

/// The personal-data export of the comms service.
pub struct PersonalDataApi {
    store: Arc<dyn InteractionStore>,
}

impl PersonalDataApi {
    /// An export over `store`.
    pub fn new(store: Arc<dyn InteractionStore>) -> Self {
        PersonalDataApi { store }
    }
}

#[tonic::async_trait]
impl PersonalDataService for PersonalDataApi {
    /// Every interaction with the contact in the caller's tenant. The contact
    /// is not looked up: the contacts service is the caller, and a contact
    /// without interactions (or of another tenant) simply has none.
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_personal_data(
        &self,
        req: Request<PersonalDataRequest>,
    ) -> Result<Response<PersonalData>, Status> {
        let principal: Principal = principal(&req)?;
        tracing::Span::current().record("tenant", principal.tenant.as_str());
        let contact_id = Uuid::parse_str(req.get_ref().contact_id.trim()).map_err(|_| {
            status(CommsError::Invalid(vec![FieldViolation::new(
                "contact_id",
                "required: a contact id",
            )]))
        })?;
        let interactions = self
            .store
            .contact_history(&principal.tenant, contact_id)
            .await
            .map_err(|e| status(e.into()))?;
        let document = json!({
            "contact_id": contact_id,
            "interactions": interactions.iter().map(|i| json!({
                "id": i.id.to_string(),
                "channel": i.channel.as_str(),
                "direction": i.direction.as_str(),
                "occurred_at": i.occurred_at.to_rfc3339(),
                "summary": i.summary,
                "create_time": i.create_time.to_rfc3339(),
                "created_by": i.created_by.as_str(),
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
    use chrono::{SubsecRound, Utc};
    use rapport_platform::identity::{Role, TenantId, UserId};
    use rapport_store::OutboxMessage;

    use super::*;
    use crate::{
        domain::{Channel, Direction, InteractionDraft},
        store::SqliteInteractionStore,
    };

    fn principal_of(tenant: &str) -> Principal {
        Principal {
            tenant: TenantId::parse(tenant).unwrap(),
            user: UserId::parse("dpo").unwrap(),
            roles: vec![Role::Admin],
        }
    }

    #[tokio::test]
    async fn exports_the_contacts_interactions_of_the_callers_tenant_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteInteractionStore::open(&dir.path().join("comms.db"))
                .await
                .unwrap(),
        );
        let contact = Uuid::now_v7();
        for (tenant, summary) in [("acme", "Asked for an offer"), ("globex", "Not yours")] {
            let now = Utc::now().trunc_subsecs(3);
            let i = InteractionDraft {
                contact_id: contact.to_string(),
                channel: Some(Channel::Call),
                direction: Some(Direction::Inbound),
                occurred_at: Some(now),
                summary: summary.into(),
            }
            .validate(
                TenantId::parse(tenant).unwrap(),
                UserId::parse("alice").unwrap(),
                now,
            )
            .unwrap();
            let event = OutboxMessage {
                event_id: Uuid::now_v7().to_string(),
                topic: "rapport.interactions.v1".into(),
                key: "k".into(),
                payload: vec![1],
                headers: vec![],
            };
            store.create(&i, &event).await.unwrap();
        }
        let api = PersonalDataApi::new(store);
        let answer = api
            .export_personal_data(principal_of("acme").request(PersonalDataRequest {
                contact_id: contact.to_string(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.service, "comms");
        let doc: serde_json::Value = serde_json::from_str(&answer.document_json).unwrap();
        assert_eq!(doc["contact_id"], contact.to_string());
        let interactions = doc["interactions"].as_array().unwrap();
        assert_eq!(interactions.len(), 1);
        assert_eq!(interactions[0]["summary"], "Asked for an offer");
        assert_eq!(interactions[0]["channel"], "call");

        let bad = api
            .export_personal_data(principal_of("acme").request(PersonalDataRequest {
                contact_id: "nope".into(),
            }))
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    }
}
