//! The contract every [`DealStore`] backend must meet.

use chrono::{SubsecRound, Utc};
use rapport_platform::{
    contact_changes::ContactChange,
    identity::{TenantId, UserId},
};
use rapport_store::{Linked, OutboxMessage};

use uuid::Uuid;

use super::DealStore;
use crate::domain::{Deal, DealDraft, Money};

fn deal(tenant: &str) -> Deal {
    deal_of(tenant, Uuid::now_v7())
}

fn deal_of(tenant: &str, contact: Uuid) -> Deal {
    DealDraft {
        title: "Fleet renewal".into(),
        contact_id: contact.to_string(),
        amount: Some(Money {
            currency: "EUR".into(),
            units: 1250,
            nanos: 500_000_000,
        }),
        pipeline_id: String::new(),
        stage: String::new(),
        // Owner, team and shares round-trip through every backend.
        owner: "dana".into(),
        team: "sales/emea".into(),
        shared_with: vec!["user:ravi".into(), "team:support".into()],
    }
    .validate(
        // A pipeline of its own, so its id round-trips too.
        &crate::domain::pipeline::Pipeline {
            id: Uuid::now_v7(),
            ..crate::domain::pipeline::default_pipeline(&TenantId::parse(tenant).unwrap())
        },
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

async fn stores_reads_and_scopes_by_tenant(s: &dyn DealStore) {
    let d = deal("acme");
    s.create(&d, &event(), &audit()).await.unwrap();
    assert_eq!(s.get(&d.tenant, d.id).await.unwrap(), Some(d.clone()));
    let globex = TenantId::parse("globex").unwrap();
    assert_eq!(s.get(&globex, d.id).await.unwrap(), None);
    assert!(s.outbox().backlog().await.unwrap() >= 1);
}

async fn pipelines_are_versioned_written_with_their_events_and_scoped(s: &dyn DealStore) {
    use crate::domain::pipeline::default_pipeline;
    let acme = TenantId::parse("acme").unwrap();
    let mut p = default_pipeline(&acme);
    p.version = 1;
    p.create_time = Utc::now().trunc_subsecs(3);
    p.update_time = p.create_time;
    p.updated_by = "admin".into();
    let before = s.outbox().backlog().await.unwrap();
    assert!(s.put_pipeline(&p, 0, &[event(), audit()]).await.unwrap());
    assert_eq!(s.outbox().backlog().await.unwrap(), before + 2);
    assert_eq!(s.get_pipeline(&acme, p.id).await.unwrap(), Some(p.clone()));
    // A second writer that read version 0 too is refused, writes nothing.
    let mut stale = p.clone();
    stale.name = "Stale".into();
    stale.version = 1;
    assert!(!s.put_pipeline(&stale, 0, &[event()]).await.unwrap());
    assert_eq!(s.outbox().backlog().await.unwrap(), before + 2);
    let mut next = p.clone();
    next.version = 2;
    next.moved.insert("qualified".into(), "proposal".into());
    next.stages.remove(1);
    assert!(s.put_pipeline(&next, 1, &[event()]).await.unwrap());
    assert_eq!(s.list_pipelines(&acme).await.unwrap(), [next.clone()]);
    let globex = TenantId::parse("globex").unwrap();
    assert!(s.list_pipelines(&globex).await.unwrap().is_empty());
    assert_eq!(s.get_pipeline(&globex, p.id).await.unwrap(), None);
}

/// Creates deals of `contacts` in `tenant`, returning them in order.
async fn create_all(s: &dyn DealStore, tenant: &str, contacts: &[Uuid]) -> Vec<Deal> {
    let mut out = Vec::new();
    for c in contacts {
        let d = deal_of(tenant, *c);
        s.create(&d, &event(), &audit()).await.unwrap();
        out.push(d);
    }
    out
}

async fn reload(s: &dyn DealStore, d: &Deal) -> Deal {
    s.get(&d.tenant, d.id).await.unwrap().unwrap()
}

async fn lists_deals_by_contact_within_the_tenant(s: &dyn DealStore) {
    let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let acme = create_all(s, "acme", &[ada, bob, ada]).await;
    create_all(s, "globex", &[ada]).await;
    let listed = s.list_by_contact(&acme[0].tenant, ada).await.unwrap();
    assert_eq!(listed, vec![acme[0].clone(), acme[2].clone()]);
    let initech = TenantId::parse("initech").unwrap();
    assert!(s.list_by_contact(&initech, ada).await.unwrap().is_empty());
}

async fn relinks_merged_people_once_within_the_tenant(s: &dyn DealStore) {
    let (survivor, dup1, dup2, other) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let acme = create_all(s, "acme", &[survivor, dup1, dup2, dup1, other]).await;
    let globex = create_all(s, "globex", &[dup1]).await;
    let tenant = acme[0].tenant.clone();
    let change = ContactChange::relink(survivor, [dup1, dup2]).unwrap();
    let event_id = Uuid::now_v7().to_string();
    assert!(
        s.apply_contact_change(&tenant, &event_id, &change)
            .await
            .unwrap()
    );

    let moved: Vec<Uuid> = s
        .list_by_contact(&tenant, survivor)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(moved, [acme[0].id, acme[1].id, acme[2].id, acme[3].id]);
    assert!(s.list_by_contact(&tenant, dup1).await.unwrap().is_empty());
    let relinked = reload(s, &acme[1]).await;
    assert_eq!(relinked.contact_id, Some(survivor));
    assert_eq!(relinked.version, acme[1].version + 1, "the etag changes");
    assert_eq!(relinked.amount, acme[1].amount);
    assert_eq!(
        reload(s, &acme[0]).await,
        acme[0],
        "the survivor's own deal"
    );
    assert_eq!(reload(s, &acme[4]).await, acme[4], "an unrelated contact");
    assert_eq!(reload(s, &globex[0]).await, globex[0], "another tenant");

    // The same event again changes nothing more.
    let before = reload(s, &acme[1]).await;
    assert!(
        !s.apply_contact_change(&tenant, &event_id, &change)
            .await
            .unwrap()
    );
    assert_eq!(reload(s, &acme[1]).await, before);
}

async fn erasure_unlinks_deals_and_keeps_them(s: &dyn DealStore) {
    let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let acme = create_all(s, "acme", &[ada, bob, ada]).await;
    let globex = create_all(s, "globex", &[ada]).await;
    let tenant = acme[0].tenant.clone();
    let change = ContactChange::Erase { contact: ada };
    let event_id = Uuid::now_v7().to_string();
    assert!(
        s.apply_contact_change(&tenant, &event_id, &change)
            .await
            .unwrap()
    );

    assert!(s.list_by_contact(&tenant, ada).await.unwrap().is_empty());
    for d in [&acme[0], &acme[2]] {
        let kept = reload(s, d).await;
        assert_eq!(kept.contact_id, None);
        assert_eq!(
            (&kept.title, &kept.amount, &kept.stage),
            (&d.title, &d.amount, &d.stage),
            "the deal stays for reporting"
        );
        assert_eq!(kept.version, d.version + 1);
    }
    assert_eq!(reload(s, &acme[1]).await, acme[1], "another contact");
    assert_eq!(reload(s, &globex[0]).await, globex[0], "another tenant");
    assert_eq!(
        s.list_by_contact(&globex[0].tenant, ada)
            .await
            .unwrap()
            .len(),
        1
    );

    let before = reload(s, &acme[0]).await;
    assert!(
        !s.apply_contact_change(&tenant, &event_id, &change)
            .await
            .unwrap()
    );
    assert_eq!(reload(s, &acme[0]).await, before);
}

async fn apply(s: &dyn DealStore, tenant: &TenantId, change: ContactChange) {
    let event_id = Uuid::now_v7().to_string();
    assert!(
        s.apply_contact_change(tenant, &event_id, &change)
            .await
            .unwrap()
    );
}

async fn merge_chains_applied_out_of_order_end_at_the_last_survivor(s: &dyn DealStore) {
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let deals = create_all(s, "acme", &[a, b]).await;
    let tenant = deals[0].tenant.clone();
    // "a into b" happened first, then "b into c"; they arrive reversed.
    apply(s, &tenant, ContactChange::relink(c, [b]).unwrap()).await;
    apply(s, &tenant, ContactChange::relink(b, [a]).unwrap()).await;
    for d in &deals {
        assert_eq!(
            reload(s, d).await.contact_id,
            Some(c),
            "nothing is left on a gone id"
        );
    }
    assert_eq!(s.list_by_contact(&tenant, c).await.unwrap().len(), 2);
}

async fn a_late_merge_into_an_erased_survivor_unlinks(s: &dyn DealStore) {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let deals = create_all(s, "acme", &[a]).await;
    let tenant = deals[0].tenant.clone();
    apply(s, &tenant, ContactChange::Erase { contact: b }).await;
    apply(s, &tenant, ContactChange::relink(b, [a]).unwrap()).await;
    assert_eq!(reload(s, &deals[0]).await.contact_id, None);
}

async fn writes_against_gone_people_are_redirected_or_refused(s: &dyn DealStore) {
    let (merged, survivor, erased) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let tenant = TenantId::parse("acme").unwrap();
    apply(
        s,
        &tenant,
        ContactChange::relink(survivor, [merged]).unwrap(),
    )
    .await;
    apply(s, &tenant, ContactChange::Erase { contact: erased }).await;

    let d = deal_of("acme", merged);
    assert_eq!(
        s.create(&d, &event(), &audit()).await.unwrap(),
        Linked::Merged { survivor }
    );
    let d = deal_of("acme", erased);
    assert_eq!(
        s.create(&d, &event(), &audit()).await.unwrap(),
        Linked::Erased
    );
    assert_eq!(s.get(&tenant, d.id).await.unwrap(), None, "nothing stored");
    // Fates are per tenant.
    let d = deal_of("globex", erased);
    assert_eq!(
        s.create(&d, &event(), &audit()).await.unwrap(),
        Linked::Stored
    );
}

mod sqlite {
    use crate::store::SqliteDealStore;

    async fn store() -> (tempfile::TempDir, SqliteDealStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteDealStore::open(&dir.path().join("deals.db"))
            .await
            .unwrap();
        (dir, s)
    }

    /// Deals stored before pipelines (no pipeline id) are in the default.
    #[tokio::test]
    async fn deals_from_before_pipelines_are_in_the_default_pipeline() {
        use crate::{domain::pipeline::default_pipeline_id, store::DealStore};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deals.db");
        let d = super::deal("acme");
        {
            let s = SqliteDealStore::open(&path).await.unwrap();
            s.create(&d, &super::event(), &super::audit())
                .await
                .unwrap();
        }
        {
            let db = libsql::Builder::new_local(&path).build().await.unwrap();
            let conn = db.connect().unwrap();
            // The first store's threads may still be letting go of the file.
            conn.query("PRAGMA busy_timeout = 10000", ()).await.unwrap();
            conn.execute("UPDATE deals SET pipeline_id = NULL", ())
                .await
                .unwrap();
        }
        let s = SqliteDealStore::open(&path).await.unwrap();
        let read = s.get(&d.tenant, d.id).await.unwrap().unwrap();
        assert_eq!(read.pipeline_id, default_pipeline_id(&d.tenant));
        assert_ne!(d.pipeline_id, read.pipeline_id, "the fixture had its own");
    }

    #[tokio::test]
    async fn stores_reads_and_scopes_by_tenant() {
        let (_d, s) = store().await;
        super::stores_reads_and_scopes_by_tenant(&s).await;
    }

    #[tokio::test]
    async fn lists_deals_by_contact_within_the_tenant() {
        let (_d, s) = store().await;
        super::lists_deals_by_contact_within_the_tenant(&s).await;
    }

    #[tokio::test]
    async fn relinks_merged_people_once_within_the_tenant() {
        let (_d, s) = store().await;
        super::relinks_merged_people_once_within_the_tenant(&s).await;
    }

    #[tokio::test]
    async fn erasure_unlinks_deals_and_keeps_them() {
        let (_d, s) = store().await;
        super::erasure_unlinks_deals_and_keeps_them(&s).await;
    }

    #[tokio::test]
    async fn merge_chains_applied_out_of_order_end_at_the_last_survivor() {
        let (_d, s) = store().await;
        super::merge_chains_applied_out_of_order_end_at_the_last_survivor(&s).await;
    }

    #[tokio::test]
    async fn a_late_merge_into_an_erased_survivor_unlinks() {
        let (_d, s) = store().await;
        super::a_late_merge_into_an_erased_survivor_unlinks(&s).await;
    }

    #[tokio::test]
    async fn writes_against_gone_people_are_redirected_or_refused() {
        let (_d, s) = store().await;
        super::writes_against_gone_people_are_redirected_or_refused(&s).await;
    }

    #[tokio::test]
    async fn pipelines_are_versioned_written_with_their_events_and_scoped() {
        let (_d, s) = store().await;
        super::pipelines_are_versioned_written_with_their_events_and_scoped(&s).await;
    }
}

mod scylla {
    use crate::store::ScyllaDealStore;
    use rapport_store::scylla::{Consistency, ScyllaSettings, test_node};

    async fn store() -> Option<ScyllaDealStore> {
        let node = test_node("deals store contract")?;
        let settings = ScyllaSettings {
            nodes: vec![node],
            keyspace: format!("rapport_test_deals_{}", std::process::id()),
            replication_factor: 1,
            local_dc: None,
            consistency: Consistency::One,
            credentials: None,
        };
        Some(ScyllaDealStore::connect(&settings).await.unwrap())
    }

    #[tokio::test]
    async fn stores_reads_and_scopes_by_tenant() {
        if let Some(s) = store().await {
            super::stores_reads_and_scopes_by_tenant(&s).await;
        }
    }

    #[tokio::test]
    async fn lists_deals_by_contact_within_the_tenant() {
        if let Some(s) = store().await {
            super::lists_deals_by_contact_within_the_tenant(&s).await;
        }
    }

    #[tokio::test]
    async fn relinks_merged_people_once_within_the_tenant() {
        if let Some(s) = store().await {
            super::relinks_merged_people_once_within_the_tenant(&s).await;
        }
    }

    #[tokio::test]
    async fn erasure_unlinks_deals_and_keeps_them() {
        if let Some(s) = store().await {
            super::erasure_unlinks_deals_and_keeps_them(&s).await;
        }
    }

    #[tokio::test]
    async fn merge_chains_applied_out_of_order_end_at_the_last_survivor() {
        if let Some(s) = store().await {
            super::merge_chains_applied_out_of_order_end_at_the_last_survivor(&s).await;
        }
    }

    #[tokio::test]
    async fn a_late_merge_into_an_erased_survivor_unlinks() {
        if let Some(s) = store().await {
            super::a_late_merge_into_an_erased_survivor_unlinks(&s).await;
        }
    }

    #[tokio::test]
    async fn writes_against_gone_people_are_redirected_or_refused() {
        if let Some(s) = store().await {
            super::writes_against_gone_people_are_redirected_or_refused(&s).await;
        }
    }

    #[tokio::test]
    async fn pipelines_are_versioned_written_with_their_events_and_scoped() {
        if let Some(s) = store().await {
            super::pipelines_are_versioned_written_with_their_events_and_scoped(&s).await;
        }
    }
}
