//! Which browser sessions are still live. A session cookie is signed and
//! self-contained; on top of that every sign-in is recorded in the
//! gateway's store, so a session can be ended on the server (sign-out, an
//! admin, "sign out everywhere") and a copied cookie stops working.
//!
//! Lookups are cached for [`CACHE_TTL`]: an ended session fails within that
//! time on every gateway replica, and at once on the one that ended it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::Utc;
use rapport_platform::identity::{Principal, TenantId, UserId};
use rapport_store::StoreError;
use sha2::{Digest, Sha256};

use crate::store::SessionStore;

/// How long a lookup is trusted: the most an ending takes to reach another
/// replica.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(2);
/// Most cached lookups; past it the cache starts afresh.
const MAX_CACHED: usize = 100_000;

type Key = (TenantId, UserId, String);

/// The recorded sessions, with a short cache of lookups.
pub(crate) struct LiveSessions {
    store: Arc<dyn SessionStore>,
    cache: Mutex<HashMap<Key, (Instant, bool)>>,
}

/// The stored and shown id of the session whose cookie holds `sid`: a
/// digest, so neither the store nor an admin's listing holds the secret
/// the CSRF token is derived from.
pub(crate) fn public_id(sid: &str) -> String {
    let d = Sha256::digest(sid.as_bytes());
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

impl LiveSessions {
    pub(crate) fn new(store: Arc<dyn SessionStore>) -> Self {
        LiveSessions {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The store sessions are recorded in.
    pub(crate) fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (Instant, bool)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `p`'s session `id` is recorded and neither ended nor expired.
    pub(crate) async fn is_live(&self, p: &Principal, id: &str) -> Result<bool, StoreError> {
        let key = (p.tenant.clone(), p.user.clone(), id.to_owned());
        if let Some((at, live)) = self.lock().get(&key)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(*live);
        }
        let live = self
            .store
            .session(&p.tenant, &p.user, id)
            .await?
            .is_some_and(|s| s.live(Utc::now()));
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), live));
        Ok(live)
    }

    /// Forgets cached lookups of sessions just ended on this replica.
    pub(crate) fn forget(&self, tenant: &TenantId, user: &UserId, ids: &[String]) {
        let mut cache = self.lock();
        for id in ids {
            cache.remove(&(tenant.clone(), user.clone(), id.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::public_id;

    #[test]
    fn the_public_id_is_a_digest_not_the_secret() {
        let sid = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let id = public_id(sid);
        assert_eq!(id.len(), 32);
        assert!(!id.contains(sid) && !sid.contains(&id));
        assert_eq!(id, public_id(sid));
        assert_ne!(id, public_id("another"));
    }
}
