//! `rapport.common.v1.PersonalDataService`: the interactions held about a
//! person, for the contacts service's data-protection export. The shared
//! [`rapport_platform::personal_data`] service answers; this is the
//! [`InteractionStore`] as its [`PersonalDataSource`].

use async_trait::async_trait;
use rapport_platform::{
    error::FieldViolation,
    identity::TenantId,
    personal_data::{self, PersonalDataSource},
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::interactions::DOMAIN;
use crate::{SERVICE, domain::CommsError, store::InteractionStore};

/// The personal-data export of the comms service.
pub type PersonalDataApi = personal_data::PersonalDataApi<dyn InteractionStore>;

#[async_trait]
impl PersonalDataSource for dyn InteractionStore {
    type Error = CommsError;
    const SERVICE: &'static str = SERVICE;
    const DOMAIN: &'static str = DOMAIN;
    const SECTION: &'static str = "interactions";

    fn invalid(violations: Vec<FieldViolation>) -> CommsError {
        CommsError::Invalid(violations)
    }

    /// Every interaction with the contact in `tenant`, newest first.
    async fn export(&self, tenant: &TenantId, contact_id: Uuid) -> Result<Vec<Value>, CommsError> {
        let interactions = self.contact_history(tenant, contact_id).await?;
        Ok(interactions
            .iter()
            .map(|i| {
                json!({
                    "id": i.id.to_string(),
                    "channel": i.channel.as_str(),
                    "direction": i.direction.as_str(),
                    "occurred_at": i.occurred_at.to_rfc3339(),
                    "summary": i.summary,
                    "create_time": i.create_time.to_rfc3339(),
                    "created_by": i.created_by.as_str(),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{SubsecRound, Utc};
    use rapport_platform::identity::{Principal, Role, TenantId, UserId};
    use rapport_proto::common::v1::{
        PersonalDataRequest, personal_data_service_server::PersonalDataService,
    };
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
            teams: Vec::new(),
            scopes: None,
            grants: Vec::new(),
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
                aggregate_version: None,
            };
            let audit = OutboxMessage {
                event_id: Uuid::now_v7().to_string(),
                ..event.clone()
            };
            store.create(&i, &event, &audit).await.unwrap();
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
