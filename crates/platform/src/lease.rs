//! Leases: which replica of a service runs a job that must run once at a
//! time (the outbox relay; the scheduler of tasks reuses it).
//!
//! A [`Lease`] says whether this replica holds it right now. In monolithic
//! mode there is one process, so [`AlwaysHeld`]; in distributed mode the
//! `rapport-kube-lease` crate holds a Kubernetes `Lease` object per name.
//! Holding a lease is not a fence: a replica that lost it may finish the
//! round it started, so what the job does must stay correct when two
//! replicas overlap briefly (the relay publishes each key in order and
//! consumers drop repeats, so an overlap only duplicates).

use std::sync::Arc;

use async_trait::async_trait;

/// One named lease as one replica sees it.
#[async_trait]
pub trait Lease: Send + Sync + std::fmt::Debug + 'static {
    /// Whether this replica holds the lease now, acquiring or renewing it
    /// as needed. Cheap enough to ask before every round of a job.
    async fn held(&self) -> bool;
}

/// Hands out the leases of one process.
pub trait Leases: Send + Sync + std::fmt::Debug + 'static {
    /// The lease called `name` (e.g. `rapport-contacts-outbox-relay`).
    fn lease(&self, name: &str) -> Arc<dyn Lease>;
}

/// The only replica: every lease is always held (monolithic mode).
#[derive(Clone, Copy, Debug, Default)]
pub struct AlwaysHeld;

#[async_trait]
impl Lease for AlwaysHeld {
    async fn held(&self) -> bool {
        true
    }
}

impl Leases for AlwaysHeld {
    fn lease(&self, _name: &str) -> Arc<dyn Lease> {
        Arc::new(AlwaysHeld)
    }
}
