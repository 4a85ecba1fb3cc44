//! The contract every [`TaskStore`] backend must meet.

use chrono::{Duration, SubsecRound, Utc};
use rapport_platform::{
    contact_changes::ContactChange,
    identity::{TenantId, UserId},
};
use rapport_store::{Linked, OutboxMessage};

use uuid::Uuid;

use super::TaskStore;
use crate::domain::{Task, TaskDraft};

fn task(tenant: &str) -> Task {
    task_of(tenant, Uuid::now_v7())
}

fn task_of(tenant: &str, contact: Uuid) -> Task {
    let now = Utc::now().trunc_subsecs(3);
    TaskDraft {
        title: "Send the commercial offer".into(),
        contact_id: contact.to_string(),
        due_time: Some(now + Duration::days(2)),
        assignee: String::new(),
        // Team and shares round-trip through every backend.
        team: "sales/emea".into(),
        shared_with: vec!["user:ravi".into(), "team:support".into()],
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

async fn stores_reads_and_scopes_by_tenant(s: &dyn TaskStore) {
    let t = task("acme");
    s.create(&t, &event(), &audit()).await.unwrap();
    assert_eq!(s.get(&t.tenant, t.id).await.unwrap(), Some(t.clone()));
    let globex = TenantId::parse("globex").unwrap();
    assert_eq!(s.get(&globex, t.id).await.unwrap(), None);
    assert!(s.outbox().backlog().await.unwrap() >= 1);
}

/// Creates tasks of `contacts` in `tenant`, returning them in order.
async fn create_all(s: &dyn TaskStore, tenant: &str, contacts: &[Uuid]) -> Vec<Task> {
    let mut out = Vec::new();
    for c in contacts {
        let d = task_of(tenant, *c);
        s.create(&d, &event(), &audit()).await.unwrap();
        out.push(d);
    }
    out
}

async fn reload(s: &dyn TaskStore, d: &Task) -> Task {
    s.get(&d.tenant, d.id).await.unwrap().unwrap()
}

async fn lists_tasks_by_contact_within_the_tenant(s: &dyn TaskStore) {
    let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let acme = create_all(s, "acme", &[ada, bob, ada]).await;
    create_all(s, "globex", &[ada]).await;
    let listed = s.list_by_contact(&acme[0].tenant, ada).await.unwrap();
    assert_eq!(listed, vec![acme[0].clone(), acme[2].clone()]);
    let initech = TenantId::parse("initech").unwrap();
    assert!(s.list_by_contact(&initech, ada).await.unwrap().is_empty());
}

async fn relinks_merged_people_once_within_the_tenant(s: &dyn TaskStore) {
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
    assert_eq!(relinked.due_time, acme[1].due_time);
    assert_eq!(
        reload(s, &acme[0]).await,
        acme[0],
        "the survivor's own task"
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

async fn erasure_unlinks_tasks_and_keeps_them(s: &dyn TaskStore) {
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
            (&kept.title, &kept.due_time, &kept.assignee),
            (&d.title, &d.due_time, &d.assignee),
            "the task stays for staff"
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

async fn apply(s: &dyn TaskStore, tenant: &TenantId, change: ContactChange) {
    let event_id = Uuid::now_v7().to_string();
    assert!(
        s.apply_contact_change(tenant, &event_id, &change)
            .await
            .unwrap()
    );
}

async fn merge_chains_applied_out_of_order_end_at_the_last_survivor(s: &dyn TaskStore) {
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let tasks = create_all(s, "acme", &[a, b]).await;
    let tenant = tasks[0].tenant.clone();
    // "a into b" happened first, then "b into c"; they arrive reversed.
    apply(s, &tenant, ContactChange::relink(c, [b]).unwrap()).await;
    apply(s, &tenant, ContactChange::relink(b, [a]).unwrap()).await;
    for d in &tasks {
        assert_eq!(
            reload(s, d).await.contact_id,
            Some(c),
            "nothing is left on a gone id"
        );
    }
    assert_eq!(s.list_by_contact(&tenant, c).await.unwrap().len(), 2);
}

async fn a_late_merge_into_an_erased_survivor_unlinks(s: &dyn TaskStore) {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let tasks = create_all(s, "acme", &[a]).await;
    let tenant = tasks[0].tenant.clone();
    apply(s, &tenant, ContactChange::Erase { contact: b }).await;
    apply(s, &tenant, ContactChange::relink(b, [a]).unwrap()).await;
    assert_eq!(reload(s, &tasks[0]).await.contact_id, None);
}

async fn writes_against_gone_people_are_redirected_or_refused(s: &dyn TaskStore) {
    let (merged, survivor, erased) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let tenant = TenantId::parse("acme").unwrap();
    apply(
        s,
        &tenant,
        ContactChange::relink(survivor, [merged]).unwrap(),
    )
    .await;
    apply(s, &tenant, ContactChange::Erase { contact: erased }).await;

    let d = task_of("acme", merged);
    assert_eq!(
        s.create(&d, &event(), &audit()).await.unwrap(),
        Linked::Merged { survivor }
    );
    let d = task_of("acme", erased);
    assert_eq!(
        s.create(&d, &event(), &audit()).await.unwrap(),
        Linked::Erased
    );
    assert_eq!(s.get(&tenant, d.id).await.unwrap(), None, "nothing stored");
    // Fates are per tenant.
    let d = task_of("globex", erased);
    assert_eq!(
        s.create(&d, &event(), &audit()).await.unwrap(),
        Linked::Stored
    );
}

mod sqlite {
    use crate::store::SqliteTaskStore;

    async fn store() -> (tempfile::TempDir, SqliteTaskStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteTaskStore::open(&dir.path().join("tasks.db"))
            .await
            .unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn stores_reads_and_scopes_by_tenant() {
        let (_d, s) = store().await;
        super::stores_reads_and_scopes_by_tenant(&s).await;
    }

    #[tokio::test]
    async fn lists_tasks_by_contact_within_the_tenant() {
        let (_d, s) = store().await;
        super::lists_tasks_by_contact_within_the_tenant(&s).await;
    }

    #[tokio::test]
    async fn relinks_merged_people_once_within_the_tenant() {
        let (_d, s) = store().await;
        super::relinks_merged_people_once_within_the_tenant(&s).await;
    }

    #[tokio::test]
    async fn erasure_unlinks_tasks_and_keeps_them() {
        let (_d, s) = store().await;
        super::erasure_unlinks_tasks_and_keeps_them(&s).await;
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
}

mod scylla {
    use crate::store::ScyllaTaskStore;
    use rapport_store::scylla::{Consistency, ScyllaSettings, test_node};

    async fn store() -> Option<ScyllaTaskStore> {
        let node = test_node("tasks store contract")?;
        let settings = ScyllaSettings {
            nodes: vec![node],
            keyspace: format!("rapport_test_tasks_{}", std::process::id()),
            replication_factor: 1,
            local_dc: None,
            consistency: Consistency::One,
            credentials: None,
        };
        Some(ScyllaTaskStore::connect(&settings).await.unwrap())
    }

    #[tokio::test]
    async fn stores_reads_and_scopes_by_tenant() {
        if let Some(s) = store().await {
            super::stores_reads_and_scopes_by_tenant(&s).await;
        }
    }

    #[tokio::test]
    async fn lists_tasks_by_contact_within_the_tenant() {
        if let Some(s) = store().await {
            super::lists_tasks_by_contact_within_the_tenant(&s).await;
        }
    }

    #[tokio::test]
    async fn relinks_merged_people_once_within_the_tenant() {
        if let Some(s) = store().await {
            super::relinks_merged_people_once_within_the_tenant(&s).await;
        }
    }

    #[tokio::test]
    async fn erasure_unlinks_tasks_and_keeps_them() {
        if let Some(s) = store().await {
            super::erasure_unlinks_tasks_and_keeps_them(&s).await;
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
}
