//! Browser sessions after an OIDC sign-in: the browser holds the session as
//! an HttpOnly, Secure, SameSite cookie signed by the gateway (no token ever
//! reaches page scripts or local storage), and every request that changes
//! something carries the session's CSRF token in `X-CSRF-Token`, which a
//! page of another site cannot read (docs/adr/0124-oidc-tokens.md).

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use hmac::{Hmac, Mac};
use rapport_platform::identity::{Principal, Role, TeamId, TenantId, UserId};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

/// The session cookie (HttpOnly).
pub(crate) const SESSION_COOKIE: &str = "__Host-rapport_session";
/// The CSRF token, readable by the frontend's scripts, sent back in
/// [`CSRF_HEADER`].
pub(crate) const CSRF_COOKIE: &str = "__Host-rapport_csrf";
/// The sign-in in progress: state, nonce and PKCE verifier (HttpOnly).
pub(crate) const LOGIN_COOKIE: &str = "__Host-rapport_login";
/// The header unsafe requests of a cookie session carry.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// How long a sign-in may take at the provider.
const LOGIN_TTL: Duration = Duration::from_secs(600);

type HmacSha256 = Hmac<Sha256>;

/// What a session cookie holds.
#[derive(Debug, Serialize, Deserialize)]
struct SessionClaims {
    tenant: String,
    user: String,
    roles: Vec<String>,
    teams: Vec<String>,
    /// The session's id (random): the CSRF token is derived from it.
    sid: String,
    /// Unix seconds.
    exp: i64,
}

/// A sign-in in progress, as the login cookie holds it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct LoginState {
    /// Sent to the provider and expected back on the callback.
    pub(crate) state: String,
    /// Expected in the ID token.
    pub(crate) nonce: String,
    /// The PKCE code verifier (its S256 challenge went to the provider).
    pub(crate) verifier: String,
    /// Where to send the browser afterwards (a path of this site).
    pub(crate) return_to: String,
    exp: i64,
}

/// A signed-in session.
pub(crate) struct Session {
    /// Who.
    pub(crate) principal: Principal,
    /// The session id.
    pub(crate) sid: String,
    /// When it ends (Unix seconds).
    pub(crate) exp: i64,
}

/// A session just created.
pub(crate) struct NewSession {
    /// The session cookie's value.
    pub(crate) cookie: String,
    /// Its CSRF token.
    pub(crate) csrf: String,
    /// The session id inside the cookie.
    pub(crate) sid: String,
    /// When it ends.
    pub(crate) expire_time: chrono::DateTime<Utc>,
}

/// Signs and opens the gateway's cookies.
pub(crate) struct Sessions {
    key: Vec<u8>,
    ttl: Duration,
}

/// 32 random bytes, base64url.
pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The PKCE S256 challenge of `verifier`.
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Sessions {
    /// Cookies signed with `key` (derived from the principal key); sessions
    /// last `ttl`.
    pub(crate) fn new(key: Vec<u8>, ttl: Duration) -> Self {
        Sessions { key, ttl }
    }

    fn mac(&self, kind: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(kind.as_bytes());
        mac.update(b"\n");
        mac
    }

    fn sign(&self, kind: &str, payload: &impl Serialize) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).expect("serialisable"));
        let mut mac = self.mac(kind);
        mac.update(body.as_bytes());
        format!(
            "{body}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// The payload of a value [`Sessions::sign`] made for `kind`, if the
    /// signature holds (compared in constant time).
    fn open<T: DeserializeOwned>(&self, kind: &str, value: &str) -> Option<T> {
        let (body, sig) = value.split_once('.')?;
        let mut mac = self.mac(kind);
        mac.update(body.as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(sig).ok()?).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()
    }

    /// A new session for `p`: the session cookie's value, its CSRF token
    /// and what the gateway records of it.
    pub(crate) fn create(&self, p: &Principal) -> NewSession {
        let claims = SessionClaims {
            tenant: p.tenant.to_string(),
            user: p.user.to_string(),
            roles: p.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            teams: p.teams.iter().map(ToString::to_string).collect(),
            sid: random_token(),
            exp: Utc::now().timestamp() + self.ttl.as_secs() as i64,
        };
        NewSession {
            cookie: self.sign("session", &claims),
            csrf: self.csrf_token(&claims.sid),
            expire_time: chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
            sid: claims.sid,
        }
    }

    /// The session a cookie value holds, unless forged or expired.
    pub(crate) fn open_session(&self, value: &str) -> Option<Session> {
        let c: SessionClaims = self.open("session", value)?;
        if c.exp < Utc::now().timestamp() {
            return None;
        }
        Some(Session {
            principal: Principal {
                tenant: TenantId::parse(&c.tenant).ok()?,
                user: UserId::parse(&c.user).ok()?,
                roles: c
                    .roles
                    .iter()
                    .filter_map(|r| r.parse::<Role>().ok())
                    .collect(),
                teams: c
                    .teams
                    .iter()
                    .map(|t| TeamId::parse(t))
                    .collect::<Result<_, _>>()
                    .ok()?,
                scopes: None,
                grants: Vec::new(),
            },
            sid: c.sid,
            exp: c.exp,
        })
    }

    /// The CSRF token of session `sid`.
    pub(crate) fn csrf_token(&self, sid: &str) -> String {
        let mut mac = self.mac("csrf");
        mac.update(sid.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Whether `token` is session `sid`'s CSRF token (constant time).
    pub(crate) fn csrf_matches(&self, sid: &str, token: &str) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(token.trim()) else {
            return false;
        };
        let mut mac = self.mac("csrf");
        mac.update(sid.as_bytes());
        mac.verify_slice(&given).is_ok()
    }

    /// A sign-in about to start: the login cookie's value and its state.
    pub(crate) fn start_login(&self, return_to: String) -> (String, LoginState) {
        let login = LoginState {
            state: random_token(),
            nonce: random_token(),
            verifier: random_token(),
            return_to,
            exp: Utc::now().timestamp() + LOGIN_TTL.as_secs() as i64,
        };
        (self.sign("login", &login), login)
    }

    /// The sign-in a login cookie holds, unless forged or expired.
    pub(crate) fn open_login(&self, value: &str) -> Option<LoginState> {
        let login: LoginState = self.open("login", value)?;
        (login.exp >= Utc::now().timestamp()).then_some(login)
    }

    /// How long sessions last.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// A `Set-Cookie` value: always Secure and SameSite=Lax (the provider's
/// redirect back is a cross-site navigation that must carry the login
/// cookie); HttpOnly unless scripts must read it (the CSRF token). Names
/// carry the `__Host-` prefix, which browsers accept only with Secure,
/// Path=/ and no Domain: a sibling subdomain cannot set or overwrite them.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    max_age: Duration,
    http_only: bool,
) -> HeaderValue {
    let http_only = if http_only { "; HttpOnly" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={}; Secure; SameSite=Lax{http_only}",
        max_age.as_secs()
    ))
    .expect("cookie values are base64url")
}

/// The value of cookie `name` in a request.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(vec![7; 32], Duration::from_secs(3600))
    }

    fn ada() -> Principal {
        Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user: UserId::parse("ada").unwrap(),
            roles: vec![Role::Manager],
            teams: vec![TeamId::parse("sales/emea").unwrap()],
            scopes: None,
            grants: Vec::new(),
        }
    }

    #[test]
    fn a_session_round_trips_and_cannot_be_edited() {
        let s = sessions();
        let new = s.create(&ada());
        let (cookie, csrf) = (new.cookie, new.csrf);
        let session = s.open_session(&cookie).unwrap();
        assert_eq!(session.sid, new.sid);
        assert_eq!(session.principal, ada());
        assert!(s.csrf_matches(&session.sid, &csrf));
        assert!(!s.csrf_matches(&session.sid, &random_token()));
        // The admin role written into the cookie: the signature fails.
        let (body, sig) = cookie.split_once('.').unwrap();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        claims["roles"] = serde_json::json!(["admin"]);
        let forged = format!(
            "{}.{sig}",
            URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes())
        );
        assert!(s.open_session(&forged).is_none());
        // Another deployment's key, or a login cookie passed off as a
        // session: refused.
        assert!(
            Sessions::new(vec![8; 32], s.ttl())
                .open_session(&cookie)
                .is_none()
        );
        let (login, _) = s.start_login("/".into());
        assert!(s.open_session(&login).is_none());
    }

    #[test]
    fn an_expired_session_is_refused() {
        let s = Sessions::new(vec![7; 32], Duration::ZERO);
        let cookie = s.create(&ada()).cookie;
        std::thread::sleep(Duration::from_millis(1100));
        assert!(s.open_session(&cookie).is_none());
    }

    #[test]
    fn pkce_challenge_is_rfc_7636_s256() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn cookies_are_read_from_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; __Host-rapport_session=xyz".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, CSRF_COOKIE), None);
    }
}
