//! The contract every [`ContactStore`] backend must meet. Each test body is
//! written once and run against SQLite always, and against ScyllaDB when
//! `RAPPORT_TEST_SCYLLA` is set.

use chrono::{SubsecRound, Utc};
use rapport_platform::identity::TenantId;
use rapport_store::OutboxMessage;

use super::{
    ChangeSet, CommitError, ContactStore, ImportQuota, Put, Scan, StartImport, UniqueKey,
    ValueMatch,
};
use crate::domain::{Fields, Kind, Record, index::attr};

fn record(tenant: &str, name: &str, email: &str, phone: &str) -> Record {
    let fields = Fields {
        display_name: name.into(),
        email: email.into(),
        phone: phone.into(),
        owner: "alice".into(),
        ..Default::default()
    };
    // Both backends keep millisecond precision.
    let now = Utc::now().trunc_subsecs(3);
    Record::new(
        TenantId::parse(tenant).unwrap(),
        Kind::Person,
        fields,
        "alice",
        now,
    )
}

fn event(r: &Record) -> OutboxMessage {
    OutboxMessage {
        event_id: uuid::Uuid::now_v7().to_string(),
        topic: "rapport.contacts.v1".into(),
        key: format!("{}/{}", r.tenant, r.id),
        payload: vec![1],
        headers: vec![("ce_id".into(), "x".into())],
        aggregate_version: None,
    }
}

fn create(r: &Record) -> ChangeSet {
    ChangeSet {
        puts: vec![Put {
            record: r.clone(),
            previous: None,
        }],
        events: vec![event(r)],
        ..Default::default()
    }
}

fn exact(attr: &str, value: &str) -> Scan {
    Scan {
        kind: Kind::Person,
        attr: attr.into(),
        values: ValueMatch::Exact(value.into()),
        after: None,
        descending: false,
        limit: 100,
    }
}

async fn creates_and_reads_back_with_its_event(s: &dyn ContactStore) {
    let before = s.outbox().backlog().await.unwrap();
    let r = record("acme", "Ada Lovelace", "ada@example.com", "+442079460958");
    let cs = create(&r);
    s.commit(&r.tenant, &cs).await.unwrap();
    assert_eq!(s.get(&r.tenant, &r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(s.outbox().backlog().await.unwrap(), before + 1);
    let hits = s
        .find(
            &r.tenant,
            Kind::Person,
            attr::PHONE,
            &["+442079460958".into()],
        )
        .await
        .unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [r.id]);
}

async fn never_reads_across_tenants(s: &dyn ContactStore) {
    let r = record("acme", "Grace Hopper", "grace@example.com", "");
    s.commit(&r.tenant, &create(&r)).await.unwrap();
    let other = TenantId::parse("globex").unwrap();
    assert_eq!(s.get(&other, &r.id).await.unwrap(), None);
    assert!(
        s.find(
            &other,
            Kind::Person,
            attr::EMAIL,
            &["grace@example.com".into()]
        )
        .await
        .unwrap()
        .is_empty()
    );
    assert!(
        s.scan(&other, &exact(attr::ALL, ""))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn tells_which_records_a_viewer_sees_from_the_index(s: &dyn ContactStore) {
    let mine = record("acme", "Mine", "", "");
    let mut theirs = record("acme", "Theirs", "", "");
    theirs.data.fields.owner = "bob".into();
    let mut team = record("acme", "Team", "", "");
    team.data.fields.owner = "carol".into();
    team.data.fields.team = "sales/north".into();
    for r in [&mine, &theirs, &team] {
        s.commit(&r.tenant, &create(r)).await.unwrap();
    }
    let ids = &[mine.id, theirs.id, team.id];
    let tenant = &mine.tenant;
    let sees = |keys: &[&str]| {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        async move {
            s.visible_among(tenant, Kind::Person, &keys, ids)
                .await
                .unwrap()
        }
    };
    assert_eq!(sees(&["u:alice"]).await, [mine.id].into());
    assert_eq!(
        sees(&["u:alice", "t:sales"]).await,
        [mine.id, team.id].into()
    );
    assert!(sees(&["u:nobody"]).await.is_empty());
    let other = TenantId::parse("globex").unwrap();
    let keys = vec!["u:alice".to_owned()];
    assert!(
        s.visible_among(&other, Kind::Person, &keys, ids)
            .await
            .unwrap()
            .is_empty(),
        "never across tenants"
    );
}

async fn stale_versions_and_taken_keys_change_nothing(s: &dyn ContactStore) {
    let r = record("acme", "Linus", "linus@example.com", "");
    s.commit(&r.tenant, &create(&r)).await.unwrap();
    let mut next = r.clone();
    next.data.version = 2;
    next.data.fields.email = "linus@new.example".into();
    let update = ChangeSet {
        puts: vec![Put {
            record: next.clone(),
            previous: Some(r.clone()),
        }],
        events: vec![event(&next)],
        ..Default::default()
    };
    s.commit(&r.tenant, &update).await.unwrap();
    // The same update again is stale: it must not apply.
    let backlog = s.outbox().backlog().await.unwrap();
    assert!(
        matches!(s.commit(&r.tenant, &update).await, Err(CommitError::Conflict(id)) if id == r.id)
    );
    assert_eq!(s.outbox().backlog().await.unwrap(), backlog);
    // Old e-mail no longer finds it; the new one does.
    assert!(
        s.find(
            &r.tenant,
            Kind::Person,
            attr::EMAIL,
            &["linus@example.com".into()]
        )
        .await
        .unwrap()
        .is_empty()
    );
    assert_eq!(
        s.find(
            &r.tenant,
            Kind::Person,
            attr::EMAIL,
            &["linus@new.example".into()]
        )
        .await
        .unwrap()
        .len(),
        1
    );
    // A create claiming the e-mail is refused, naming the owner.
    let dup = record("acme", "Other", "linus@new.example", "");
    let mut cs = create(&dup);
    cs.unique.push(UniqueKey {
        kind: Kind::Person,
        attr: attr::EMAIL,
        value: "linus@new.example".into(),
    });
    match s.commit(&dup.tenant, &cs).await {
        Err(CommitError::Duplicate { existing, .. }) => assert_eq!(existing, r.id),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    assert_eq!(s.get(&dup.tenant, &dup.id).await.unwrap(), None);
}

async fn deletes_remove_index_entries(s: &dyn ContactStore) {
    let r = record("acme", "Erased Person", "erase@example.com", "");
    s.commit(&r.tenant, &create(&r)).await.unwrap();
    let cs = ChangeSet {
        deletes: vec![r.clone()],
        events: vec![event(&r)],
        ..Default::default()
    };
    s.commit(&r.tenant, &cs).await.unwrap();
    assert_eq!(s.get(&r.tenant, &r.id).await.unwrap(), None);
    assert!(
        s.find(
            &r.tenant,
            Kind::Person,
            attr::EMAIL,
            &["erase@example.com".into()]
        )
        .await
        .unwrap()
        .is_empty()
    );
    let names = s
        .scan(
            &r.tenant,
            &Scan {
                values: ValueMatch::Prefix("eras".into()),
                ..exact(attr::NAME, "")
            },
        )
        .await
        .unwrap();
    assert!(names.iter().all(|h| h.id != r.id));
}

async fn scans_page_in_order(s: &dyn ContactStore) {
    let tenant = TenantId::parse("pager").unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = record("pager", &format!("Name{i}"), "", "");
        s.commit(&tenant, &create(&r)).await.unwrap();
        ids.push(r.id);
    }
    let first = s
        .scan(
            &tenant,
            &Scan {
                limit: 2,
                ..exact(attr::ALL, "")
            },
        )
        .await
        .unwrap();
    assert_eq!(first.iter().map(|h| h.id).collect::<Vec<_>>(), ids[..2]);
    let after = first.last().map(|h| (h.value.clone(), h.id));
    let rest = s
        .scan(
            &tenant,
            &Scan {
                after,
                ..exact(attr::ALL, "")
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|h| h.id).collect::<Vec<_>>(), ids[2..]);
    let newest = s
        .scan(
            &tenant,
            &Scan {
                descending: true,
                limit: 1,
                ..exact(attr::ALL, "")
            },
        )
        .await
        .unwrap();
    assert_eq!(newest[0].id, ids[4]);
    let prefix = s
        .scan(
            &tenant,
            &Scan {
                values: ValueMatch::Prefix("name".into()),
                ..exact(attr::NAME, "")
            },
        )
        .await
        .unwrap();
    assert_eq!(prefix.len(), 5);
    // From a cursor, both ways, prefix ranges stay inside their prefix.
    for r in ["Nam", "Nan", "Other"] {
        s.commit(&tenant, &create(&record("pager", r, "", "")))
            .await
            .unwrap();
    }
    let by_prefix = |after: Option<(String, crate::domain::RecordId)>, descending| Scan {
        values: ValueMatch::Prefix("name".into()),
        after,
        descending,
        limit: 2,
        ..exact(attr::NAME, "")
    };
    let values = |hits: &[super::Hit]| hits.iter().map(|h| h.value.clone()).collect::<Vec<_>>();
    let up = s.scan(&tenant, &by_prefix(None, false)).await.unwrap();
    let cursor = up.last().map(|h| (h.value.clone(), h.id));
    let up = s.scan(&tenant, &by_prefix(cursor, false)).await.unwrap();
    assert_eq!(values(&up), ["name2", "name3"]);
    let down = s.scan(&tenant, &by_prefix(None, true)).await.unwrap();
    assert_eq!(values(&down), ["name4", "name3"]);
    let cursor = down.last().map(|h| (h.value.clone(), h.id));
    let down = s.scan(&tenant, &by_prefix(cursor, true)).await.unwrap();
    assert_eq!(values(&down), ["name2", "name1"]);
    let oldest_first_after_newest = s
        .scan(
            &tenant,
            &Scan {
                descending: true,
                after: Some((String::new(), ids[3])),
                ..exact(attr::ALL, "")
            },
        )
        .await
        .unwrap();
    assert_eq!(
        oldest_first_after_newest
            .iter()
            .map(|h| h.id)
            .collect::<Vec<_>>(),
        [ids[2], ids[1], ids[0]]
    );
}

async fn only_one_upload_starts_an_import(s: &dyn ContactStore) {
    use crate::domain::{ImportJob, ImportOptions, ImportState};
    let tenant = TenantId::parse("acme").unwrap();
    let now = Utc::now().trunc_subsecs(3);
    let quota = ImportQuota {
        max_running: 5,
        stale_before: now - chrono::Duration::minutes(10),
    };
    let pending = ImportJob::new(ImportOptions::default(), "alice", now);
    s.put_import(&tenant, &pending, None).await.unwrap();
    let running = ImportJob {
        state: ImportState::Running,
        start_time: Some(now),
        ..pending.clone()
    };
    let start = |t: &TenantId| {
        let t = t.clone();
        let (pending, running, quota) = (pending.clone(), running.clone(), quota.clone());
        async move {
            s.start_import(&t, &pending, &running, &quota)
                .await
                .unwrap()
        }
    };
    assert_eq!(start(&tenant).await, StartImport::Started);
    // A second upload read the same pending state: it must not start.
    assert_eq!(start(&tenant).await, StartImport::NotPending);
    let other = TenantId::parse("globex").unwrap();
    assert_eq!(start(&other).await, StartImport::NotPending);
    assert_eq!(
        s.get_import(&tenant, &pending.id).await.unwrap(),
        Some(running)
    );
}

/// A tenant runs at most `max_running` imports at once; other tenants and
/// abandoned imports (no progress for long) do not count.
async fn a_tenant_runs_only_its_quota_of_imports_at_once(s: &dyn ContactStore) {
    use crate::domain::{ImportJob, ImportOptions, ImportState};
    let now = Utc::now().trunc_subsecs(3);
    let quota = ImportQuota {
        max_running: 2,
        stale_before: now - chrono::Duration::minutes(10),
    };
    let tenant = TenantId::parse(&format!("quota{}", uuid::Uuid::now_v7().simple())).unwrap();
    let other = TenantId::parse(&format!("other{}", uuid::Uuid::now_v7().simple())).unwrap();
    let try_start = |t: TenantId, updated: chrono::DateTime<Utc>| {
        let quota = quota.clone();
        async move {
            let pending = ImportJob::new(ImportOptions::default(), "alice", updated);
            s.put_import(&t, &pending, None).await.unwrap();
            let running = ImportJob {
                state: ImportState::Running,
                start_time: Some(updated),
                update_time: updated,
                ..pending.clone()
            };
            s.start_import(&t, &pending, &running, &quota)
                .await
                .unwrap()
        }
    };
    // One abandoned an hour ago: it does not count.
    let abandoned = now - chrono::Duration::hours(1);
    assert_eq!(
        try_start(tenant.clone(), abandoned).await,
        StartImport::Started
    );
    assert_eq!(try_start(tenant.clone(), now).await, StartImport::Started);
    assert_eq!(try_start(tenant.clone(), now).await, StartImport::Started);
    assert_eq!(
        try_start(tenant.clone(), now).await,
        StartImport::QuotaReached(2)
    );
    // Another tenant has its own quota.
    assert_eq!(try_start(other, now).await, StartImport::Started);
}

/// Custom field and settings changes carry their audit entry: written
/// with the change, and not at all when nothing changed.
async fn definition_changes_write_their_audit_entry_only_when_applied(s: &dyn ContactStore) {
    use crate::domain::{CustomFieldDef, FieldType};
    let tenant = TenantId::parse("acme").unwrap();
    let def = CustomFieldDef {
        key: "tier".into(),
        kind: Kind::Person,
        label: "Tier".into(),
        field_type: FieldType::Text,
        required: false,
        choices: vec![],
        min: None,
        max: None,
        max_length: 0,
        create_time: Utc::now().trunc_subsecs(3),
        created_by: "admin".into(),
    };
    let entry = |resource: &str| OutboxMessage {
        event_id: uuid::Uuid::now_v7().to_string(),
        topic: "rapport.audit.v1".into(),
        key: format!("acme/{resource}"),
        payload: vec![2],
        headers: vec![],
        aggregate_version: Some(0),
    };
    let backlog = || async { s.outbox().backlog().await.unwrap() };
    let start = backlog().await;
    assert!(
        s.create_custom_field(&tenant, &def, &entry("customFields/person/tier"))
            .await
            .unwrap()
    );
    assert_eq!(backlog().await, start + 1);
    // The key exists: refused, and no entry for a change that did not happen.
    assert!(
        !s.create_custom_field(&tenant, &def, &entry("customFields/person/tier"))
            .await
            .unwrap()
    );
    assert_eq!(backlog().await, start + 1);
    assert!(
        s.delete_custom_field(
            &tenant,
            Kind::Person,
            "tier",
            &entry("customFields/person/tier")
        )
        .await
        .unwrap()
    );
    assert_eq!(backlog().await, start + 2);
    assert!(
        !s.delete_custom_field(
            &tenant,
            Kind::Person,
            "tier",
            &entry("customFields/person/tier")
        )
        .await
        .unwrap()
    );
    assert_eq!(backlog().await, start + 2);
    s.set_phone_region(&tenant, "IN", &entry("contactSettings"))
        .await
        .unwrap();
    assert_eq!(backlog().await, start + 3);
    assert_eq!(
        s.phone_region(&tenant).await.unwrap().as_deref(),
        Some("IN")
    );
    s.record_audit(&tenant, &[entry("exports/x"), entry("contacts/y")])
        .await
        .unwrap();
    assert_eq!(backlog().await, start + 5);
}

macro_rules! contract_tests {
    ($store:expr, $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                if let Some((_guard, s)) = $store.await {
                    super::$case(&s).await;
                }
            }
        )*
    };
}

mod sqlite {
    use crate::store::{ContactStore, SqliteContactStore};

    async fn store() -> Option<(tempfile::TempDir, SqliteContactStore)> {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteContactStore::open(&dir.path().join("contacts.db"))
            .await
            .unwrap();
        Some((dir, s))
    }

    contract_tests!(
        store(),
        creates_and_reads_back_with_its_event,
        never_reads_across_tenants,
        tells_which_records_a_viewer_sees_from_the_index,
        stale_versions_and_taken_keys_change_nothing,
        deletes_remove_index_entries,
        scans_page_in_order,
        only_one_upload_starts_an_import,
        definition_changes_write_their_audit_entry_only_when_applied,
        a_tenant_runs_only_its_quota_of_imports_at_once,
    );

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contacts.db");
        let r = super::record("acme", "Persist", "p@example.com", "");
        {
            let s = SqliteContactStore::open(&path).await.unwrap();
            s.commit(&r.tenant, &super::create(&r)).await.unwrap();
        }
        let s = SqliteContactStore::open(&path).await.unwrap();
        assert_eq!(s.get(&r.tenant, &r.id).await.unwrap(), Some(r));
    }

    #[tokio::test]
    async fn records_stored_before_viewer_keys_get_them_on_open() {
        use crate::domain::index::attr;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contacts.db");
        let r = super::record("acme", "Old Timer", "old@example.com", "");
        let viewers = super::exact(attr::VIEWER, "u:alice");
        {
            let s = SqliteContactStore::open(&path).await.unwrap();
            s.commit(&r.tenant, &super::create(&r)).await.unwrap();
            // As an earlier release left it: no viewer entries, version 1.
            s.db()
                .write(|tx| async move {
                    tx.execute("DELETE FROM record_index WHERE attr = 'viewer'", ())
                        .await?;
                    tx.execute("DELETE FROM index_state", ()).await?;
                    Ok::<_, rapport_store::StoreError>(())
                })
                .await
                .unwrap();
            assert!(s.scan(&r.tenant, &viewers).await.unwrap().is_empty());
        }
        let s = SqliteContactStore::open(&path).await.unwrap();
        let hits = s.scan(&r.tenant, &viewers).await.unwrap();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [r.id]);
    }
}

mod scylla {
    use rapport_store::scylla::{Consistency, ScyllaSettings, test_node};

    use crate::store::ScyllaContactStore;

    async fn store() -> Option<((), ScyllaContactStore)> {
        let node = test_node("contacts store contract")?;
        let settings = ScyllaSettings {
            nodes: vec![node],
            keyspace: format!("rapport_test_contacts_{}", std::process::id()),
            replication_factor: 1,
            local_dc: None,
            consistency: Consistency::One,
            credentials: None,
        };
        Some(((), ScyllaContactStore::connect(&settings).await.unwrap()))
    }

    contract_tests!(
        store(),
        creates_and_reads_back_with_its_event,
        never_reads_across_tenants,
        tells_which_records_a_viewer_sees_from_the_index,
        stale_versions_and_taken_keys_change_nothing,
        deletes_remove_index_entries,
        scans_page_in_order,
        only_one_upload_starts_an_import,
        definition_changes_write_their_audit_entry_only_when_applied,
        a_tenant_runs_only_its_quota_of_imports_at_once,
    );
}
