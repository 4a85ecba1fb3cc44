//! Custom roles: turning the role names a token carries into what the
//! tenant defined them to grant.
//!
//! Tokens (OIDC, dev tokens, sessions) name roles; built-in ones grant by
//! themselves, a custom one grants what its definition in `/v1/roles`
//! says. The gateway resolves them on every request into the principal's
//! grants, which travel sealed to the services (ADR 0125). A name the
//! tenant has not defined is dropped: an identity provider's own groups
//! grant nothing. Definitions are cached per tenant for [`CACHE_TTL`], so
//! a change reaches every replica within that time, and the replica that
//! made it at once.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rapport_platform::identity::{Principal, Role, TenantId};
use rapport_store::StoreError;

use crate::store::{CustomRole, RoleStore};

/// How long a tenant's definitions are trusted.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(2);
/// Most tenants cached; past it the cache starts afresh.
const MAX_CACHED: usize = 10_000;

/// Each tenant's definitions and when they were read.
type Cache = HashMap<TenantId, (Instant, Arc<Vec<CustomRole>>)>;

/// The tenants' custom roles, with a short cache.
pub(crate) struct Roles {
    store: Arc<dyn RoleStore>,
    cache: Mutex<Cache>,
}

impl Roles {
    pub(crate) fn new(store: Arc<dyn RoleStore>) -> Self {
        Roles {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The store roles are kept in.
    pub(crate) fn store(&self) -> &Arc<dyn RoleStore> {
        &self.store
    }

    /// Forgets a tenant's cached definitions: after a change on this replica.
    pub(crate) fn forget(&self, tenant: &TenantId) {
        self.lock().remove(tenant);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn defined(&self, tenant: &TenantId) -> Result<Arc<Vec<CustomRole>>, StoreError> {
        if let Some((at, roles)) = self.lock().get(tenant)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(roles.clone());
        }
        let roles = Arc::new(self.store.roles(tenant).await?);
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(tenant.clone(), (Instant::now(), roles.clone()));
        Ok(roles)
    }

    /// `p` with its custom roles resolved: the defined ones kept and what
    /// they grant in `grants`, the others dropped. A principal without
    /// custom roles costs no lookup.
    pub(crate) async fn resolve(&self, mut p: Principal) -> Result<Principal, StoreError> {
        p.grants.clear();
        if !p.roles.iter().any(|r| matches!(r, Role::Custom(_))) {
            return Ok(p);
        }
        let defined = self.defined(&p.tenant).await?;
        let mut grants = BTreeSet::new();
        p.roles.retain(|role| match role {
            Role::Custom(name) => match defined.iter().find(|d| &d.name == name) {
                Some(d) => {
                    grants.extend(d.permissions.iter().copied());
                    true
                }
                None => false,
            },
            _ => true,
        });
        p.grants = grants.into_iter().collect();
        Ok(p)
    }
}
