//! The contacts service's use cases and its gRPC face.
//!
//! `records`, `search`, `custom_fields`, `imports`, `exports` and `privacy`
//! are the use cases (domain rules + store + events); `grpc` decodes
//! requests into them and encodes their results; `convert` maps types.

mod access;
mod audit;
mod convert;
mod custom_fields;
mod exports;
mod grpc;
mod imports;
mod privacy;
mod records;
mod search;

use std::sync::Arc;

use rapport_platform::{
    LatePeer,
    error::to_status,
    identity::{Object, Permission, Principal, caller_any},
    outbox_relay::OutboxSignal,
};
use rapport_store::StoreError;
use tonic::{Request, Status};

pub use grpc::ContactsGrpc;
pub use search::{Filter, Order, SearchPage, SearchQuery};

use crate::{
    domain::{ContactError, CustomFieldDef, Kind, Region},
    store::{ChangeSet, CommitError, ContactStore},
};

/// Imports one tenant may run at once unless configured.
pub const DEFAULT_MAX_RUNNING_IMPORTS: usize = 2;
/// How long a running import may stay silent before it counts as abandoned.
pub const DEFAULT_ABANDONED_IMPORT_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

/// Error domain in `ErrorInfo`.
const DOMAIN: &str = "contacts.rapport";

/// The contacts service: use cases over a store.
pub struct ContactsApi {
    store: Arc<dyn ContactStore>,
    outbox: OutboxSignal,
    default_region: Region,
    /// Services holding personal data (comms, deals, tasks).
    holders: Arc<Vec<LatePeer>>,
    /// Most imports one tenant may run at once.
    max_running_imports: usize,
    /// A running import silent this long was abandoned.
    abandoned_import_after: std::time::Duration,
}

impl ContactsApi {
    /// An API over `store`; `outbox` wakes the relay after each write;
    /// `holders` are asked for a person's data on export.
    pub fn new(
        store: Arc<dyn ContactStore>,
        outbox: OutboxSignal,
        default_region: Region,
        holders: Vec<LatePeer>,
    ) -> Self {
        ContactsApi {
            store,
            outbox,
            default_region,
            holders: Arc::new(holders),
            max_running_imports: DEFAULT_MAX_RUNNING_IMPORTS,
            abandoned_import_after: DEFAULT_ABANDONED_IMPORT_AFTER,
        }
    }

    /// With at most `n` imports running at once per tenant; one silent for
    /// `abandoned_after` no longer counts.
    pub fn with_import_quota(mut self, n: usize, abandoned_after: std::time::Duration) -> Self {
        self.max_running_imports = n.max(1);
        self.abandoned_import_after = abandoned_after.max(std::time::Duration::from_secs(2));
        self
    }

    /// The tenant's phone region (its setting, else the service default).
    pub async fn region(
        &self,
        tenant: &rapport_platform::identity::TenantId,
    ) -> Result<Region, ContactError> {
        Ok(match self.store.phone_region(tenant).await? {
            Some(code) => Region::parse(&code).unwrap_or(self.default_region),
            None => self.default_region,
        })
    }

    /// Region and custom field definitions for writing `kind`.
    async fn write_context(
        &self,
        tenant: &rapport_platform::identity::TenantId,
        kind: Kind,
    ) -> Result<(Region, Vec<CustomFieldDef>), ContactError> {
        Ok((
            self.region(tenant).await?,
            self.store.custom_fields(tenant, Some(kind)).await?,
        ))
    }

    /// Commits a change set with its audit entries (one per record it
    /// writes) and wakes the relay.
    async fn commit(&self, p: &Principal, mut changes: ChangeSet) -> Result<(), ContactError> {
        let entries = audit::of_changes(p, &changes);
        changes.events.extend(entries);
        self.store
            .commit(&p.tenant, &changes)
            .await
            .map_err(|e| match e {
                CommitError::Conflict(id) => ContactError::Conflict(id.to_string()),
                CommitError::Duplicate { attr, existing, .. } => ContactError::Duplicate {
                    key: attr.to_owned(),
                    existing_id: existing.to_string(),
                },
                CommitError::Store(s) => ContactError::Store(s),
            })?;
        if !changes.events.is_empty() {
            self.outbox.notify();
        }
        Ok(())
    }
}

/// The caller, who must at least be allowed to read people or companies
/// (every method reads); each use case asks for what it does to which.
fn principal<T>(req: &Request<T>) -> Result<Principal, Status> {
    caller_any(
        req.metadata(),
        &[
            Permission::read(Object::Contacts),
            Permission::read(Object::Companies),
        ],
    )
    .map_err(|e| to_status(&e, DOMAIN))
}

fn status(e: ContactError) -> Status {
    to_status(&e, DOMAIN)
}

fn store_status(e: StoreError) -> Status {
    status(e.into())
}
