//! The contract every [`InteractionStore`] backend must meet; written once,
//! run on SQLite always and on ScyllaDB when `RAPPORT_TEST_SCYLLA` is set.

use chrono::{Duration, SubsecRound, TimeZone, Utc};
use rapport_platform::{
    contact_changes::ContactChange,
    identity::{TenantId, UserId},
};
use rapport_store::{Fate, Linked, OutboxMessage, PageToken};
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
        aggregate_version: None,
    }
}

/// The audit entry written with a change.
fn audit() -> OutboxMessage {
    OutboxMessage {
        topic: "rapport.audit.v1".into(),
        aggregate_version: Some(0),
        ..event()
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
        s.create(&i, &event(), &audit()).await.unwrap();
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
    s.create(&i, &event(), &audit()).await.unwrap();
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

/// Logs interactions of `contact` in `tenant` at `base` plus each of
/// `hours` (spanning months when the hours do).
async fn log_all(
    s: &dyn InteractionStore,
    tenant: &str,
    contact: Uuid,
    hours: &[i64],
) -> Vec<Interaction> {
    let base = Utc.with_ymd_and_hms(2026, 3, 31, 20, 0, 0).unwrap();
    let mut out = Vec::new();
    for h in hours {
        let i = interaction(tenant, contact, base + Duration::hours(*h));
        s.create(&i, &event(), &audit()).await.unwrap();
        out.push(i);
    }
    out
}

fn newest_first(mut v: Vec<Interaction>) -> Vec<Interaction> {
    v.sort_by_key(|i| std::cmp::Reverse((i.occurred_at, i.id)));
    v
}

/// The tombstones in the outbox for `interactions`.
async fn tombstones_of(s: &dyn InteractionStore, interactions: &[Interaction]) -> usize {
    let keys: Vec<String> = interactions
        .iter()
        .map(|i| format!("{}/{}", i.tenant, i.id))
        .collect();
    s.outbox()
        .pending(100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.message.payload.is_empty() && keys.contains(&p.message.key))
        .count()
}

async fn relinks_merged_timelines_in_time_order_once(s: &dyn InteractionStore) {
    let (survivor, dup1, dup2) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut expected = log_all(s, "acme", survivor, &[0, 30, 900]).await;
    let from_dups = [
        log_all(s, "acme", dup1, &[1, 5, 48]).await,
        log_all(s, "acme", dup2, &[2, 700]).await,
    ]
    .concat();
    let globex_dup = log_all(s, "globex", dup1, &[3]).await;
    expected.extend(from_dups.into_iter().map(|mut i| {
        i.contact_id = survivor;
        i
    }));
    let expected = newest_first(expected);
    let acme = TenantId::parse("acme").unwrap();
    let change = ContactChange::relink(survivor, [dup1, dup2]).unwrap();
    let event_id = Uuid::now_v7().to_string();
    assert!(
        s.apply_contact_change(&acme, &event_id, &change)
            .await
            .unwrap()
    );

    for size in [2, 50] {
        assert_eq!(
            all_pages(s, &acme, survivor, size).await,
            expected,
            "page size {size}"
        );
    }
    assert!(all_pages(s, &acme, dup1, 10).await.is_empty());
    assert!(all_pages(s, &acme, dup2, 10).await.is_empty());
    let globex = TenantId::parse("globex").unwrap();
    assert_eq!(
        all_pages(s, &globex, dup1, 10).await,
        globex_dup,
        "another tenant"
    );

    // The same event again changes nothing more.
    assert!(
        !s.apply_contact_change(&acme, &event_id, &change)
            .await
            .unwrap()
    );
    assert_eq!(all_pages(s, &acme, survivor, 50).await, expected);
}

async fn erasure_deletes_interactions_once_within_the_tenant(s: &dyn InteractionStore) {
    let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let erased = log_all(s, "acme", ada, &[0, 10, 900]).await;
    let bobs = newest_first(log_all(s, "acme", bob, &[1]).await);
    let globex_ada = newest_first(log_all(s, "globex", ada, &[2, 3]).await);
    let acme = TenantId::parse("acme").unwrap();
    let change = ContactChange::Erase { contact: ada };
    let event_id = Uuid::now_v7().to_string();
    assert!(
        s.apply_contact_change(&acme, &event_id, &change)
            .await
            .unwrap()
    );

    assert!(all_pages(s, &acme, ada, 10).await.is_empty());
    assert_eq!(all_pages(s, &acme, bob, 10).await, bobs, "another contact");
    let globex = TenantId::parse("globex").unwrap();
    assert_eq!(
        all_pages(s, &globex, ada, 10).await,
        globex_ada,
        "another tenant"
    );
    assert_eq!(tombstones_of(s, &erased).await, erased.len());
    assert_eq!(tombstones_of(s, &globex_ada).await, 0);

    // The same event again changes nothing more, and adds no tombstones.
    assert!(
        !s.apply_contact_change(&acme, &event_id, &change)
            .await
            .unwrap()
    );
    assert_eq!(tombstones_of(s, &erased).await, erased.len());
    assert_eq!(all_pages(s, &acme, bob, 10).await, bobs);
}

async fn exports_a_contacts_whole_history_within_the_tenant(s: &dyn InteractionStore) {
    let ada = Uuid::now_v7();
    let hours: Vec<i64> = (0..120).map(|h| h * 13).collect();
    let history = newest_first(log_all(s, "acme", ada, &hours).await);
    log_all(s, "globex", ada, &[1]).await;
    let acme = TenantId::parse("acme").unwrap();
    assert_eq!(s.contact_history(&acme, ada).await.unwrap(), history);
    let initech = TenantId::parse("initech").unwrap();
    assert!(s.contact_history(&initech, ada).await.unwrap().is_empty());
}

async fn apply(s: &dyn InteractionStore, tenant: &TenantId, change: ContactChange) {
    let event_id = Uuid::now_v7().to_string();
    assert!(
        s.apply_contact_change(tenant, &event_id, &change)
            .await
            .unwrap()
    );
}

async fn merge_chains_applied_out_of_order_end_at_the_last_survivor(s: &dyn InteractionStore) {
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let all = [
        log_all(s, "acme", a, &[0]).await,
        log_all(s, "acme", b, &[1]).await,
    ]
    .concat();
    let acme = TenantId::parse("acme").unwrap();
    // "a into b" happened first, then "b into c"; they arrive reversed.
    apply(s, &acme, ContactChange::relink(c, [b]).unwrap()).await;
    apply(s, &acme, ContactChange::relink(b, [a]).unwrap()).await;
    let on_c: Vec<_> = all_pages(s, &acme, c, 10)
        .await
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(
        on_c,
        newest_first(all).iter().map(|i| i.id).collect::<Vec<_>>()
    );
    assert!(all_pages(s, &acme, a, 10).await.is_empty());
    assert!(all_pages(s, &acme, b, 10).await.is_empty());
    assert_eq!(s.contact_fate(&acme, a).await.unwrap(), Fate::Live(c));
}

async fn a_late_merge_into_an_erased_survivor_erases(s: &dyn InteractionStore) {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let logged = log_all(s, "acme", a, &[0, 1]).await;
    let acme = TenantId::parse("acme").unwrap();
    apply(s, &acme, ContactChange::Erase { contact: b }).await;
    apply(s, &acme, ContactChange::relink(b, [a]).unwrap()).await;
    assert!(all_pages(s, &acme, a, 10).await.is_empty());
    assert!(all_pages(s, &acme, b, 10).await.is_empty());
    assert_eq!(
        tombstones_of(s, &logged).await,
        2,
        "partners forget them too"
    );
    assert_eq!(s.contact_fate(&acme, a).await.unwrap(), Fate::Erased);
}

async fn writes_against_gone_people_are_redirected_or_refused(s: &dyn InteractionStore) {
    let (merged, survivor, erased) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let acme = TenantId::parse("acme").unwrap();
    apply(s, &acme, ContactChange::relink(survivor, [merged]).unwrap()).await;
    apply(s, &acme, ContactChange::Erase { contact: erased }).await;
    let at = Utc::now().trunc_subsecs(3);
    assert_eq!(
        s.create(&interaction("acme", merged, at), &event(), &audit())
            .await
            .unwrap(),
        Linked::Merged { survivor }
    );
    assert_eq!(
        s.create(&interaction("acme", erased, at), &event(), &audit())
            .await
            .unwrap(),
        Linked::Erased
    );
    assert!(
        all_pages(s, &acme, merged, 10).await.is_empty(),
        "nothing stored"
    );
    assert!(
        all_pages(s, &acme, erased, 10).await.is_empty(),
        "nothing stored"
    );
    // Fates are per tenant.
    assert_eq!(
        s.create(&interaction("globex", erased, at), &event(), &audit())
            .await
            .unwrap(),
        Linked::Stored
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

    #[tokio::test]
    async fn relinks_merged_timelines_in_time_order_once() {
        let (_d, s) = store().await;
        super::relinks_merged_timelines_in_time_order_once(&s).await;
    }

    #[tokio::test]
    async fn erasure_deletes_interactions_once_within_the_tenant() {
        let (_d, s) = store().await;
        super::erasure_deletes_interactions_once_within_the_tenant(&s).await;
    }

    #[tokio::test]
    async fn exports_a_contacts_whole_history_within_the_tenant() {
        let (_d, s) = store().await;
        super::exports_a_contacts_whole_history_within_the_tenant(&s).await;
    }

    #[tokio::test]
    async fn merge_chains_applied_out_of_order_end_at_the_last_survivor() {
        let (_d, s) = store().await;
        super::merge_chains_applied_out_of_order_end_at_the_last_survivor(&s).await;
    }

    #[tokio::test]
    async fn a_late_merge_into_an_erased_survivor_erases() {
        let (_d, s) = store().await;
        super::a_late_merge_into_an_erased_survivor_erases(&s).await;
    }

    #[tokio::test]
    async fn writes_against_gone_people_are_redirected_or_refused() {
        let (_d, s) = store().await;
        super::writes_against_gone_people_are_redirected_or_refused(&s).await;
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
    #[tokio::test]
    async fn relinks_merged_timelines_in_time_order_once() {
        if let Some(s) = store().await {
            super::relinks_merged_timelines_in_time_order_once(&s).await;
        }
    }

    #[tokio::test]
    async fn erasure_deletes_interactions_once_within_the_tenant() {
        if let Some(s) = store().await {
            super::erasure_deletes_interactions_once_within_the_tenant(&s).await;
        }
    }

    #[tokio::test]
    async fn exports_a_contacts_whole_history_within_the_tenant() {
        if let Some(s) = store().await {
            super::exports_a_contacts_whole_history_within_the_tenant(&s).await;
        }
    }

    #[tokio::test]
    async fn merge_chains_applied_out_of_order_end_at_the_last_survivor() {
        if let Some(s) = store().await {
            super::merge_chains_applied_out_of_order_end_at_the_last_survivor(&s).await;
        }
    }

    #[tokio::test]
    async fn a_late_merge_into_an_erased_survivor_erases() {
        if let Some(s) = store().await {
            super::a_late_merge_into_an_erased_survivor_erases(&s).await;
        }
    }

    #[tokio::test]
    async fn writes_against_gone_people_are_redirected_or_refused() {
        if let Some(s) = store().await {
            super::writes_against_gone_people_are_redirected_or_refused(&s).await;
        }
    }
}
