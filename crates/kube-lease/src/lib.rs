//! [`Leases`] kept as Kubernetes `coordination.k8s.io/v1` `Lease` objects:
//! one object per lease name, in one namespace, for distributed mode.
//!
//! # How a replica holds a lease
//!
//! Renewing happens inside [`Lease::held`], not in a background task. The
//! job that asks (the outbox relay) asks before every round, so asking is
//! the heartbeat: there is no task to start, stop or leak, and a replica that
//! stops asking (job stopped, round stuck) stops renewing and lets another
//! take over, which is what we want anyway. The price: `duration` must be
//! longer than the longest gap between two questions (a round plus the
//! relay's pauses, about 10 s at worst today); 30 s leaves room.
//!
//! - Between renewals `held` answers from memory: it talks to the API server
//!   once a third of `duration` has passed since the last write, so asking
//!   before every round costs nothing.
//! - Every write is a compare-and-swap: create (POST) when the object is
//!   missing, otherwise replace (PUT) carrying the `resourceVersion` last
//!   read. A conflict (409) means another replica wrote first: not held.
//! - Another replica's lease has expired once its `renewTime` (else
//!   `acquireTime`) plus `leaseDurationSeconds` is past by this node's wall
//!   clock; then it is taken over and `leaseTransitions` goes up by one.
//! - Our own claim lapses by our monotonic clock, `duration` after the last
//!   successful write was *sent* (so network delay only shortens it). When
//!   the API server cannot be reached, or does not answer within a third of
//!   `duration`, `held` goes on saying `true` only until that instant and
//!   never beyond: a replica cut off from the API server stops by the time
//!   another may take over, give or take the clock skew between nodes, which
//!   the overlap tolerance described in [`rapport_platform::lease`] covers.
//!
//! Not the `kube-lease-manager` crate: its `watch()` keeps reporting `true`
//! while renewals fail (errors are only logged and retried), and its
//! `changed()` waits until the state changes instead of answering now, so
//! neither can answer `held` honestly.
//!
//! The service account needs `get`, `create` and `update` on `leases`
//! (group `coordination.k8s.io`) in its namespace. Leases are not released on
//! shutdown (the trait has no such call): a successor takes over once
//! `duration` has passed.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use k8s_openapi::{
    api::coordination::v1::{Lease as LeaseObject, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::{SignedDuration, Timestamp},
};
use kube::{Api, Client, api::PostParams};
use rapport_platform::lease::{Lease, Leases};
use tokio::time::Instant;

/// Where this pod's name is found, first choice first: `POD_NAME` is set
/// from the downward API (`metadata.name`); Kubernetes sets `HOSTNAME` to
/// the pod's name unless the pod spec overrides the hostname.
const IDENTITY_VARS: [&str; 2] = ["POD_NAME", "HOSTNAME"];

/// Renew once a third of the duration has passed: two more tries remain
/// before the claim lapses. Also the longest one exchange may take.
const RENEW_DIVISOR: u32 = 3;

/// Least pause after an exchange that failed or found the lease taken, so a
/// caller asking in a tight loop cannot flood the API server.
const PAUSE: Duration = Duration::from_secs(1);

/// The identity to hold leases under: this pod's name from `POD_NAME`, else
/// `HOSTNAME`; `None` when neither is set.
pub fn pod_identity() -> Option<String> {
    identity_from(|var| std::env::var(var).ok())
}

fn identity_from(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    IDENTITY_VARS
        .into_iter()
        .filter_map(lookup)
        .map(|value| value.trim().to_owned())
        .find(|value| !value.is_empty())
}

/// Hands out leases kept as `Lease` objects in one namespace, all held under
/// one identity.
pub struct KubeLeases {
    api: Api<LeaseObject>,
    namespace: String,
    identity: String,
    duration: Duration,
    /// One handle per name: two handles of one identity would race each
    /// other's writes and lose the lease to their own conflicts.
    leases: Mutex<HashMap<String, Arc<dyn Lease>>>,
}

impl KubeLeases {
    /// Leases in `namespace`, held as `identity` (this pod's name, see
    /// [`pod_identity`]); a lease stays valid for `duration` after its last
    /// renewal. `duration` is at least a second; the object records it in
    /// whole seconds, rounded up.
    pub fn new(client: Client, namespace: String, identity: String, duration: Duration) -> Self {
        Self {
            api: Api::namespaced(client, &namespace),
            namespace,
            identity,
            duration: duration.max(Duration::from_secs(1)),
            leases: Mutex::new(HashMap::new()),
        }
    }
}

impl fmt::Debug for KubeLeases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeLeases")
            .field("namespace", &self.namespace)
            .field("identity", &self.identity)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

impl Leases for KubeLeases {
    fn lease(&self, name: &str) -> Arc<dyn Lease> {
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        leases
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(KubeLease {
                    api: self.api.clone(),
                    name: name.to_owned(),
                    identity: self.identity.clone(),
                    duration: self.duration,
                    claim: tokio::sync::Mutex::new(Claim::default()),
                })
            })
            .clone()
    }
}

/// One `Lease` object as this replica sees it.
struct KubeLease {
    api: Api<LeaseObject>,
    name: String,
    identity: String,
    duration: Duration,
    claim: tokio::sync::Mutex<Claim>,
}

/// What this replica knows of its own claim on one lease.
#[derive(Default)]
struct Claim {
    /// The claim lapses at this instant; `None`: not ours.
    until: Option<Instant>,
    /// No exchange with the API server before this instant.
    quiet_until: Option<Instant>,
    /// The object as our last write returned it: its `resourceVersion` lets
    /// the next renewal skip the read. `None`: read it first.
    object: Option<Box<LeaseObject>>,
}

/// What one exchange with the API server found.
enum Outcome {
    /// Our write went through; it was sent at `sent`.
    Ours {
        object: Box<LeaseObject>,
        sent: Instant,
    },
    /// Another replica holds the lease, or wrote first.
    Theirs,
}

impl fmt::Debug for KubeLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeLease")
            .field("name", &self.name)
            .field("identity", &self.identity)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Lease for KubeLease {
    async fn held(&self) -> bool {
        // One exchange at a time; a caller that waited here reads its result.
        let mut claim = self.claim.lock().await;
        if claim.quiet_until.is_none_or(|t| Instant::now() >= t) {
            let limit = self.duration / RENEW_DIVISOR;
            let pause = PAUSE.min(limit);
            match tokio::time::timeout(limit, self.exchange(claim.object.take())).await {
                Ok(Ok(Outcome::Ours { object, sent })) => {
                    if claim.until.is_none() {
                        tracing::info!(lease = %self.name, identity = %self.identity, "lease acquired");
                    }
                    claim.until = Some(sent + self.duration);
                    claim.quiet_until = Some(sent + limit);
                    claim.object = Some(object);
                }
                Ok(Ok(Outcome::Theirs)) => {
                    if claim.until.take().is_some() {
                        tracing::warn!(lease = %self.name, identity = %self.identity, "lease lost to another replica");
                    }
                    claim.quiet_until = Some(Instant::now() + pause);
                }
                // The claim, if any, stands until it lapses; the object is
                // re-read next time, in case a write we lost track of landed.
                Ok(Err(error)) => {
                    tracing::warn!(lease = %self.name, %error, "lease request to the API server failed");
                    claim.quiet_until = Some(Instant::now() + pause);
                }
                Err(_) => {
                    tracing::warn!(lease = %self.name, ?limit, "the API server did not answer in time for a lease");
                    claim.quiet_until = Some(Instant::now() + pause);
                }
            }
        }
        let held = claim.until.is_some_and(|until| Instant::now() < until);
        if !held && claim.until.take().is_some() {
            tracing::warn!(lease = %self.name, identity = %self.identity, "lease lapsed without renewal");
        }
        held
    }
}

impl KubeLease {
    /// Reads the object unless `known` (our last write) is given, then
    /// creates, renews or takes it over, or leaves it to its holder.
    async fn exchange(&self, known: Option<Box<LeaseObject>>) -> kube::Result<Outcome> {
        let mut object = match known {
            Some(object) => *object,
            None => match self.api.get_opt(&self.name).await? {
                Some(object) => object,
                None => return self.create().await,
            },
        };
        let now = Timestamp::now();
        let spec = object.spec.get_or_insert_with(LeaseSpec::default);
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !ours {
            if !self.lapsed(spec, now) {
                return Ok(Outcome::Theirs);
            }
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        spec.renew_time = Some(MicroTime(now));
        spec.lease_duration_seconds = Some(self.duration_secs());
        // `object` carries the resourceVersion read: the server refuses the
        // write with 409 if anyone wrote in between.
        let sent = Instant::now();
        written(
            self.api
                .replace(&self.name, &PostParams::default(), &object)
                .await,
            sent,
        )
    }

    async fn create(&self) -> kube::Result<Outcome> {
        let now = MicroTime(Timestamp::now());
        let object = LeaseObject {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(self.duration_secs()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        let sent = Instant::now();
        written(self.api.create(&PostParams::default(), &object).await, sent)
    }

    /// Whether the lease is free to take: no holder, or its holder's last
    /// renewal is older than the duration it promised.
    fn lapsed(&self, spec: &LeaseSpec, now: Timestamp) -> bool {
        if spec.holder_identity.as_deref().is_none_or(str::is_empty) {
            return true;
        }
        // A holder that never wrote a time gives no sign of life.
        let Some(MicroTime(renewed)) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())
        else {
            return true;
        };
        let secs = spec
            .lease_duration_seconds
            .unwrap_or_else(|| self.duration_secs());
        now.duration_since(*renewed) >= SignedDuration::from_secs(i64::from(secs))
    }

    /// The duration in whole seconds, rounded up so others never see a
    /// shorter lease than the one we keep.
    fn duration_secs(&self) -> i32 {
        let secs = self.duration.as_secs() + u64::from(self.duration.subsec_nanos() > 0);
        i32::try_from(secs).unwrap_or(i32::MAX)
    }
}

fn written(result: kube::Result<LeaseObject>, sent: Instant) -> kube::Result<Outcome> {
    match result {
        Ok(object) => Ok(Outcome::Ours {
            object: Box::new(object),
            sent,
        }),
        // Another replica wrote first: AlreadyExists on create, Conflict on
        // replace (both 409).
        Err(kube::Error::Api(status)) if status.is_conflict() || status.is_already_exists() => {
            Ok(Outcome::Theirs)
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn identity_prefers_pod_name_then_hostname() {
        let both = [("POD_NAME", "contacts-0"), ("HOSTNAME", "host")];
        assert_eq!(identity_from(env(&both)).as_deref(), Some("contacts-0"));
        let blank_pod_name = [("POD_NAME", " "), ("HOSTNAME", "contacts-1")];
        assert_eq!(
            identity_from(env(&blank_pod_name)).as_deref(),
            Some("contacts-1")
        );
        assert_eq!(identity_from(env(&[])), None);
    }
}
