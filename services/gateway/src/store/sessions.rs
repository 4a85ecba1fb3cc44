//! Browser sessions as the gateway records them: one row per sign-in, so a
//! session can be ended on the server (sign-out, an admin, "sign out
//! everywhere") and not only by the browser dropping its cookie.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::identity::{TenantId, UserId};
use rapport_store::{OutboxMessage, StoreError};

/// A recorded sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    /// Whose.
    pub tenant: TenantId,
    /// Who signed in.
    pub user: UserId,
    /// A digest of the cookie's session id (never the id itself).
    pub id: String,
    /// When they signed in.
    pub create_time: DateTime<Utc>,
    /// When the cookie expires.
    pub expire_time: DateTime<Utc>,
    /// When it was ended on the server; an ended session authenticates nothing.
    pub revoke_time: Option<DateTime<Utc>>,
    /// The browser's `User-Agent`, to tell sessions apart.
    pub user_agent: String,
    /// The address it signed in from.
    pub address: String,
}

impl StoredSession {
    /// Whether it still authenticates requests at `now`.
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        self.revoke_time.is_none() && self.expire_time > now
    }
}

/// Storage of sessions, scoped by tenant and user.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Records a sign-in with its audit entry (and forgets the user's
    /// sessions that have expired).
    async fn create_session(
        &self,
        session: &StoredSession,
        audit: &OutboxMessage,
    ) -> Result<(), StoreError>;
    /// The user's session `id`, if recorded and not yet expired away.
    async fn session(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &str,
    ) -> Result<Option<StoredSession>, StoreError>;
    /// The user's sessions that have not expired, newest first.
    async fn sessions(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Vec<StoredSession>, StoreError>;
    /// Ends the user's live sessions among `ids` at `at`, each with its
    /// audit entry (`audits[i]` for `ids[i]`), and returns the ids it ended;
    /// sessions already ended keep their first revoke time.
    async fn revoke_sessions(
        &self,
        tenant: &TenantId,
        user: &UserId,
        ids: &[String],
        at: DateTime<Utc>,
        audits: &[OutboxMessage],
    ) -> Result<Vec<String>, StoreError>;
}
