//! `rapport.common.v1.PersonalDataService`: the deals held about a person,
//! for the contacts service's data-protection export.

use std::sync::Arc;

use rapport_platform::{error::FieldViolation, identity::Principal};
use rapport_proto::common::v1::{
    PersonalData, PersonalDataRequest, personal_data_service_server::PersonalDataService,
};
use serde_json::json;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::deals::{principal, status};
use crate::{SERVICE, domain::DealError, store::DealStore};

/// The personal-data export of the deals service.
pub struct PersonalDataApi {
    store: Arc<dyn DealStore>,
}

impl PersonalDataApi {
    /// An export over `store`.
    pub fn new(store: Arc<dyn DealStore>) -> Self {
        PersonalDataApi { store }
    }
}

#[tonic::async_trait]
impl PersonalDataService for PersonalDataApi {
    /// Every deal linked to the contact in the caller's tenant. The contact
    /// is not looked up: the contacts service is the caller, and a contact
    /// without deals (or of another tenant) simply has none.
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_personal_data(
        &self,
        req: Request<PersonalDataRequest>,
    ) -> Result<Response<PersonalData>, Status> {
        let principal: Principal = principal(&req)?;
        tracing::Span::current().record("tenant", principal.tenant.as_str());
        let contact_id = Uuid::parse_str(req.get_ref().contact_id.trim()).map_err(|_| {
            status(DealError::Invalid(vec![FieldViolation::new(
                "contact_id",
                "required: a contact id",
            )]))
        })?;
        let deals = self
            .store
            .list_by_contact(&principal.tenant, contact_id)
            .await
            .map_err(|e| status(e.into()))?;
        let document = json!({
            "contact_id": contact_id,
            "deals": deals.iter().map(|d| json!({
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
    use crate::{domain::DealDraft, store::SqliteDealStore};

    fn principal_of(tenant: &str) -> Principal {
        Principal {
            tenant: TenantId::parse(tenant).unwrap(),
            user: UserId::parse("dpo").unwrap(),
            roles: vec![Role::Admin],
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
