//! The seal on a principal in gRPC metadata: an HMAC-SHA256, under a key
//! every service of the deployment shares, over the tenant, user, roles,
//! teams and an expiry.
//!
//! The gateway (and a service calling a peer on a user's behalf) seals
//! outgoing calls in its channel's interceptor; every gRPC server checks
//! the seal in its outermost layer and answers UNAUTHENTICATED before any
//! handler runs. So a service never acts on a tenant or role that a client
//! inside the network merely wrote into a header. The expiry is short: a
//! captured call can be replayed for at most a minute (inside the cluster,
//! where the mesh's mTLS already keeps traffic private).

use std::{path::Path, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;

use crate::audit::ORIGIN_HEADERS;

use super::{
    GRANTS_HEADER, PRINCIPAL_HEADER, ROLES_HEADER, SCOPES_HEADER, TEAMS_HEADER, TENANT_HEADER,
    key_file::{self, KeyFileError, unix_now},
};

/// gRPC metadata key of the seal's expiry (Unix seconds).
pub const SEAL_EXPIRES_HEADER: &str = "x-rapport-principal-expires";
/// gRPC metadata key of the seal (base64url HMAC-SHA256).
pub const SEAL_HEADER: &str = "x-rapport-principal-seal";

/// The headers a seal covers, in the order they are signed.
const SEALED: [&str; 4] = [TENANT_HEADER, PRINCIPAL_HEADER, ROLES_HEADER, TEAMS_HEADER];
/// How long a seal is valid: a call's whole life, not a session's.
const VALIDITY_SECS: u64 = 60;
/// Clock difference between replicas that is tolerated.
const LEEWAY_SECS: u64 = 5;

type HmacSha256 = Hmac<Sha256>;

/// Why a sealed principal was refused. Safe to show callers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Principal metadata without a seal.
    #[error("principal metadata is not sealed by the gateway")]
    Unsealed,
    /// A principal header appears more than once.
    #[error("principal metadata {0} appears more than once")]
    Repeated(&'static str),
    /// The seal does not match the principal.
    #[error("principal seal is invalid")]
    BadSeal,
    /// The seal has expired (or claims a time far in the future).
    #[error("principal seal has expired")]
    Expired,
}

/// The key that seals and checks principals (cheap to clone).
#[derive(Clone)]
pub struct PrincipalKey {
    key: Arc<[u8]>,
}

impl std::fmt::Debug for PrincipalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrincipalKey(***)")
    }
}

impl PrincipalKey {
    /// Loads the key from `path`, creating it (0600) if it does not exist
    /// (monolithic mode keeps it in the data directory).
    pub fn load_or_create(path: &Path) -> Result<Self, KeyFileError> {
        key_file::load_or_create(path).map(Self::from_bytes)
    }

    /// Loads an existing key file (distributed mode: mounted from a Secret).
    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        key_file::load(path).map(Self::from_bytes)
    }

    /// A random key known to this process only: for processes that call no
    /// peer and serve no call (migrations), and for tests.
    pub fn ephemeral() -> Self {
        Self::from_bytes(rand::random::<[u8; 32]>().to_vec())
    }

    /// A key from raw bytes (tests).
    pub fn from_bytes(key: Vec<u8>) -> Self {
        PrincipalKey { key: key.into() }
    }

    /// A key for another purpose (the gateway's session cookies), derived
    /// from this one under `label`: knowing it reveals nothing of this key.
    pub fn derive(&self, label: &str) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"rapport-derived-key-v1\n");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn mac(&self, headers: &HeaderMap, expires: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"rapport-principal-v1");
        for name in SEALED {
            mac.update(b"\n");
            if let Some(v) = headers.get(name) {
                mac.update(v.as_bytes());
            }
        }
        // Scopes narrow a principal: covered when present, and absent (no
        // narrowing) signs differently from present but empty. Seals of
        // principals without scopes are the same as before scopes existed.
        if let Some(v) = headers.get(SCOPES_HEADER) {
            mac.update(b"\nscopes=");
            mac.update(v.as_bytes());
        }
        // Custom roles' grants widen it: covered the same way.
        if let Some(v) = headers.get(GRANTS_HEADER) {
            mac.update(b"\ngrants=");
            mac.update(v.as_bytes());
        }
        // The request's origin, as audit entries record it: covered the
        // same way, so a principal's seal does not change when it is absent.
        for name in ORIGIN_HEADERS {
            if let Some(v) = headers.get(name) {
                mac.update(b"\n");
                mac.update(name.as_bytes());
                mac.update(b"=");
                mac.update(v.as_bytes());
            }
        }
        mac.update(b"\n");
        mac.update(expires);
        mac
    }

    /// Seals the principal in `headers`, if there is one; replaces any seal
    /// already there.
    pub fn seal(&self, headers: &mut HeaderMap) {
        headers.remove(SEAL_HEADER);
        headers.remove(SEAL_EXPIRES_HEADER);
        if !SEALED.iter().any(|name| headers.contains_key(*name)) {
            return;
        }
        let expires = (unix_now() + VALIDITY_SECS).to_string();
        let seal = URL_SAFE_NO_PAD.encode(
            self.mac(headers, expires.as_bytes())
                .finalize()
                .into_bytes(),
        );
        headers.insert(
            SEAL_EXPIRES_HEADER,
            HeaderValue::from_str(&expires).expect("digits are a header value"),
        );
        headers.insert(
            SEAL_HEADER,
            HeaderValue::from_str(&seal).expect("base64url is a header value"),
        );
    }

    /// Checks the seal of the principal in `headers`. A call that claims no
    /// principal (health checks, reflection) needs none.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), SealError> {
        if !SEALED.iter().any(|name| headers.contains_key(*name)) {
            return Ok(());
        }
        for name in SEALED
            .into_iter()
            .chain([
                SCOPES_HEADER,
                GRANTS_HEADER,
                SEAL_HEADER,
                SEAL_EXPIRES_HEADER,
            ])
            .chain(ORIGIN_HEADERS)
        {
            if headers.get_all(name).iter().count() > 1 {
                return Err(SealError::Repeated(name));
            }
        }
        let (Some(seal), Some(expires)) =
            (headers.get(SEAL_HEADER), headers.get(SEAL_EXPIRES_HEADER))
        else {
            return Err(SealError::Unsealed);
        };
        let seal = URL_SAFE_NO_PAD
            .decode(seal.as_bytes())
            .map_err(|_| SealError::BadSeal)?;
        self.mac(headers, expires.as_bytes())
            .verify_slice(&seal)
            .map_err(|_| SealError::BadSeal)?;
        let expires: u64 = expires
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(SealError::BadSeal)?;
        let now = unix_now();
        if expires + LEEWAY_SECS < now || expires > now + VALIDITY_SECS + LEEWAY_SECS {
            return Err(SealError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Principal, Role, TeamId, TenantId, UserId};

    fn key(byte: u8) -> PrincipalKey {
        PrincipalKey::from_bytes(vec![byte; 32])
    }

    fn sealed_headers() -> HeaderMap {
        let p = Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user: UserId::parse("alice").unwrap(),
            roles: vec![Role::Rep],
            teams: vec![TeamId::parse("sales/emea").unwrap()],
            scopes: None,
            grants: Vec::new(),
        };
        let mut headers = p.request(()).into_parts().0.into_headers();
        key(1).seal(&mut headers);
        headers
    }

    #[test]
    fn the_origin_cannot_be_rewritten_after_sealing() {
        let p = Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user: UserId::parse("alice").unwrap(),
            roles: vec![Role::Rep],
            teams: vec![],
            scopes: None,
            grants: Vec::new(),
        };
        let mut headers = p.request(()).into_parts().0.into_headers();
        crate::audit::Origin {
            client_ip: "203.0.113.7".into(),
            ..Default::default()
        }
        .write_headers(&mut headers);
        key(1).seal(&mut headers);
        assert_eq!(key(1).check(&headers), Ok(()));
        let mut moved = headers.clone();
        moved.insert(crate::audit::CLIENT_IP_HEADER, "192.0.2.1".parse().unwrap());
        assert_eq!(key(1).check(&moved), Err(SealError::BadSeal));
        let mut dropped = headers.clone();
        dropped.remove(crate::audit::CLIENT_IP_HEADER);
        assert_eq!(key(1).check(&dropped), Err(SealError::BadSeal));
        let mut added = headers;
        added.insert(crate::audit::USER_AGENT_HEADER, "curl".parse().unwrap());
        assert_eq!(key(1).check(&added), Err(SealError::BadSeal));
    }

    #[test]
    fn scopes_cannot_be_dropped_or_widened() {
        let p = Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user: UserId::parse("apikey:k1").unwrap(),
            roles: vec![Role::System],
            teams: vec![],
            scopes: Some(vec![crate::identity::Permission::read(
                crate::identity::Object::Contacts,
            )]),
            grants: Vec::new(),
        };
        let mut headers = p.request(()).into_parts().0.into_headers();
        key(1).seal(&mut headers);
        assert_eq!(key(1).check(&headers), Ok(()));
        let mut dropped = headers.clone();
        dropped.remove(SCOPES_HEADER);
        assert_eq!(key(1).check(&dropped), Err(SealError::BadSeal));
        let mut widened = headers.clone();
        widened.insert(
            SCOPES_HEADER,
            HeaderValue::from_static("contacts.read,contacts.write"),
        );
        assert_eq!(key(1).check(&widened), Err(SealError::BadSeal));
        let mut added = sealed_headers();
        added.insert(SCOPES_HEADER, HeaderValue::from_static(""));
        assert_eq!(key(1).check(&added), Err(SealError::BadSeal));
    }

    #[test]
    fn grants_cannot_be_added_or_widened() {
        let p = Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user: UserId::parse("dana").unwrap(),
            roles: vec!["deal-desk".parse().unwrap()],
            teams: vec![],
            scopes: None,
            grants: vec![crate::identity::Permission::read(
                crate::identity::Object::Deals,
            )],
        };
        let mut headers = p.request(()).into_parts().0.into_headers();
        key(1).seal(&mut headers);
        assert_eq!(key(1).check(&headers), Ok(()));
        let mut widened = headers.clone();
        widened.insert(
            GRANTS_HEADER,
            HeaderValue::from_static("deals.read,records.view_all"),
        );
        assert_eq!(key(1).check(&widened), Err(SealError::BadSeal));
        let mut added = sealed_headers();
        added.insert(GRANTS_HEADER, HeaderValue::from_static("records.view_all"));
        assert_eq!(key(1).check(&added), Err(SealError::BadSeal));
    }

    #[test]
    fn a_sealed_principal_passes_and_round_trips() {
        let headers = sealed_headers();
        assert_eq!(key(1).check(&headers), Ok(()));
        let md = tonic::metadata::MetadataMap::from_headers(headers);
        assert_eq!(
            Principal::from_metadata(&md).unwrap().roles,
            vec![Role::Rep]
        );
    }

    #[test]
    fn every_sealed_value_is_covered() {
        for (name, forged) in [
            (TENANT_HEADER, "globex"),
            (PRINCIPAL_HEADER, "mallory"),
            (ROLES_HEADER, "admin"),
            (TEAMS_HEADER, "sales"),
            (SEAL_EXPIRES_HEADER, "99999999999"),
        ] {
            let mut headers = sealed_headers();
            headers.insert(name, HeaderValue::from_static(forged));
            assert_eq!(key(1).check(&headers), Err(SealError::BadSeal), "{name}");
        }
        // Dropping the teams (a manager's scope) breaks the seal too.
        let mut headers = sealed_headers();
        headers.remove(TEAMS_HEADER);
        assert_eq!(key(1).check(&headers), Err(SealError::BadSeal));
    }

    #[test]
    fn unsealed_foreign_repeated_and_expired_principals_are_refused() {
        let mut unsealed = sealed_headers();
        unsealed.remove(SEAL_HEADER);
        assert_eq!(key(1).check(&unsealed), Err(SealError::Unsealed));

        assert_eq!(key(2).check(&sealed_headers()), Err(SealError::BadSeal));

        let mut repeated = sealed_headers();
        repeated.append(TENANT_HEADER, HeaderValue::from_static("globex"));
        assert_eq!(
            key(1).check(&repeated),
            Err(SealError::Repeated(TENANT_HEADER))
        );

        // A correctly keyed seal whose expiry has passed.
        let mut old = sealed_headers();
        let expires = (unix_now() - LEEWAY_SECS - 1).to_string();
        let seal =
            URL_SAFE_NO_PAD.encode(key(1).mac(&old, expires.as_bytes()).finalize().into_bytes());
        old.insert(
            SEAL_EXPIRES_HEADER,
            HeaderValue::from_str(&expires).unwrap(),
        );
        old.insert(SEAL_HEADER, HeaderValue::from_str(&seal).unwrap());
        assert_eq!(key(1).check(&old), Err(SealError::Expired));
    }

    #[test]
    fn calls_without_a_principal_need_no_seal() {
        assert_eq!(key(1).check(&HeaderMap::new()), Ok(()));
    }
}
