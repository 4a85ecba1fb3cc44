//! The contract every [`DealStore`] backend must meet.

use chrono::{SubsecRound, Utc};
use rapport_platform::identity::{TenantId, UserId};
use rapport_store::OutboxMessage;

use super::DealStore;
use crate::domain::{Deal, DealDraft, Money};

fn deal(tenant: &str) -> Deal {
    DealDraft {
        title: "Fleet renewal".into(),
        contact_id: uuid::Uuid::now_v7().to_string(),
        amount: Some(Money {
            currency: "EUR".into(),
            units: 1250,
            nanos: 500_000_000,
        }),
        stage: String::new(),
    }
    .validate(
        TenantId::parse(tenant).unwrap(),
        UserId::parse("bob").unwrap(),
        Utc::now().trunc_subsecs(3),
    )
    .unwrap()
}

fn event() -> OutboxMessage {
    OutboxMessage {
        event_id: uuid::Uuid::now_v7().to_string(),
        topic: "rapport.deals.v1".into(),
        key: "acme/d".into(),
        payload: vec![1],
        headers: vec![],
    }
}

async fn stores_reads_and_scopes_by_tenant(s: &dyn DealStore) {
    let d = deal("acme");
    s.create(&d, &event()).await.unwrap();
    assert_eq!(s.get(&d.tenant, d.id).await.unwrap(), Some(d.clone()));
    let globex = TenantId::parse("globex").unwrap();
    assert_eq!(s.get(&globex, d.id).await.unwrap(), None);
    assert!(s.outbox().backlog().await.unwrap() >= 1);
}

mod sqlite {
    #[tokio::test]
    async fn stores_reads_and_scopes_by_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::SqliteDealStore::open(&dir.path().join("deals.db"))
            .await
            .unwrap();
        super::stores_reads_and_scopes_by_tenant(&s).await;
    }
}

mod scylla {
    use rapport_store::scylla::{Consistency, ScyllaSettings, test_node};

    #[tokio::test]
    async fn stores_reads_and_scopes_by_tenant() {
        let Some(node) = test_node("deals store contract") else {
            return;
        };
        let settings = ScyllaSettings {
            nodes: vec![node],
            keyspace: format!("rapport_test_deals_{}", std::process::id()),
            replication_factor: 1,
            local_dc: None,
            consistency: Consistency::One,
            credentials: None,
        };
        let s = crate::store::ScyllaDealStore::connect(&settings)
            .await
            .unwrap();
        super::stores_reads_and_scopes_by_tenant(&s).await;
    }
}
