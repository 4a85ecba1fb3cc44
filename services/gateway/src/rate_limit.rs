//! Rate limits per tenant (and per API key) and route class: one token
//! bucket each.
//!
//! A tenant's burst of exports cannot starve its reads, and one tenant
//! cannot take the gateway from the others. A request over its class's
//! rate is answered 429 with `Retry-After` (whole seconds until a token is
//! back). Buckets live in each gateway replica: with N replicas behind a
//! load balancer a tenant gets up to N times the configured rate.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::http::Method;
use rapport_platform::config::{Rate, RateLimitsConfig};

/// Most buckets kept; past it, full (idle) buckets are dropped.
const MAX_BUCKETS: usize = 100_000;

/// What a request costs the service behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RouteClass {
    /// Gets, lists, searches, lookups.
    Read,
    /// Creates, updates, merges, interactions.
    Write,
    /// Imports, exports and hand-overs: a request that moves many records.
    Bulk,
}

impl RouteClass {
    /// The class of a request.
    pub(crate) fn of(method: &Method, path: &str) -> RouteClass {
        let reads = method == Method::GET || method == Method::HEAD;
        if !reads
            && (path.starts_with("/v1/imports")
                || path.starts_with("/v1/exports")
                || path.ends_with(":reassign-owner"))
        {
            RouteClass::Bulk
        } else if reads || path.ends_with(":search") || path.ends_with(":lookup") {
            RouteClass::Read
        } else {
            RouteClass::Write
        }
    }

    fn name(self) -> &'static str {
        match self {
            RouteClass::Read => "read",
            RouteClass::Write => "write",
            RouteClass::Bulk => "bulk",
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limits of one gateway process.
#[derive(Debug)]
pub(crate) struct RateLimits {
    config: RateLimitsConfig,
    buckets: Mutex<HashMap<(String, RouteClass), Bucket>>,
}

/// A request over its rate: when to try again.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Limited {
    /// The class whose bucket is empty.
    pub(crate) class: &'static str,
    /// Whole seconds until a token is back (at least 1).
    pub(crate) retry_after: u64,
}

impl RateLimits {
    pub(crate) fn new(config: RateLimitsConfig) -> Self {
        RateLimits {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn rate(&self, class: RouteClass) -> &Rate {
        match class {
            RouteClass::Read => &self.config.read,
            RouteClass::Write => &self.config.write,
            RouteClass::Bulk => &self.config.bulk,
        }
    }

    /// Takes a token from the bucket of `subject` (a tenant, or an API
    /// key) for `class`, or says how long until there is one. A rate of 0
    /// per second is no limit.
    pub(crate) fn charge(
        &self,
        subject: &str,
        class: RouteClass,
        now: Instant,
    ) -> Result<(), Limited> {
        let rate = self.rate(class);
        if rate.per_second <= 0.0 {
            return Ok(());
        }
        let burst = f64::from(rate.burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|(_, c), b| {
                let r = self.rate(*c);
                b.tokens + now.duration_since(b.at).as_secs_f64() * r.per_second
                    < f64::from(r.burst.max(1))
            });
        }
        let bucket = buckets
            .entry((subject.to_owned(), class))
            .or_insert(Bucket {
                tokens: burst,
                at: now,
            });
        let refilled = now.saturating_duration_since(bucket.at).as_secs_f64() * rate.per_second;
        bucket.tokens = (bucket.tokens + refilled).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / rate.per_second);
            Err(Limited {
                class: class.name(),
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: f64, burst: u32) -> RateLimits {
        let rate = Rate { per_second, burst };
        RateLimits::new(RateLimitsConfig {
            read: rate.clone(),
            write: rate.clone(),
            bulk: rate,
        })
    }

    #[test]
    fn a_burst_passes_then_waits_for_the_refill() {
        let l = limits(2.0, 3);
        let acme = "acme";
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.charge(acme, RouteClass::Write, t0).is_ok());
        }
        assert_eq!(
            l.charge(acme, RouteClass::Write, t0),
            Err(Limited {
                class: "write",
                retry_after: 1
            })
        );
        // Half a second brings back one token at 2 per second.
        assert!(
            l.charge(acme, RouteClass::Write, t0 + Duration::from_millis(500))
                .is_ok()
        );
        assert!(
            l.charge(acme, RouteClass::Write, t0 + Duration::from_millis(500))
                .is_err()
        );
    }

    #[test]
    fn tenants_and_classes_have_their_own_buckets() {
        let l = limits(0.1, 1);
        let (acme, globex) = ("acme", "globex");
        let t0 = Instant::now();
        assert!(l.charge(acme, RouteClass::Bulk, t0).is_ok());
        let limited = l.charge(acme, RouteClass::Bulk, t0).unwrap_err();
        assert_eq!(limited.retry_after, 10);
        assert!(l.charge(acme, RouteClass::Read, t0).is_ok());
        assert!(l.charge(globex, RouteClass::Bulk, t0).is_ok());
    }

    #[test]
    fn zero_means_unlimited() {
        let l = limits(0.0, 0);
        let acme = "acme";
        for _ in 0..10_000 {
            assert!(l.charge(acme, RouteClass::Read, Instant::now()).is_ok());
        }
    }

    #[test]
    fn routes_fall_into_their_classes() {
        assert_eq!(
            RouteClass::of(&Method::GET, "/v1/contacts/x"),
            RouteClass::Read
        );
        assert_eq!(
            RouteClass::of(&Method::POST, "/v1/contacts:search"),
            RouteClass::Read
        );
        assert_eq!(
            RouteClass::of(&Method::POST, "/v1/contacts"),
            RouteClass::Write
        );
        assert_eq!(
            RouteClass::of(&Method::PUT, "/v1/imports/x/data"),
            RouteClass::Bulk
        );
        assert_eq!(
            RouteClass::of(&Method::POST, "/v1/exports"),
            RouteClass::Bulk
        );
        // Watching an import's progress is a read.
        assert_eq!(
            RouteClass::of(&Method::GET, "/v1/imports/x"),
            RouteClass::Read
        );
        assert_eq!(
            RouteClass::of(&Method::POST, "/v1/contacts:reassign-owner"),
            RouteClass::Bulk
        );
    }
}
