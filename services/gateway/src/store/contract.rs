//! The contract every gateway store backend must meet: API keys, custom
//! roles and sessions with their audit entries, and the audit index.

use chrono::{Duration, SubsecRound, Utc};
use rapport_platform::identity::{Object, Permission, TenantId, UserId};
use rapport_proto::events::v1::{AuditEntry, AuditFieldChange};
use rapport_store::OutboxMessage;
use uuid::Uuid;

use super::{
    ApiKey, ApiKeyStore, AuditFilter, AuditRecord, AuditStore, CustomRole, RoleStore, RoleWrite,
    SessionStore, SqliteGatewayStore, StoredSession,
};

/// What each backend offers the tests: the stores and their outbox.
trait Backend: ApiKeyStore + AuditStore + RoleStore + SessionStore {
    fn outbox(&self) -> std::sync::Arc<dyn rapport_store::Outbox>;
}

impl Backend for SqliteGatewayStore {
    fn outbox(&self) -> std::sync::Arc<dyn rapport_store::Outbox> {
        SqliteGatewayStore::outbox(self)
    }
}

impl Backend for super::ScyllaGatewayStore {
    fn outbox(&self) -> std::sync::Arc<dyn rapport_store::Outbox> {
        super::ScyllaGatewayStore::outbox(self)
    }
}

fn audit(key: &ApiKey) -> OutboxMessage {
    OutboxMessage {
        event_id: Uuid::now_v7().to_string(),
        topic: "rapport.audit.v1".into(),
        key: format!("{}/apiKeys/{}", key.tenant, key.id),
        payload: vec![1],
        headers: vec![],
        aggregate_version: Some(0),
    }
}

fn key(tenant: &str, name: &str) -> ApiKey {
    ApiKey {
        tenant: TenantId::parse(tenant).unwrap(),
        id: Uuid::now_v7(),
        display_name: name.into(),
        scopes: vec![
            Permission::read(Object::Contacts),
            Permission::write(Object::Deals),
        ],
        secret_sha256: [7; 32],
        created_by: UserId::parse("ada").unwrap(),
        // Both backends keep milliseconds at least.
        create_time: Utc::now().trunc_subsecs(3),
        revoke_time: None,
        last_use_time: None,
    }
}

async fn stores_lists_and_scopes_by_tenant(s: &dyn Backend) {
    let erp = key("acme", "ERP sync");
    let mut bi = key("acme", "BI export");
    bi.create_time = erp.create_time + Duration::seconds(1);
    bi.scopes = vec![Permission::read(Object::Contacts)];
    let other = key("globex", "theirs");
    for k in [&bi, &erp, &other] {
        s.create(k, &audit(k)).await.unwrap();
    }
    assert_eq!(s.get(&erp.tenant, erp.id).await.unwrap(), Some(erp.clone()));
    assert_eq!(s.list(&erp.tenant).await.unwrap(), vec![erp.clone(), bi]);
    // Another tenant's key is not found under this tenant, by id or list.
    assert_eq!(s.get(&erp.tenant, other.id).await.unwrap(), None);
    assert_eq!(s.list(&other.tenant).await.unwrap(), vec![other]);
}

async fn revocation_sticks_and_keeps_its_first_time(s: &dyn Backend) {
    let k = key("acme", "ERP sync");
    s.create(&k, &audit(&k)).await.unwrap();
    let first = Utc::now().trunc_subsecs(3);
    let backlog = s.outbox().backlog().await.unwrap();
    let revoked = s
        .revoke(&k.tenant, k.id, first, &audit(&k))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.outbox().backlog().await.unwrap(), backlog + 1);
    assert_eq!(revoked.revoke_time, Some(first));
    let again = s
        .revoke(&k.tenant, k.id, first + Duration::seconds(5), &audit(&k))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoke_time, Some(first));
    // Revoked already: nothing changed, so no second audit entry.
    assert_eq!(s.outbox().backlog().await.unwrap(), backlog + 1);
    assert_eq!(
        s.get(&k.tenant, k.id).await.unwrap().unwrap().revoke_time,
        Some(first)
    );
    // No key, nothing revoked, nothing created; nor across tenants.
    let globex = TenantId::parse("globex").unwrap();
    assert_eq!(
        s.revoke(&globex, k.id, first, &audit(&k)).await.unwrap(),
        None
    );
    assert_eq!(s.get(&globex, k.id).await.unwrap(), None);
    assert_eq!(
        s.revoke(&k.tenant, Uuid::now_v7(), first, &audit(&k))
            .await
            .unwrap(),
        None
    );
}

async fn last_use_is_recorded(s: &dyn Backend) {
    let k = key("acme", "ERP sync");
    s.create(&k, &audit(&k)).await.unwrap();
    let at = Utc::now().trunc_subsecs(3);
    s.touch(&k.tenant, k.id, at).await.unwrap();
    let stored = s.get(&k.tenant, k.id).await.unwrap().unwrap();
    assert_eq!(stored.last_use_time, Some(at));
    assert_eq!(
        stored.secret_sha256, k.secret_sha256,
        "touch changes nothing else"
    );
}

fn entry(tenant: &str, actor: &str, resource: &str, change: &str, secs: i64) -> AuditRecord {
    AuditRecord {
        tenant: TenantId::parse(tenant).unwrap(),
        id: Uuid::now_v7().to_string(),
        time: Utc::now().trunc_subsecs(3) - Duration::seconds(secs),
        actor: actor.into(),
        source: "/rapport/contacts".into(),
        entry: AuditEntry {
            resource: resource.into(),
            change: change.into(),
            operation: "UpdateContact".into(),
            changes: vec![AuditFieldChange {
                field: "email".into(),
                old_value: "\"old@example.com\"".into(),
                new_value: "\"new@example.com\"".into(),
                masked: false,
            }],
            ..AuditEntry::default()
        },
    }
}

async fn audit_lists_newest_first_per_record_and_actor_by_tenant(s: &dyn Backend) {
    let tenant = TenantId::parse("acme").unwrap();
    let record = "contacts/c-1";
    let entries: Vec<AuditRecord> = (0..5)
        .map(|i| {
            entry(
                "acme",
                if i % 2 == 0 { "ada" } else { "bob" },
                record,
                "updated",
                50 - i,
            )
        })
        .collect();
    let theirs = entry("globex", "ada", record, "updated", 1);
    s.append(&entries).await.unwrap();
    s.append(&[theirs]).await.unwrap();
    // Replayed: stored once.
    s.append(&entries[..2]).await.unwrap();
    let by_record = AuditFilter::Resource(record.into());
    let first = s.entries(&tenant, &by_record, None, 3).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [&entries[4].id, &entries[3].id, &entries[2].id].map(String::as_str)
    );
    let last = first.last().unwrap();
    let rest = s
        .entries(&tenant, &by_record, Some(&(last.time, last.id.clone())), 10)
        .await
        .unwrap();
    assert_eq!(rest, vec![entries[1].clone(), entries[0].clone()]);
    let by_ada = s
        .entries(&tenant, &AuditFilter::Actor("ada".into()), None, 10)
        .await
        .unwrap();
    assert_eq!(
        by_ada.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        [&entries[4], &entries[2], &entries[0]].map(|e| e.id.clone())
    );
    // The other tenant's entry about a record with the same name is theirs.
    assert_eq!(
        s.entries(&TenantId::parse("globex").unwrap(), &by_record, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn an_erasure_masks_the_record_history(s: &dyn Backend) {
    let tenant = TenantId::parse("acme").unwrap();
    let kept = entry("acme", "ada", "contacts/other", "updated", 30);
    s.append(&[
        entry("acme", "ada", "contacts/gone", "created", 20),
        kept.clone(),
    ])
    .await
    .unwrap();
    let mut erased = entry("acme", "dpo", "contacts/gone", "erased", 0);
    erased.entry.changes = vec![AuditFieldChange {
        field: "email".into(),
        masked: true,
        ..Default::default()
    }];
    s.append(&[erased]).await.unwrap();
    let history = s
        .entries(
            &tenant,
            &AuditFilter::Resource("contacts/gone".into()),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    for r in &history {
        for c in &r.entry.changes {
            assert!(
                c.masked && c.old_value.is_empty() && c.new_value.is_empty(),
                "{r:?}"
            );
        }
    }
    // The actor's view is masked too, and other records keep their values.
    let by_ada = s
        .entries(&tenant, &AuditFilter::Actor("ada".into()), None, 10)
        .await
        .unwrap();
    let gone = by_ada
        .iter()
        .find(|r| r.entry.resource == "contacts/gone")
        .unwrap();
    assert!(gone.entry.changes[0].masked);
    let other = by_ada
        .iter()
        .find(|r| r.entry.resource == "contacts/other")
        .unwrap();
    assert_eq!(other.entry, kept.entry);
}

/// Whether every value of the stored entry `id` of `resource` is masked.
async fn is_masked(s: &dyn Backend, tenant: &str, resource: &str, id: &str) -> bool {
    let tenant = TenantId::parse(tenant).unwrap();
    let stored = s
        .entries(&tenant, &AuditFilter::Resource(resource.into()), None, 100)
        .await
        .unwrap();
    let r = stored
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("{resource} {id} is not stored"));
    r.entry
        .changes
        .iter()
        .all(|c| c.masked && c.old_value.is_empty() && c.new_value.is_empty())
}

/// An erasure of a person reaches the history of the duplicates merged
/// into them (through chains of merges), and the entries of deals, tasks
/// and interactions that name them, in whatever order the entries arrive;
/// nothing else is touched, in no other tenant.
async fn an_erasure_reaches_merged_duplicates_and_linked_entries(s: &dyn Backend) {
    // d was merged into c, then c into a: d -> c -> a.
    let d_history = entry("acme", "ada", "contacts/d", "created", 60);
    let mut d_merged = entry("acme", "ada", "contacts/d", "deleted", 55);
    d_merged.entry.merged_into = "contacts/c".into();
    let c_history = entry("acme", "ada", "contacts/c", "created", 50);
    let mut c_merged = entry("acme", "ada", "contacts/c", "deleted", 45);
    c_merged.entry.merged_into = "contacts/a".into();
    let mut deal = entry("acme", "bob", "deals/1", "created", 40);
    deal.entry.subjects = vec!["contacts/d".into()];
    let mut other_deal = entry("acme", "bob", "deals/2", "created", 40);
    other_deal.entry.subjects = vec!["contacts/z".into()];
    let mut theirs = entry("globex", "gina", "contacts/c", "created", 40);
    theirs.entry.merged_into = "contacts/a".into();
    s.append(&[
        d_history.clone(),
        d_merged.clone(),
        c_history.clone(),
        c_merged.clone(),
        deal.clone(),
        other_deal.clone(),
        theirs.clone(),
    ])
    .await
    .unwrap();
    s.append(&[entry("acme", "dpo", "contacts/a", "erased", 10)])
        .await
        .unwrap();
    for (resource, e) in [
        ("contacts/d", &d_history),
        ("contacts/d", &d_merged),
        ("contacts/c", &c_history),
        ("contacts/c", &c_merged),
        ("deals/1", &deal),
    ] {
        assert!(
            is_masked(s, "acme", resource, &e.id).await,
            "{resource} {e:?}"
        );
    }
    assert!(!is_masked(s, "acme", "deals/2", &other_deal.id).await);
    assert!(!is_masked(s, "globex", "contacts/c", &theirs.id).await);

    // Late arrivals (other records' entries reach the index in any order):
    // a task naming a merged-away duplicate, and the merge of yet another
    // duplicate e (with its history) into the erased person.
    let mut task = entry("acme", "bob", "tasks/1", "created", 30);
    task.entry.subjects = vec!["contacts/c".into()];
    let e_history = entry("acme", "ada", "contacts/e", "created", 40);
    let mut e_merged = entry("acme", "ada", "contacts/e", "deleted", 35);
    e_merged.entry.merged_into = "contacts/a".into();
    s.append(&[task.clone(), e_history.clone(), e_merged.clone()])
        .await
        .unwrap();
    for (resource, e) in [
        ("tasks/1", &task),
        ("contacts/e", &e_history),
        ("contacts/e", &e_merged),
    ] {
        assert!(
            is_masked(s, "acme", resource, &e.id).await,
            "{resource} {e:?}"
        );
    }
    // The actor's view of a masked linked entry is masked too.
    let by_bob = s
        .entries(
            &TenantId::parse("acme").unwrap(),
            &AuditFilter::Actor("bob".into()),
            None,
            10,
        )
        .await
        .unwrap();
    let seen = by_bob.iter().find(|r| r.id == deal.id).unwrap();
    assert!(seen.entry.changes.iter().all(|c| c.masked), "{seen:?}");
}

fn role(tenant: &str, name: &str, permissions: Vec<Permission>) -> CustomRole {
    let now = Utc::now().trunc_subsecs(3);
    CustomRole {
        tenant: TenantId::parse(tenant).unwrap(),
        name: rapport_platform::identity::CustomRoleName::parse(name).unwrap(),
        description: format!("{name} of {tenant}"),
        permissions,
        version: 1,
        created_by: UserId::parse("ada").unwrap(),
        create_time: now,
        updated_by: UserId::parse("ada").unwrap(),
        update_time: now,
    }
}

fn role_audit(r: &CustomRole) -> OutboxMessage {
    OutboxMessage {
        key: format!("{}/roles/{}", r.tenant, r.name),
        ..audit(&key(r.tenant.as_str(), "unused"))
    }
}

async fn roles_change_by_version_with_an_entry_each(s: &dyn Backend) {
    let desk = role(
        "acme",
        "deal-desk",
        vec![
            Permission::read(Object::Contacts),
            Permission::write(Object::Deals),
        ],
    );
    let backlog = s.outbox().backlog().await.unwrap();
    assert_eq!(
        s.put_role(&desk, None, &role_audit(&desk)).await.unwrap(),
        RoleWrite::Done
    );
    // The same name again, in the same tenant: taken; in another: free.
    assert_eq!(
        s.put_role(&desk, None, &role_audit(&desk)).await.unwrap(),
        RoleWrite::Conflict
    );
    let globex = role("globex", "deal-desk", vec![Permission::ReadAudit]);
    assert_eq!(
        s.put_role(&globex, None, &role_audit(&globex))
            .await
            .unwrap(),
        RoleWrite::Done
    );
    assert_eq!(s.roles(&desk.tenant).await.unwrap(), vec![desk.clone()]);
    assert_eq!(s.roles(&globex.tenant).await.unwrap(), vec![globex.clone()]);

    // A change names the version it read; a stale one changes nothing.
    let mut changed = desk.clone();
    changed.version = 2;
    changed.permissions = vec![Permission::ViewTeamRecords];
    changed.description = "prices deals".into();
    assert_eq!(
        s.put_role(&changed, Some(7), &role_audit(&changed))
            .await
            .unwrap(),
        RoleWrite::Stale
    );
    assert_eq!(
        s.put_role(&changed, Some(1), &role_audit(&changed))
            .await
            .unwrap(),
        RoleWrite::Done
    );
    assert_eq!(s.roles(&desk.tenant).await.unwrap(), vec![changed.clone()]);
    let missing = role("acme", "ghost", vec![]);
    assert_eq!(
        s.put_role(&missing, Some(1), &role_audit(&missing))
            .await
            .unwrap(),
        RoleWrite::Conflict
    );

    // Deletes: stale, done, then gone.
    assert_eq!(
        s.delete_role(&desk.tenant, &desk.name, Some(1), &role_audit(&desk))
            .await
            .unwrap(),
        RoleWrite::Stale
    );
    assert_eq!(
        s.delete_role(&desk.tenant, &desk.name, Some(2), &role_audit(&desk))
            .await
            .unwrap(),
        RoleWrite::Done
    );
    assert_eq!(
        s.delete_role(&desk.tenant, &desk.name, None, &role_audit(&desk))
            .await
            .unwrap(),
        RoleWrite::Conflict
    );
    assert!(s.roles(&desk.tenant).await.unwrap().is_empty());
    assert_eq!(s.roles(&globex.tenant).await.unwrap(), vec![globex]);
    // One audit entry per change that happened: three puts, one delete.
    assert_eq!(s.outbox().backlog().await.unwrap(), backlog + 4);
}

fn session(tenant: &str, user: &str, id: &str, minutes_ago: i64) -> StoredSession {
    let create_time = Utc::now().trunc_subsecs(3) - Duration::minutes(minutes_ago);
    StoredSession {
        tenant: TenantId::parse(tenant).unwrap(),
        user: UserId::parse(user).unwrap(),
        id: id.into(),
        create_time,
        expire_time: create_time + Duration::hours(12),
        revoke_time: None,
        user_agent: "Firefox".into(),
        address: "192.0.2.7".into(),
    }
}

fn session_audit(s: &StoredSession) -> OutboxMessage {
    OutboxMessage {
        key: format!("{}/sessions/{}", s.tenant, s.id),
        ..audit(&key(s.tenant.as_str(), "unused"))
    }
}

async fn sessions_end_once_each_with_an_entry_and_stay_with_their_user(s: &dyn Backend) {
    let backlog = s.outbox().backlog().await.unwrap();
    let laptop = session("acme", "ada", "s1", 60);
    let phone = session("acme", "ada", "s2", 5);
    // The same user name in another tenant is another person.
    let other = session("globex", "ada", "s3", 1);
    for x in [&laptop, &phone, &other] {
        s.create_session(x, &session_audit(x)).await.unwrap();
    }
    let (acme, ada) = (&laptop.tenant, &laptop.user);
    assert_eq!(
        s.sessions(acme, ada).await.unwrap(),
        vec![phone.clone(), laptop.clone()],
        "newest first"
    );
    assert_eq!(
        s.session(acme, ada, "s1").await.unwrap(),
        Some(laptop.clone())
    );
    assert_eq!(s.session(acme, ada, "s3").await.unwrap(), None);
    let bob = UserId::parse("bob").unwrap();
    assert_eq!(s.session(acme, &bob, "s1").await.unwrap(), None);

    // Ending one: it stays listed, ended, with its first revoke time.
    let at = Utc::now().trunc_subsecs(3);
    let ended = s
        .revoke_sessions(acme, ada, &["s1".into()], at, &[session_audit(&laptop)])
        .await
        .unwrap();
    assert_eq!(ended, vec!["s1".to_owned()]);
    let later = at + Duration::minutes(1);
    let ids = ["s1".to_owned(), "s2".to_owned(), "s3".to_owned()];
    let audits = [&laptop, &phone, &other].map(session_audit);
    let ended = s
        .revoke_sessions(acme, ada, &ids, later, &audits)
        .await
        .unwrap();
    assert_eq!(
        ended,
        vec!["s2".to_owned()],
        "s1 was ended, s3 is not ada's of acme"
    );
    let stored = s.session(acme, ada, "s1").await.unwrap().unwrap();
    assert_eq!(stored.revoke_time, Some(at));
    assert!(!stored.live(Utc::now()));
    assert!(
        s.session(&other.tenant, ada, "s3")
            .await
            .unwrap()
            .unwrap()
            .live(Utc::now())
    );
    // Three sign-ins and two endings, one entry each.
    assert_eq!(s.outbox().backlog().await.unwrap(), backlog + 5);
}

mod sqlite {
    use chrono::{Duration, Utc};

    use crate::store::{AuditFilter, AuditStore, SessionStore, SqliteGatewayStore};

    async fn store() -> (tempfile::TempDir, SqliteGatewayStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteGatewayStore::open(&dir.path().join("gateway.db"))
            .await
            .unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn stores_lists_and_scopes_by_tenant() {
        let (_d, s) = store().await;
        super::stores_lists_and_scopes_by_tenant(&s).await;
    }

    #[tokio::test]
    async fn revocation_sticks_and_keeps_its_first_time() {
        let (_d, s) = store().await;
        super::revocation_sticks_and_keeps_its_first_time(&s).await;
    }

    #[tokio::test]
    async fn last_use_is_recorded() {
        let (_d, s) = store().await;
        super::last_use_is_recorded(&s).await;
    }

    #[tokio::test]
    async fn audit_lists_newest_first_per_record_and_actor_by_tenant() {
        let (_d, s) = store().await;
        super::audit_lists_newest_first_per_record_and_actor_by_tenant(&s).await;
    }

    #[tokio::test]
    async fn an_erasure_masks_the_record_history() {
        let (_d, s) = store().await;
        super::an_erasure_masks_the_record_history(&s).await;
    }

    #[tokio::test]
    async fn roles_change_by_version_with_an_entry_each() {
        let (_d, s) = store().await;
        super::roles_change_by_version_with_an_entry_each(&s).await;
    }

    #[tokio::test]
    async fn an_erasure_reaches_merged_duplicates_and_linked_entries() {
        let (_d, s) = store().await;
        super::an_erasure_reaches_merged_duplicates_and_linked_entries(&s).await;
    }

    #[tokio::test]
    async fn sessions_end_once_each_with_an_entry_and_stay_with_their_user() {
        let (_d, s) = store().await;
        super::sessions_end_once_each_with_an_entry_and_stay_with_their_user(&s).await;
    }

    #[tokio::test]
    async fn expired_sessions_are_not_listed_and_leave_at_the_next_sign_in() {
        let (_d, s) = store().await;
        let mut old = super::session("acme", "ada", "old", 13 * 60);
        old.expire_time = Utc::now() - Duration::hours(1);
        s.create_session(&old, &super::session_audit(&old))
            .await
            .unwrap();
        assert!(s.sessions(&old.tenant, &old.user).await.unwrap().is_empty());
        let new = super::session("acme", "ada", "new", 0);
        s.create_session(&new, &super::session_audit(&new))
            .await
            .unwrap();
        assert_eq!(
            s.session(&old.tenant, &old.user, "old").await.unwrap(),
            None
        );
    }

    /// ScyllaDB expires entries by TTL; SQLite deletes them by age.
    #[tokio::test]
    async fn retention_deletes_old_entries_only() {
        let (_d, s) = store().await;
        let old = super::entry("acme", "ada", "contacts/c", "updated", 3 * 86_400);
        let new = super::entry("acme", "ada", "contacts/c", "updated", 10);
        s.append(&[old, new.clone()]).await.unwrap();
        assert_eq!(s.purge(Utc::now() - Duration::days(2)).await.unwrap(), 1);
        let left = s
            .entries(
                &new.tenant,
                &AuditFilter::Resource("contacts/c".into()),
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(left, vec![new]);
    }
}

mod scylla {
    use crate::store::ScyllaGatewayStore;
    use rapport_store::scylla::{Consistency, ScyllaSettings, test_node};

    async fn store() -> Option<ScyllaGatewayStore> {
        let node = test_node("gateway store contract")?;
        let settings = ScyllaSettings {
            nodes: vec![node],
            keyspace: format!("rapport_test_gateway_{}", std::process::id()),
            replication_factor: 1,
            local_dc: None,
            consistency: Consistency::One,
            credentials: None,
        };
        Some(
            ScyllaGatewayStore::connect(&settings, chrono::Duration::days(30))
                .await
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn stores_lists_and_scopes_by_tenant() {
        if let Some(s) = store().await {
            super::stores_lists_and_scopes_by_tenant(&s).await;
        }
    }

    #[tokio::test]
    async fn revocation_sticks_and_keeps_its_first_time() {
        if let Some(s) = store().await {
            super::revocation_sticks_and_keeps_its_first_time(&s).await;
        }
    }

    #[tokio::test]
    async fn last_use_is_recorded() {
        if let Some(s) = store().await {
            super::last_use_is_recorded(&s).await;
        }
    }

    #[tokio::test]
    async fn audit_lists_newest_first_per_record_and_actor_by_tenant() {
        if let Some(s) = store().await {
            super::audit_lists_newest_first_per_record_and_actor_by_tenant(&s).await;
        }
    }

    #[tokio::test]
    async fn an_erasure_masks_the_record_history() {
        if let Some(s) = store().await {
            super::an_erasure_masks_the_record_history(&s).await;
        }
    }

    #[tokio::test]
    async fn roles_change_by_version_with_an_entry_each() {
        if let Some(s) = store().await {
            super::roles_change_by_version_with_an_entry_each(&s).await;
        }
    }

    #[tokio::test]
    async fn an_erasure_reaches_merged_duplicates_and_linked_entries() {
        if let Some(s) = store().await {
            super::an_erasure_reaches_merged_duplicates_and_linked_entries(&s).await;
        }
    }

    #[tokio::test]
    async fn sessions_end_once_each_with_an_entry_and_stay_with_their_user() {
        if let Some(s) = store().await {
            super::sessions_end_once_each_with_an_entry_and_stay_with_their_user(&s).await;
        }
    }
}
