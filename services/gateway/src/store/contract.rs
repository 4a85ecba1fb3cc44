//! The contract every [`ApiKeyStore`] backend must meet.

use chrono::{Duration, SubsecRound, Utc};
use rapport_platform::identity::{Permission, TenantId, UserId};
use uuid::Uuid;

use super::{ApiKey, ApiKeyStore};

fn key(tenant: &str, name: &str) -> ApiKey {
    ApiKey {
        tenant: TenantId::parse(tenant).unwrap(),
        id: Uuid::now_v7(),
        display_name: name.into(),
        scopes: vec![Permission::ReadRecords, Permission::WriteRecords],
        secret_sha256: [7; 32],
        created_by: UserId::parse("ada").unwrap(),
        // Both backends keep milliseconds at least.
        create_time: Utc::now().trunc_subsecs(3),
        revoke_time: None,
        last_use_time: None,
    }
}

async fn stores_lists_and_scopes_by_tenant(s: &dyn ApiKeyStore) {
    let erp = key("acme", "ERP sync");
    let mut bi = key("acme", "BI export");
    bi.create_time = erp.create_time + Duration::seconds(1);
    bi.scopes = vec![Permission::ReadRecords];
    let other = key("globex", "theirs");
    for k in [&bi, &erp, &other] {
        s.create(k).await.unwrap();
    }
    assert_eq!(s.get(&erp.tenant, erp.id).await.unwrap(), Some(erp.clone()));
    assert_eq!(s.list(&erp.tenant).await.unwrap(), vec![erp.clone(), bi]);
    // Another tenant's key is not found under this tenant, by id or list.
    assert_eq!(s.get(&erp.tenant, other.id).await.unwrap(), None);
    assert_eq!(s.list(&other.tenant).await.unwrap(), vec![other]);
}

async fn revocation_sticks_and_keeps_its_first_time(s: &dyn ApiKeyStore) {
    let k = key("acme", "ERP sync");
    s.create(&k).await.unwrap();
    let first = Utc::now().trunc_subsecs(3);
    let revoked = s.revoke(&k.tenant, k.id, first).await.unwrap().unwrap();
    assert_eq!(revoked.revoke_time, Some(first));
    let again = s
        .revoke(&k.tenant, k.id, first + Duration::seconds(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoke_time, Some(first));
    assert_eq!(
        s.get(&k.tenant, k.id).await.unwrap().unwrap().revoke_time,
        Some(first)
    );
    // No key, nothing revoked, nothing created; nor across tenants.
    let globex = TenantId::parse("globex").unwrap();
    assert_eq!(s.revoke(&globex, k.id, first).await.unwrap(), None);
    assert_eq!(s.get(&globex, k.id).await.unwrap(), None);
    assert_eq!(
        s.revoke(&k.tenant, Uuid::now_v7(), first).await.unwrap(),
        None
    );
}

async fn last_use_is_recorded(s: &dyn ApiKeyStore) {
    let k = key("acme", "ERP sync");
    s.create(&k).await.unwrap();
    let at = Utc::now().trunc_subsecs(3);
    s.touch(&k.tenant, k.id, at).await.unwrap();
    let stored = s.get(&k.tenant, k.id).await.unwrap().unwrap();
    assert_eq!(stored.last_use_time, Some(at));
    assert_eq!(
        stored.secret_sha256, k.secret_sha256,
        "touch changes nothing else"
    );
}

mod sqlite {
    use crate::store::SqliteApiKeyStore;

    async fn store() -> (tempfile::TempDir, SqliteApiKeyStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteApiKeyStore::open(&dir.path().join("gateway.db"))
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
}

mod scylla {
    use crate::store::ScyllaApiKeyStore;
    use rapport_store::scylla::{Consistency, ScyllaSettings, test_node};

    async fn store() -> Option<ScyllaApiKeyStore> {
        let node = test_node("gateway store contract")?;
        let settings = ScyllaSettings {
            nodes: vec![node],
            keyspace: format!("rapport_test_gateway_{}", std::process::id()),
            replication_factor: 1,
            local_dc: None,
            consistency: Consistency::One,
            credentials: None,
        };
        Some(ScyllaApiKeyStore::connect(&settings).await.unwrap())
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
}
