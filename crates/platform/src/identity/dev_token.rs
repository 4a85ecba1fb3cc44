//! Dev tokens: HS256-signed JWTs for monolithic mode and local work.
//!
//! The key is 32 random bytes kept (hex) in a file in the data directory,
//! created on first use with mode 0600. `rapport dev-token` signs with it and
//! the gateway verifies with it. Real deployments use OIDC (the gateway's
//! verifier, another [`Authenticator`]; ADR 0124).

use std::{path::Path, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{
    AuthError, Authenticator, Principal, Role, TeamId, TenantId, UserId,
    key_file::{self, KeyFileError, unix_now},
};

type HmacSha256 = Hmac<Sha256>;

const ISSUER: &str = "rapport-dev";
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The HS256 key that signs and verifies dev tokens.
#[derive(Clone)]
pub struct DevTokenKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for DevTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DevTokenKey(***)")
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    tenant: String,
    roles: Vec<String>,
    /// Team paths; absent in tokens issued before teams existed.
    #[serde(default)]
    teams: Vec<String>,
    iat: u64,
    exp: u64,
}

impl DevTokenKey {
    /// Loads the key from `path`, creating it (0600) if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyFileError> {
        key_file::load_or_create(path).map(|key| DevTokenKey { key })
    }

    /// Loads an existing key file (distributed mode: mounted from a Secret).
    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        key_file::load(path).map(|key| DevTokenKey { key })
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    /// Signs a token for `principal`, valid for `ttl`.
    pub fn issue(&self, principal: &Principal, ttl: Duration) -> String {
        let now = unix_now();
        let claims = Claims {
            iss: ISSUER.into(),
            sub: principal.user.to_string(),
            tenant: principal.tenant.to_string(),
            roles: principal.roles.iter().map(|r| r.as_str().into()).collect(),
            teams: principal.teams.iter().map(|t| t.to_string()).collect(),
            iat: now,
            exp: now + ttl.as_secs(),
        };
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialise"))
        );
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }
}

#[async_trait::async_trait]
impl Authenticator for DevTokenKey {
    async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify(token)
    }
}

impl DevTokenKey {
    /// Verifies a dev token (HS256 under this key) and returns its principal.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(claims), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed("expected three dot-separated parts"));
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| AuthError::Malformed("header is not base64url"))?;
        let header: serde_json::Value = serde_json::from_slice(&header_json)
            .map_err(|_| AuthError::Malformed("header is not JSON"))?;
        // Refuse anything but HS256 (no "alg": "none" downgrade).
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(AuthError::Malformed("unsupported alg"));
        }
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| AuthError::Malformed("signature is not base64url"))?;
        let mut mac = self.mac();
        mac.update(format!("{header_b64}.{claims}").as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| AuthError::BadSignature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(claims)
            .ok()
            .and_then(|c| serde_json::from_slice(&c).ok())
            .ok_or(AuthError::Malformed("claims are not JSON"))?;
        if claims.iss != ISSUER {
            return Err(AuthError::InvalidClaims("unknown issuer".into()));
        }
        if claims.exp <= unix_now() {
            return Err(AuthError::Expired);
        }
        let invalid = |e: super::IdentityError| AuthError::InvalidClaims(e.to_string());
        Ok(Principal {
            tenant: TenantId::parse(&claims.tenant).map_err(invalid)?,
            user: UserId::parse(&claims.sub).map_err(invalid)?,
            roles: claims
                .roles
                .iter()
                .map(|r| r.parse::<Role>())
                .collect::<Result<_, _>>()
                .map_err(invalid)?,
            teams: claims
                .teams
                .iter()
                .map(|t| TeamId::parse(t))
                .collect::<Result<_, _>>()
                .map_err(invalid)?,
            scopes: None,
            grants: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user: UserId::parse("alice").unwrap(),
            roles: vec![Role::Admin],
            teams: vec![TeamId::parse("sales/emea").unwrap()],
            scopes: None,
            grants: Vec::new(),
        }
    }

    #[test]
    fn issued_tokens_verify_and_key_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev-token.key");
        let key = DevTokenKey::load_or_create(&path).unwrap();
        let token = key.issue(&alice(), Duration::from_secs(60));
        let again = DevTokenKey::load_or_create(&path).unwrap();
        assert_eq!(again.verify(&token).unwrap(), alice());
    }

    #[test]
    fn tampered_foreign_and_expired_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = DevTokenKey::load_or_create(&dir.path().join("a")).unwrap();
        let other = DevTokenKey::load_or_create(&dir.path().join("b")).unwrap();
        let token = key.issue(&alice(), Duration::from_secs(60));
        assert_eq!(other.verify(&token), Err(AuthError::BadSignature));

        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims["tenant"] = "globex".into();
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        assert_eq!(key.verify(&parts.join(".")), Err(AuthError::BadSignature));

        let expired = key.issue(&alice(), Duration::ZERO);
        assert_eq!(key.verify(&expired), Err(AuthError::Expired));
        assert!(matches!(key.verify("abc"), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn alg_none_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = DevTokenKey::load_or_create(&dir.path().join("a")).unwrap();
        let token = key.issue(&alice(), Duration::from_secs(60));
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts[1]
        );
        assert!(key.verify(&forged).is_err());
    }
}
