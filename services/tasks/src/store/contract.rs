//! The contract every [`TaskStore`] backend must meet.

use chrono::{Duration, SubsecRound, Utc};
use rapport_platform::identity::{TenantId, UserId};
use rapport_store::OutboxMessage;

use super::TaskStore;
use crate::domain::{Task, TaskDraft};

fn task(tenant: &str) -> Task {
    let now = Utc::now().trunc_subsecs(3);
    TaskDraft {
        title: "Send the commercial offer".into(),
        contact_id: uuid::Uuid::now_v7().to_string(),
        due_time: Some(now + Duration::days(2)),
        assignee: String::new(),
    }
    .validate(
        TenantId::parse(tenant).unwrap(),
        UserId::parse("carol").unwrap(),
        now,
    )
    .unwrap()
}

fn event() -> OutboxMessage {
    OutboxMessage {
        event_id: uuid::Uuid::now_v7().to_string(),
        topic: "rapport.tasks.v1".into(),
        key: "acme/t".into(),
        payload: vec![1],
        headers: vec![],
    }
}

async fn stores_reads_and_scopes_by_tenant(s: &dyn TaskStore) {
    let t = task("acme");
    s.create(&t, &event()).await.unwrap();
    assert_eq!(s.get(&t.tenant, t.id).await.unwrap(), Some(t.clone()));
    let globex = TenantId::parse("globex").unwrap();
    assert_eq!(s.get(&globex, t.id).await.unwrap(), None);
    assert!(s.outbox().backlog().await.unwrap() >= 1);
}

mod sqlite {
    #[tokio::test]
    async fn stores_reads_and_scopes_by_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::SqliteTaskStore::open(&dir.path().join("tasks.db"))
            .await
            .unwrap();
        super::stores_reads_and_scopes_by_tenant(&s).await;
    }
}

mod scylla {
    use rapport_store::scylla::{Consistency, ScyllaSettings, test_node};

    #[tokio::test]
    async fn stores_reads_and_scopes_by_tenant() {
        let Some(node) = test_node("tasks store contract") else {
            return;
        };
        let settings = ScyllaSettings {
            nodes: vec![node],
            keyspace: format!("rapport_test_tasks_{}", std::process::id()),
            replication_factor: 1,
            local_dc: None,
            consistency: Consistency::One,
            credentials: None,
        };
        let s = crate::store::ScyllaTaskStore::connect(&settings)
            .await
            .unwrap();
        super::stores_reads_and_scopes_by_tenant(&s).await;
    }
}
