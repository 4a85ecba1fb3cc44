//! `rapport.common.v1.PersonalDataService`: the deals held about a person,
//! for the contacts service's data-protection export. The shared
//! [`rapport_platform::personal_data`] service answers; this is the
//! [`DealStore`] as its [`PersonalDataSource`].

use async_trait::async_trait;
use rapport_platform::{
    error::FieldViolation,
    identity::TenantId,
    personal_data::{self, PersonalDataSource},
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::deals::DOMAIN;
use crate::{SERVICE, domain::DealError, store::DealStore};

/// The personal-data export of the deals service.
pub type PersonalDataApi = personal_data::PersonalDataApi<dyn DealStore>;

#[async_trait]
impl PersonalDataSource for dyn DealStore {
    type Error = DealError;
    const SERVICE: &'static str = SERVICE;
    const DOMAIN: &'static str = DOMAIN;
    const SECTION: &'static str = "deals";

    fn invalid(violations: Vec<FieldViolation>) -> DealError {
        DealError::Invalid(violations)
    }

    /// Every deal linked to the contact in `tenant`.
    async fn export(&self, tenant: &TenantId, contact_id: Uuid) -> Result<Vec<Value>, DealError> {
        let deals = self.list_by_contact(tenant, contact_id).await?;
        Ok(deals
            .iter()
            .map(|d| {
                json!({
                    "id": d.id,
                    "title": d.title,
                    "amount": d.amount.as_ref().map(|m| json!({
                        "currency_code": m.currency,
                        "units": m.units,
                        "nanos": m.nanos,
                    })),
                    "stage": d.stage,
                    "create_time": d.create_time.to_rfc3339(),
                    "created_by": d.created_by.as_str(),
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
    use crate::{domain::DealDraft, store::SqliteDealStore};

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
    async fn exports_the_contacts_deals_of_the_callers_tenant_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteDealStore::open(&dir.path().join("deals.db"))
                .await
                .unwrap(),
        );
        let contact = Uuid::now_v7();
        for (tenant, title) in [("acme", "Fleet renewal"), ("globex", "Not yours")] {
            let d = DealDraft {
                title: title.into(),
                contact_id: contact.to_string(),
                ..Default::default()
            }
            .validate(
                &crate::domain::pipeline::default_pipeline(&TenantId::parse(tenant).unwrap()),
                TenantId::parse(tenant).unwrap(),
                UserId::parse("bob").unwrap(),
                Utc::now(),
            )
            .unwrap();
            let event = OutboxMessage {
                event_id: Uuid::now_v7().to_string(),
                topic: "rapport.deals.v1".into(),
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
        assert_eq!(answer.service, "deals");
        let doc: serde_json::Value = serde_json::from_str(&answer.document_json).unwrap();
        assert_eq!(doc["contact_id"], contact.to_string());
        let deals = doc["deals"].as_array().unwrap();
        assert_eq!(deals.len(), 1);
        assert_eq!(deals[0]["title"], "Fleet renewal");

        let bad = api
            .export_personal_data(principal_of("acme").request(PersonalDataRequest {
                contact_id: "nope".into(),
            }))
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    }
}
