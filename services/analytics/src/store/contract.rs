//! The contract every [`SummaryStore`] backend must meet.

use rapport_platform::identity::TenantId;

use super::SummaryStore;
use crate::domain::Metric;

async fn counts_each_event_once(s: &dyn SummaryStore) {
    let acme = TenantId::parse("acme").unwrap();
    let e1 = uuid::Uuid::now_v7().to_string();
    let e2 = uuid::Uuid::now_v7().to_string();
    s.apply(&acme, &e1, Some(Metric::Contacts)).await.unwrap();
    s.apply(&acme, &e1, Some(Metric::Contacts)).await.unwrap();
    s.apply(&acme, &e2, Some(Metric::Interactions))
        .await
        .unwrap();
    s.apply(&acme, &uuid::Uuid::now_v7().to_string(), None)
        .await
        .unwrap();
    let summary = s.summary(&acme).await.unwrap();
    assert_eq!((summary.contacts, summary.interactions), (1, 1));
}

async fn tenants_are_counted_apart(s: &dyn SummaryStore) {
    let acme = TenantId::parse("acme").unwrap();
    let globex = TenantId::parse("globex").unwrap();
    s.apply(
        &acme,
        &uuid::Uuid::now_v7().to_string(),
        Some(Metric::Deals),
    )
    .await
    .unwrap();
    assert_eq!(s.summary(&globex).await.unwrap().deals, 0);
    assert_eq!(s.summary(&acme).await.unwrap().deals, 1);
}

mod sqlite {
    use crate::store::SqliteSummaryStore;

    async fn store() -> (tempfile::TempDir, SqliteSummaryStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteSummaryStore::open(&dir.path().join("analytics.db"))
            .await
            .unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn counts_each_event_once() {
        let (_d, s) = store().await;
        super::counts_each_event_once(&s).await;
    }

    #[tokio::test]
    async fn tenants_are_counted_apart() {
        let (_d, s) = store().await;
        super::tenants_are_counted_apart(&s).await;
    }

    #[tokio::test]
    async fn reports_whether_an_event_was_new() {
        let (_d, s) = store().await;
        let acme = rapport_platform::identity::TenantId::parse("acme").unwrap();
        use super::SummaryStore;
        assert!(s.apply(&acme, "e", None).await.unwrap());
        assert!(!s.apply(&acme, "e", None).await.unwrap());
    }
}

mod scylla {
    use crate::store::ScyllaSummaryStore;
    use rapport_store::scylla::{Consistency, ScyllaSettings, test_node};

    async fn store() -> Option<ScyllaSummaryStore> {
        let node = test_node("analytics store contract")?;
        let settings = ScyllaSettings {
            nodes: vec![node],
            keyspace: format!("rapport_test_analytics_{}", std::process::id()),
            replication_factor: 1,
            local_dc: None,
            consistency: Consistency::One,
            credentials: None,
        };
        Some(ScyllaSummaryStore::connect(&settings).await.unwrap())
    }

    #[tokio::test]
    async fn counts_each_event_once() {
        if let Some(s) = store().await {
            super::counts_each_event_once(&s).await;
        }
    }

    #[tokio::test]
    async fn tenants_are_counted_apart() {
        if let Some(s) = store().await {
            super::tenants_are_counted_apart(&s).await;
        }
    }
}
