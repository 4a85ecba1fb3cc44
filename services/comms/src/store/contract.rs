//! The contract every [`InteractionStore`] backend must meet; written once,
//! run on SQLite always and on ScyllaDB when `RAPPORT_TEST_SCYLLA` is set.

use chrono::{Duration, SubsecRound, TimeZone, Utc};
use rapport_platform::identity::{TenantId, UserId};
use rapport_store::{OutboxMessage, PageToken};
use uuid::Uuid;

use super::InteractionStore;
use crate::domain::{Channel, Direction, Interaction, InteractionDraft, PageSize};

fn interaction(tenant: &str, contact: Uuid, at: chrono::DateTime<Utc>) -> Interaction {
    InteractionDraft {
        contact_id: contact.to_string(),
        channel: Some(Channel::Call),
        direction: Some(Direction::Inbound),
        occurred_at: Some(at),
        summary: format!("call at {at}"),
    }
    // Both backends keep millisecond precision.
    .validate(
        TenantId::parse(tenant).unwrap(),
        UserId::parse("alice").unwrap(),
        Utc::now().trunc_subsecs(3),
    )
    .unwrap()
}

fn event() -> OutboxMessage {
    OutboxMessage {
        event_id: Uuid::now_v7().to_string(),
        topic: "rapport.interactions.v1".into(),
        key: "acme/x".into(),
        payload: vec![1],
        headers: vec![],
    }
}

async fn all_pages(
    s: &dyn InteractionStore,
    tenant: &TenantId,
    contact: Uuid,
    size: i32,
) -> Vec<Interaction> {
    let mut out = Vec::new();
    let mut token: Option<PageToken> = None;
    loop {
        let page = s
            .timeline(tenant, contact, PageSize::parse(size).unwrap(), token)
            .await
            .unwrap();
        assert!(page.interactions.len() <= size as usize);
        out.extend(page.interactions);
        match page.next {
            Some(t) => token = Some(PageToken::decode(&t.encode()).unwrap().unwrap()),
            None => return out,
        }
    }
}

async fn timeline_is_newest_first_across_pages_and_months(s: &dyn InteractionStore) {
    let contact = Uuid::now_v7();
    let base = Utc.with_ymd_and_hms(2026, 3, 31, 23, 0, 0).unwrap();
    // Spread over three calendar months, written out of order.
    let mut written = Vec::new();
    for h in [5i64, 0, 30, 1, 2, 48, 900, 3, 4] {
        let i = interaction("acme", contact, base + Duration::hours(h));
        s.create(&i, &event()).await.unwrap();
        written.push(i);
    }
    written.sort_by_key(|i| std::cmp::Reverse((i.occurred_at, i.id)));
    let tenant = TenantId::parse("acme").unwrap();
    for size in [1, 2, 4, 50] {
        assert_eq!(
            all_pages(s, &tenant, contact, size).await,
            written,
            "page size {size}"
        );
    }
}

async fn timeline_never_crosses_tenants_or_contacts(s: &dyn InteractionStore) {
    let contact = Uuid::now_v7();
    let i = interaction("acme", contact, Utc::now().trunc_subsecs(3));
    s.create(&i, &event()).await.unwrap();
    let globex = TenantId::parse("globex").unwrap();
    assert!(all_pages(s, &globex, contact, 10).await.is_empty());
    let acme = TenantId::parse("acme").unwrap();
    assert!(all_pages(s, &acme, Uuid::now_v7(), 10).await.is_empty());
}

async fn foreign_page_tokens_are_refused(s: &dyn InteractionStore) {
    let acme = TenantId::parse("acme").unwrap();
    let bad = PageToken::from_bytes(vec![1, 2, 3]);
    assert!(
        s.timeline(
            &acme,
            Uuid::now_v7(),
            PageSize::parse(10).unwrap(),
            Some(bad)
        )
        .await
        .is_err()
    );
}

mod sqlite {
    use crate::store::SqliteInteractionStore;

    async fn store() -> (tempfile::TempDir, SqliteInteractionStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteInteractionStore::open(&dir.path().join("comms.db"))
            .await
            .unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn timeline_is_newest_first_across_pages_and_months() {
        let (_d, s) = store().await;
        super::timeline_is_newest_first_across_pages_and_months(&s).await;
    }

    #[tokio::test]
    async fn timeline_never_crosses_tenants_or_contacts() {
        let (_d, s) = store().await;
        super::timeline_never_crosses_tenants_or_contacts(&s).await;
    }

    #[tokio::test]
    async fn foreign_page_tokens_are_refused() {
        let (_d, s) = store().await;
        super::foreign_page_tokens_are_refused(&s).await;
    }
}

mod scylla {
    use crate::store::ScyllaInteractionStore;
    use rapport_store::scylla::{Consistency, ScyllaSettings, test_node};

    async fn store() -> Option<ScyllaInteractionStore> {
        let node = test_node("comms store contract")?;
        let settings = ScyllaSettings {
            nodes: vec![node],
            keyspace: format!("rapport_test_comms_{}", std::process::id()),
            replication_factor: 1,
            local_dc: None,
            consistency: Consistency::One,
            credentials: None,
        };
        Some(ScyllaInteractionStore::connect(&settings).await.unwrap())
    }

    #[tokio::test]
    async fn timeline_is_newest_first_across_pages_and_months() {
        if let Some(s) = store().await {
            super::timeline_is_newest_first_across_pages_and_months(&s).await;
        }
    }

    #[tokio::test]
    async fn timeline_never_crosses_tenants_or_contacts() {
        if let Some(s) = store().await {
            super::timeline_never_crosses_tenants_or_contacts(&s).await;
        }
    }

    #[tokio::test]
    async fn foreign_page_tokens_are_refused() {
        if let Some(s) = store().await {
            super::foreign_page_tokens_are_refused(&s).await;
        }
    }
}
