//! The contract every [`ContactStore`] backend must meet. Each test body is
//! written once and run against SQLite always, and against ScyllaDB when
//! `RAPPORT_TEST_SCYLLA` is set.

use chrono::{SubsecRound, Utc};
use rapport_platform::identity::{TenantId, UserId};
use rapport_store::OutboxMessage;

use super::ContactStore;
use crate::domain::{Contact, ContactDraft, ContactId};

fn contact(tenant: &str, name: &str) -> Contact {
    ContactDraft {
        given_name: name.into(),
        family_name: "Tester".into(),
        email: format!("{name}@example.com"),
        ..Default::default()
    }
    .validate(
        TenantId::parse(tenant).unwrap(),
        UserId::parse("alice").unwrap(),
        // Both backends keep millisecond precision.
        Utc::now().trunc_subsecs(3),
    )
    .unwrap()
}

fn event(c: &Contact) -> OutboxMessage {
    OutboxMessage {
        event_id: uuid::Uuid::now_v7().to_string(),
        topic: "rapport.contacts.v1".into(),
        key: format!("{}/{}", c.tenant, c.id),
        payload: vec![1],
        headers: vec![("ce_id".into(), "x".into())],
    }
}

async fn creates_and_reads_back(s: &dyn ContactStore) {
    let c = contact("acme", "ada");
    s.create(&c, &event(&c)).await.unwrap();
    assert_eq!(s.get(&c.tenant, &c.id).await.unwrap(), Some(c));
}

async fn never_reads_across_tenants(s: &dyn ContactStore) {
    let c = contact("acme", "grace");
    s.create(&c, &event(&c)).await.unwrap();
    let other = TenantId::parse("globex").unwrap();
    assert_eq!(s.get(&other, &c.id).await.unwrap(), None);
    assert_eq!(
        s.get(&c.tenant, &ContactId::generate()).await.unwrap(),
        None
    );
}

async fn writes_the_event_with_the_contact(s: &dyn ContactStore) {
    let before = s.outbox().backlog().await.unwrap();
    let c = contact("acme", "linus");
    let e = event(&c);
    s.create(&c, &e).await.unwrap();
    assert_eq!(s.outbox().backlog().await.unwrap(), before + 1);
    let pending = s.outbox().pending(1000).await.unwrap();
    assert!(pending.iter().any(|p| p.message == e));
}

/// Only for backends that reject a duplicate event id (SQLite's unique
/// index); ScyllaDB upserts, and its logged batch is all-or-nothing by
/// construction.
async fn a_failed_create_leaves_nothing(s: &dyn ContactStore) {
    let c = contact("acme", "dup");
    let e = event(&c);
    s.create(&c, &e).await.unwrap();
    let before = s.outbox().backlog().await.unwrap();
    // Same event id again: the outbox insert fails, so the second contact
    // must not be stored either.
    let mut c2 = contact("acme", "dup2");
    c2.id = ContactId::generate();
    assert!(s.create(&c2, &e).await.is_err());
    assert_eq!(s.get(&c2.tenant, &c2.id).await.unwrap(), None);
    assert_eq!(s.outbox().backlog().await.unwrap(), before);
}

mod sqlite {
    use super::*;
    use crate::store::SqliteContactStore;

    async fn store() -> (tempfile::TempDir, SqliteContactStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteContactStore::open(&dir.path().join("contacts.db"))
            .await
            .unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn creates_and_reads_back() {
        let (_d, s) = store().await;
        super::creates_and_reads_back(&s).await;
    }

    #[tokio::test]
    async fn never_reads_across_tenants() {
        let (_d, s) = store().await;
        super::never_reads_across_tenants(&s).await;
    }

    #[tokio::test]
    async fn writes_the_event_with_the_contact() {
        let (_d, s) = store().await;
        super::writes_the_event_with_the_contact(&s).await;
    }

    #[tokio::test]
    async fn a_failed_create_leaves_nothing() {
        let (_d, s) = store().await;
        super::a_failed_create_leaves_nothing(&s).await;
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contacts.db");
        let c = contact("acme", "persist");
        {
            let s = SqliteContactStore::open(&path).await.unwrap();
            s.create(&c, &event(&c)).await.unwrap();
        }
        let s = SqliteContactStore::open(&path).await.unwrap();
        assert_eq!(s.get(&c.tenant, &c.id).await.unwrap(), Some(c));
    }
}

mod scylla {
    use crate::store::ScyllaContactStore;
    use rapport_store::scylla::{Consistency, ScyllaSettings, test_node};

    async fn store() -> Option<ScyllaContactStore> {
        let node = test_node("contacts store contract")?;
        let settings = ScyllaSettings {
            nodes: vec![node],
            keyspace: format!("rapport_test_contacts_{}", std::process::id()),
            replication_factor: 1,
            local_dc: None,
            consistency: Consistency::One,
            credentials: None,
        };
        Some(ScyllaContactStore::connect(&settings).await.unwrap())
    }

    #[tokio::test]
    async fn creates_and_reads_back() {
        if let Some(s) = store().await {
            super::creates_and_reads_back(&s).await;
        }
    }

    #[tokio::test]
    async fn never_reads_across_tenants() {
        if let Some(s) = store().await {
            super::never_reads_across_tenants(&s).await;
        }
    }

    #[tokio::test]
    async fn writes_the_event_with_the_contact() {
        if let Some(s) = store().await {
            super::writes_the_event_with_the_contact(&s).await;
        }
    }
}
