//! API keys of partner systems: the token format, and turning a token
//! into a principal.
//!
//! A token is `rk_<tenant>.<key id>.<secret>`: the tenant and id find the
//! stored key (every lookup is scoped by tenant), the secret (32 random
//! bytes, base64url) proves it. Only the secret's SHA-256 is stored: the
//! secret is random, so a slow password hash would buy nothing (ADR 0122).
//!
//! Lookups are cached for [`CACHE_TTL`], so a revocation reaches every
//! gateway replica within that time, and the replica that revoked at once.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use rapport_platform::identity::{AuthError, Principal, Role, TenantId, UserId};
use rapport_store::StoreError;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::store::{ApiKey, ApiKeyStore};

/// What every API key token starts with.
pub(crate) const TOKEN_PREFIX: &str = "rk_";
/// How long a looked-up key (or its absence) is trusted: the most a
/// revocation takes to reach another replica.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(2);
/// How often a key's last-use time is written, at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Most cached lookups; past it the cache starts afresh.
const MAX_CACHED: usize = 100_000;

/// A token's parts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) tenant: TenantId,
    pub(crate) id: Uuid,
    secret: &'a str,
}

/// Splits a token into tenant, id and secret.
pub(crate) fn parse(token: &str) -> Result<Token<'_>, AuthError> {
    let malformed = || AuthError::Malformed("an API key is rk_<tenant>.<id>.<secret>");
    let rest = token.strip_prefix(TOKEN_PREFIX).ok_or_else(malformed)?;
    let mut parts = rest.splitn(3, '.');
    let (Some(tenant), Some(id), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed());
    };
    Ok(Token {
        tenant: TenantId::parse(tenant).map_err(|_| malformed())?,
        id: Uuid::try_parse(id).map_err(|_| malformed())?,
        secret,
    })
}

/// A new key's token and the digest to store.
pub(crate) fn generate(tenant: &TenantId, id: Uuid) -> (String, [u8; 32]) {
    let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let token = format!("{TOKEN_PREFIX}{tenant}.{id}.{secret}");
    (token, digest(&secret))
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares in time independent of where the digests differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The user id requests made with a key act as (owner of what they create).
pub(crate) fn key_user(id: Uuid) -> UserId {
    UserId::parse(&format!("apikey:{id}")).expect("hex is a valid user id")
}

struct Cached {
    key: Option<ApiKey>,
    at: Instant,
}

/// Authenticates API key tokens against the store, with a short cache.
pub(crate) struct ApiKeys {
    store: Arc<dyn ApiKeyStore>,
    cache: Mutex<HashMap<(TenantId, Uuid), Cached>>,
    touched: Mutex<HashMap<(TenantId, Uuid), Instant>>,
}

/// Why a key token was not accepted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    /// Not a valid, live key: 401.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The store could not answer: 503.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiKeys {
    pub(crate) fn new(store: Arc<dyn ApiKeyStore>) -> Self {
        ApiKeys {
            store,
            cache: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// The store keys are kept in.
    pub(crate) fn store(&self) -> &Arc<dyn ApiKeyStore> {
        &self.store
    }

    /// Forgets a cached key: after a revocation on this replica.
    pub(crate) fn forget(&self, tenant: &TenantId, id: Uuid) {
        lock(&self.cache).remove(&(tenant.clone(), id));
    }

    async fn lookup(&self, tenant: &TenantId, id: Uuid) -> Result<Option<ApiKey>, StoreError> {
        let slot = (tenant.clone(), id);
        if let Some(c) = lock(&self.cache).get(&slot)
            && c.at.elapsed() < CACHE_TTL
        {
            return Ok(c.key.clone());
        }
        let key = self.store.get(tenant, id).await?;
        let mut cache = lock(&self.cache);
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(
            slot,
            Cached {
                key: key.clone(),
                at: Instant::now(),
            },
        );
        Ok(key)
    }

    /// The principal a key token speaks for: the key's tenant, a user of
    /// its own, the system role narrowed to the key's scopes.
    pub(crate) async fn authenticate(&self, token: &str) -> Result<(Principal, Uuid), KeyError> {
        let t = parse(token)?;
        let key = self
            .lookup(&t.tenant, t.id)
            .await?
            .filter(|k| same(&k.secret_sha256, &digest(t.secret)))
            .ok_or(AuthError::BadSignature)?;
        if key.revoke_time.is_some() {
            return Err(AuthError::InvalidClaims("the API key has been revoked".into()).into());
        }
        self.touch(&key);
        Ok((
            Principal {
                tenant: key.tenant.clone(),
                user: key_user(key.id),
                roles: vec![Role::System],
                teams: Vec::new(),
                scopes: Some(key.scopes.clone()),
                grants: Vec::new(),
            },
            key.id,
        ))
    }

    /// Writes the last-use time in the background, at most once a minute
    /// per key and replica: a request never waits for it.
    fn touch(&self, key: &ApiKey) {
        let slot = (key.tenant.clone(), key.id);
        {
            let mut touched = lock(&self.touched);
            if touched
                .get(&slot)
                .is_some_and(|at| at.elapsed() < TOUCH_EVERY)
            {
                return;
            }
            if touched.len() >= MAX_CACHED {
                touched.clear();
            }
            touched.insert(slot, Instant::now());
        }
        let (store, tenant, id) = (self.store.clone(), key.tenant.clone(), key.id);
        tokio::spawn(async move {
            if let Err(e) = store.touch(&tenant, id, Utc::now()).await {
                tracing::warn!(%tenant, key = %id, error = %e, "could not record the API key's last use");
            }
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_malformed_ones_are_refused() {
        let acme = TenantId::parse("acme-eu_2").unwrap();
        let id = Uuid::now_v7();
        let (token, sha) = generate(&acme, id);
        let t = parse(&token).unwrap();
        assert_eq!((t.tenant, t.id), (acme.clone(), id));
        assert!(same(&digest(t.secret), &sha));
        let (other, _) = generate(&acme, id);
        assert_ne!(token, other, "secrets are random");
        assert!(!same(&digest(parse(&other).unwrap().secret), &sha));
        for bad in [
            "",
            "rk_",
            "rk_acme",
            "rk_acme.not-a-uuid.secret",
            "rk_Acme.0193a0a0a0a0a0a0a0a0a0a0a0a0a0a0.s",
            "xx_acme.0193a0a0a0a0a0a0a0a0a0a0a0a0a0a0.s",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
