//! People's bearer tokens from the company's OpenID provider.
//!
//! The provider is found through its discovery document, its signing keys
//! (JWKS) are cached and fetched again when a token names a key id the cache
//! does not have (the provider rotated its keys) or the cache is old. A token
//! must be signed with an asymmetric algorithm of the allow-list by a key
//! the provider publishes, name the configured issuer and audience, and be
//! within its validity (with a small leeway); `alg: none` and HS256 never
//! pass (docs/adr/0124-oidc-tokens.md). Tenant, user, roles and teams come
//! from the configured claims.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header,
    errors::ErrorKind,
    jwk::{JwkSet, PublicKeyUse},
};
use rapport_platform::{
    config::{AuthConfig, OidcClaimsConfig},
    identity::{AuthError, Authenticator, Principal, Role, TeamId, TenantId, UserId},
};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

/// The algorithms a token may be signed with: public-key ones only, so a
/// published key can never be used as an HMAC secret.
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
/// Keys older than this are fetched again on the next lookup.
const MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// At most one fetch this often, however many unknown key ids arrive: a
/// flood of forged tokens must not become a flood of requests to the IdP.
const MIN_REFETCH: Duration = Duration::from_secs(5);
/// How long a request to the provider may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// What the provider's discovery document says that we use.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Discovery {
    issuer: String,
    jwks_uri: String,
    /// Where browsers sign in.
    pub(crate) authorization_endpoint: Option<String>,
    /// Where the gateway exchanges a code for tokens.
    pub(crate) token_endpoint: Option<String>,
}

/// The provider's keys, by key id, with the document that named them.
struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fetched: Instant,
    discovery: Discovery,
}

/// Verifies OIDC bearer tokens of one provider.
pub(crate) struct OidcVerifier {
    issuer: String,
    audience: String,
    claims: OidcClaimsConfig,
    leeway: u64,
    http: reqwest::Client,
    keys: RwLock<Option<Keys>>,
    /// Held while fetching; remembers when the last fetch started.
    fetching: Mutex<Option<Instant>>,
    /// This verifier, for refreshing in the background.
    me: std::sync::Weak<OidcVerifier>,
}

impl OidcVerifier {
    /// A verifier for the configured provider (`auth.oidc_issuer`, already
    /// validated); its keys are fetched on first use.
    pub(crate) fn new(auth: &AuthConfig) -> Option<std::sync::Arc<Self>> {
        let issuer = auth.oidc_issuer.clone()?;
        Some(std::sync::Arc::new_cyclic(|me| OidcVerifier {
            me: me.clone(),
            issuer: issuer.trim_end_matches('/').to_owned(),
            audience: auth.oidc_audience.clone().unwrap_or_default(),
            claims: auth.oidc_claims.clone(),
            leeway: auth.oidc_leeway_seconds,
            http: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .expect("an HTTP client with a timeout"),
            keys: RwLock::new(None),
            fetching: Mutex::new(None),
        }))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, AuthError> {
        let unavailable = |e: reqwest::Error| AuthError::Unavailable(format!("{url}: {e}"));
        self.http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)
    }

    /// Discovery and JWKS, fetched now.
    async fn fetch(&self) -> Result<Keys, AuthError> {
        let discovery: Discovery = self
            .get_json(&format!("{}/.well-known/openid-configuration", self.issuer))
            .await?;
        // A document for another issuer is a misconfiguration (or a
        // spoofed endpoint): none of its keys are trusted.
        if discovery.issuer.trim_end_matches('/') != self.issuer {
            return Err(AuthError::Unavailable(format!(
                "the discovery document names issuer {:?}, not {:?}",
                discovery.issuer, self.issuer
            )));
        }
        let set: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        let discovery = discovery.clone();
        let mut by_kid = HashMap::new();
        for jwk in &set.keys {
            let signing = jwk
                .common
                .public_key_use
                .as_ref()
                .is_none_or(|u| *u == PublicKeyUse::Signature);
            let (Some(kid), true) = (&jwk.common.key_id, signing) else {
                continue;
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    by_kid.insert(kid.clone(), key);
                }
                // An octet key (a shared secret) or a kind we cannot use.
                Err(e) => tracing::debug!(kid, error = %e, "JWKS key skipped"),
            }
        }
        tracing::info!(keys = by_kid.len(), issuer = %self.issuer, "OIDC signing keys fetched");
        Ok(Keys {
            by_kid,
            fetched: Instant::now(),
            discovery,
        })
    }

    /// Fetches the keys unless another caller just did.
    async fn refresh(&self) -> Result<(), AuthError> {
        let mut last = self.fetching.lock().await;
        if last.is_some_and(|t| t.elapsed() < MIN_REFETCH) {
            return Ok(());
        }
        *last = Some(Instant::now());
        let keys = self.fetch().await?;
        *self.keys.write().await = Some(keys);
        Ok(())
    }

    /// The key with `kid`, fetching the provider's keys again if it is
    /// unknown or the cache is old.
    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        {
            let keys = self.keys.read().await;
            if let Some(k) = keys.as_ref()
                && let Some(key) = k.by_kid.get(kid)
            {
                // A known key never waits for the provider: an old cache is
                // refreshed in the background (one fetch at a time, at most
                // every MIN_REFETCH), so a provider that hangs slows no one.
                if k.fetched.elapsed() >= MAX_AGE {
                    self.refresh_in_background();
                }
                return Ok(key.clone());
            }
        }
        let refreshed = self.refresh().await;
        let known = self
            .keys
            .read()
            .await
            .as_ref()
            .and_then(|k| k.by_kid.get(kid).cloned());
        match (known, refreshed) {
            (Some(key), Ok(())) => Ok(key),
            // The provider is down but published this key before: an old
            // cache beats signing everybody out.
            (Some(key), Err(e)) => {
                tracing::warn!(error = %e, "OIDC keys not refreshed; using the cached ones");
                Ok(key)
            }
            (None, Err(e)) => Err(e),
            (None, Ok(())) => Err(AuthError::Refused(format!(
                "the provider publishes no signing key {kid:?}"
            ))),
        }
    }

    /// The provider's discovery document (fetched if not yet).
    pub(crate) async fn discovery(&self) -> Result<Discovery, AuthError> {
        if let Some(k) = self.keys.read().await.as_ref() {
            return Ok(k.discovery.clone());
        }
        self.refresh().await?;
        self.keys
            .read()
            .await
            .as_ref()
            .map(|k| k.discovery.clone())
            .ok_or_else(|| AuthError::Unavailable("no discovery document yet".into()))
    }

    /// The claims of a token for `audience`, once its signature, algorithm,
    /// issuer, audience and validity are checked.
    async fn verified_claims(&self, token: &str, audience: &str) -> Result<Value, AuthError> {
        // `alg: none` (and any name the library does not know) fails here.
        let header = decode_header(token).map_err(|_| {
            AuthError::Refused("the token's header names no allowed algorithm".into())
        })?;
        if !ALLOWED.contains(&header.alg) {
            return Err(AuthError::Refused(format!(
                "algorithm {:?} is not allowed",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Refused("the token names no key id".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer, &format!("{}/", self.issuer)]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        decode::<Value>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidIssuer => AuthError::Refused("issued by another provider".into()),
                ErrorKind::InvalidAudience => {
                    AuthError::Refused("issued for another audience".into())
                }
                ErrorKind::ImmatureSignature => AuthError::Refused("not valid yet".into()),
                ErrorKind::InvalidAlgorithm => {
                    AuthError::Refused("the algorithm does not match the key".into())
                }
                ErrorKind::MissingRequiredClaim(c) => {
                    AuthError::InvalidClaims(format!("missing claim {c}"))
                }
                _ => AuthError::Malformed("not a well-formed JWT"),
            })
    }

    /// The principal of an ID token issued to `client_id` for the sign-in
    /// that sent `nonce` (a replayed ID token of another sign-in fails).
    pub(crate) async fn id_token_principal(
        &self,
        token: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<Principal, AuthError> {
        let claims = self.verified_claims(token, client_id).await?;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(AuthError::Refused(
                "the ID token belongs to another sign-in (nonce)".into(),
            ));
        }
        self.principal(&claims)
    }

    /// Exchanges an authorization code (with its PKCE verifier) at the
    /// provider's token endpoint and returns the ID token.
    pub(crate) async fn exchange_code(
        &self,
        client_id: &str,
        client_secret: &str,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<String, AuthError> {
        #[derive(Deserialize)]
        struct Tokens {
            id_token: Option<String>,
        }
        let endpoint =
            self.discovery().await?.token_endpoint.ok_or_else(|| {
                AuthError::Unavailable("the provider names no token endpoint".into())
            })?;
        let resp = self
            .http
            .post(&endpoint)
            .basic_auth(client_id, Some(client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", verifier),
                ("redirect_uri", redirect_uri),
            ])
            .send()
            .await
            .map_err(|e| AuthError::Unavailable(format!("{endpoint}: {e}")))?;
        let status = resp.status();
        if status.is_client_error() {
            // A code used twice, expired, or a verifier that does not match.
            return Err(AuthError::Refused(format!(
                "the provider refused the sign-in code ({status})"
            )));
        }
        let tokens: Tokens = resp
            .error_for_status()
            .map_err(|e| AuthError::Unavailable(format!("{endpoint}: {e}")))?
            .json()
            .await
            .map_err(|e| AuthError::Unavailable(format!("{endpoint}: {e}")))?;
        tokens
            .id_token
            .ok_or_else(|| AuthError::Refused("the provider returned no ID token".into()))
    }

    /// Fetches the keys in the background, so the first request does not
    /// wait (a provider that is down now is asked again on first use).
    pub(crate) fn prefetch(self: &std::sync::Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.refresh().await {
                tracing::warn!(error = %e, "OIDC keys not fetched yet; retried on first use");
                *me.fetching.lock().await = None;
            }
        });
    }

    /// Refreshes the keys in a task of its own, unless a fetch is running.
    fn refresh_in_background(&self) {
        if self.fetching.try_lock().is_err() {
            return;
        }
        if let Some(me) = self.me.upgrade() {
            tokio::spawn(async move {
                if let Err(e) = me.refresh().await {
                    tracing::warn!(error = %e, "OIDC keys not refreshed; using the cached ones");
                }
            });
        }
    }

    fn principal(&self, claims: &Value) -> Result<Principal, AuthError> {
        let c = &self.claims;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::trim);
        let list = |name: &str| -> Vec<String> {
            match claims.get(name) {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                // Some providers send space-separated lists.
                Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
                _ => Vec::new(),
            }
        };
        let invalid = |what: &str| AuthError::InvalidClaims(what.to_owned());
        let tenant = text(&c.tenant)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid(&format!("no tenant in claim {:?}", c.tenant)))?;
        let user = text(&c.user)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| invalid(&format!("no user in claim {:?}", c.user)))?;
        // Names Rapport gives its own actors are not for people.
        if user.starts_with("system:") || user.starts_with("apikey:") {
            return Err(invalid("the user id is reserved"));
        }
        Ok(Principal {
            tenant: TenantId::parse(tenant).map_err(|e| invalid(&e.to_string()))?,
            user: UserId::parse(user).map_err(|e| invalid(&e.to_string()))?,
            // Names that are not built-in roles are custom ones, which grant
            // nothing unless the tenant defined them (see `roles`); malformed
            // ones (the IdP's own groups) are dropped.
            roles: list(&c.roles)
                .iter()
                .filter_map(|r| r.parse::<Role>().ok())
                .collect(),
            teams: list(&c.teams)
                .iter()
                .map(|t| TeamId::parse(t))
                .collect::<Result<_, _>>()
                .map_err(|e| invalid(&e.to_string()))?,
            scopes: None,
            grants: Vec::new(),
        })
    }
}

#[async_trait]
impl Authenticator for OidcVerifier {
    async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let claims = self.verified_claims(token, &self.audience).await?;
        // An ID token proves a sign-in to the client, it is not an API
        // token: one that names the API's audience (a provider configured
        // with the client id as audience) still is not accepted.
        if claims.get("nonce").is_some() || claims.get("at_hash").is_some() {
            return Err(AuthError::Refused(
                "an ID token is not an access token; send the access token".into(),
            ));
        }
        self.principal(&claims)
    }
}

/// The gateway's bearer tokens: people's OIDC tokens and, in development,
/// dev tokens. Told apart by their algorithm, so an OIDC key is never tried
/// as an HMAC secret and a dev token never reaches the OIDC path.
pub(crate) struct BearerTokens {
    pub(crate) oidc: Option<std::sync::Arc<OidcVerifier>>,
    pub(crate) dev: Option<std::sync::Arc<dyn Authenticator>>,
}

#[async_trait]
impl Authenticator for BearerTokens {
    async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let hs256 = decode_header(token).is_ok_and(|h| h.alg == Algorithm::HS256);
        match (hs256, &self.dev, &self.oidc) {
            (true, Some(dev), _) => dev.authenticate(token).await,
            (false, _, Some(oidc)) => oidc.authenticate(token).await,
            // Only one kind configured: it decides (and explains) alone.
            (_, Some(dev), None) => dev.authenticate(token).await,
            (_, None, Some(oidc)) => oidc.authenticate(token).await,
            (_, None, None) => Err(AuthError::Refused("no sign-in is configured".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rapport_platform::identity::DevTokenKey;
    use serde_json::json;

    use super::*;

    fn verifier() -> Arc<OidcVerifier> {
        let auth = AuthConfig {
            oidc_issuer: Some("https://login.example.com/".into()),
            oidc_audience: Some("https://crm.example.com".into()),
            ..AuthConfig::default()
        };
        OidcVerifier::new(&auth).unwrap()
    }

    /// A provider that accepts connections and never answers.
    async fn hanging_provider() -> (tokio::net::TcpListener, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        (listener, url)
    }

    #[tokio::test]
    async fn a_hanging_provider_does_not_hold_up_requests_with_known_keys() {
        let (_listener, url) = hanging_provider().await;
        let auth = AuthConfig {
            oidc_issuer: Some(url.clone()),
            oidc_audience: Some("https://crm.example.com".into()),
            ..AuthConfig::default()
        };
        let v = OidcVerifier::new(&auth).unwrap();
        *v.keys.write().await = Some(Keys {
            by_kid: HashMap::from([("k1".to_owned(), DecodingKey::from_secret(b"k").unwrap())]),
            // Older than MAX_AGE: due for a refresh.
            fetched: Instant::now() - MAX_AGE - Duration::from_secs(1),
            discovery: Discovery {
                issuer: url.clone(),
                jwks_uri: format!("{url}/jwks"),
                authorization_endpoint: None,
                token_endpoint: None,
            },
        });
        // Many requests while the refresh hangs: each answers at once from
        // the cache (a refresh in the request would wait FETCH_TIMEOUT).
        for _ in 0..20 {
            let answered = tokio::time::timeout(Duration::from_millis(500), v.key("k1")).await;
            assert!(matches!(answered, Ok(Ok(_))), "waited for the provider");
        }
        // One background fetch is running (holding the lock), not twenty.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            v.fetching.try_lock().is_err(),
            "the refresh runs in the background"
        );
    }

    #[test]
    fn claims_become_the_principal_and_other_roles_are_custom_ones() {
        let p = verifier()
            .principal(&json!({
                "sub": "ada", "tenant": "acme",
                "roles": ["manager", "idp-superuser"], "teams": "sales sales/emea"
            }))
            .unwrap();
        assert_eq!((p.tenant.as_str(), p.user.as_str()), ("acme", "ada"));
        // Not a built-in role: a custom one, which grants nothing unless the
        // tenant defined it (the gateway's role resolution drops it).
        assert_eq!(
            p.roles,
            vec![Role::Manager, "idp-superuser".parse().unwrap()]
        );
        assert_eq!(p.teams.len(), 2);
        assert!(matches!(
            verifier().principal(&json!({"sub": "ada"})),
            Err(AuthError::InvalidClaims(_))
        ));
        for reserved in ["system:rapport", "apikey:0193"] {
            assert!(matches!(
                verifier().principal(&json!({"sub": reserved, "tenant": "acme"})),
                Err(AuthError::InvalidClaims(_))
            ));
        }
    }

    #[tokio::test]
    async fn hs256_tokens_go_to_the_dev_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let dev = DevTokenKey::load_or_create(&dir.path().join("dev.key")).unwrap();
        let token = dev.issue(
            &Principal {
                tenant: TenantId::parse("acme").unwrap(),
                user: UserId::parse("alice").unwrap(),
                roles: vec![Role::Admin],
                teams: vec![],
                scopes: None,
                grants: Vec::new(),
            },
            Duration::from_secs(60),
        );
        let with_dev = BearerTokens {
            oidc: Some(verifier()),
            dev: Some(Arc::new(dev)),
        };
        assert_eq!(
            with_dev.authenticate(&token).await.unwrap().user.as_str(),
            "alice"
        );
        // Without a dev key the OIDC verifier refuses HS256 outright: it
        // never asks the provider, never tries a published key as a secret.
        let oidc = verifier();
        let oidc_only = BearerTokens {
            oidc: Some(oidc.clone()),
            dev: None,
        };
        assert!(matches!(
            oidc_only.authenticate(&token).await,
            Err(AuthError::Refused(_))
        ));
        assert!(
            oidc.keys.read().await.is_none(),
            "no fetch for an HS256 token"
        );
    }
}
