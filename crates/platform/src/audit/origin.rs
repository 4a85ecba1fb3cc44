//! From where a request came, carried beside the principal.
//!
//! The gateway records the address it saw a request come from, the
//! `X-Forwarded-For` it was given and the user agent, and every gRPC call
//! made while handling that request carries them in metadata (sealed with
//! the principal, so no client inside the network can make an audit entry
//! name another origin). The gRPC server layer makes them, with the method
//! being served, the task's [`Origin::current`], which is what audit entries
//! record and what outgoing calls forward.

use std::future::Future;

use http::{HeaderMap, HeaderValue};

/// gRPC metadata key of the client address the gateway saw.
pub const CLIENT_IP_HEADER: &str = "x-rapport-client-ip";
/// gRPC metadata key of the `X-Forwarded-For` the gateway was given.
pub const FORWARDED_FOR_HEADER: &str = "x-rapport-forwarded-for";
/// gRPC metadata key of the caller's user agent.
pub const USER_AGENT_HEADER: &str = "x-rapport-user-agent";
/// The origin headers, in the order a seal covers them.
pub const ORIGIN_HEADERS: [&str; 3] = [CLIENT_IP_HEADER, FORWARDED_FOR_HEADER, USER_AGENT_HEADER];

/// Longest value kept: a user agent is rarely over 200 characters, and an
/// audit entry is no place for a client's megabyte header.
const MAX_LEN: usize = 256;

tokio::task_local! {
    static CURRENT: Origin;
}

/// Where a request came from and what it asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The address the gateway saw the request come from.
    pub client_ip: String,
    /// `X-Forwarded-For` as the client or a proxy gave it (unverified).
    pub forwarded_for: String,
    /// The caller's `User-Agent`.
    pub user_agent: String,
    /// The operation being served (the gRPC method, e.g. `UpdateContact`).
    pub operation: String,
}

/// Printable ASCII only (header values and audit entries must stay
/// readable), at most [`MAX_LEN`] characters.
fn clean(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_LEN)
        .collect()
}

/// A header's value, cleaned; empty when absent or not text.
fn header_text(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(clean)
        .unwrap_or_default()
}

impl Origin {
    /// The origin recorded in `headers` (a gRPC call's metadata).
    pub fn from_headers(headers: &HeaderMap) -> Origin {
        let get = |name: &str| header_text(headers, name);
        Origin {
            client_ip: get(CLIENT_IP_HEADER),
            forwarded_for: get(FORWARDED_FOR_HEADER),
            user_agent: get(USER_AGENT_HEADER),
            operation: String::new(),
        }
    }

    /// An origin as the gateway sees an HTTP request.
    pub fn of_http(client_ip: Option<std::net::IpAddr>, headers: &HeaderMap) -> Origin {
        Origin {
            client_ip: client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            forwarded_for: header_text(headers, "x-forwarded-for"),
            user_agent: header_text(headers, http::header::USER_AGENT.as_str()),
            operation: String::new(),
        }
    }

    /// Writes the origin into outgoing metadata, unless the caller already
    /// set one there. Empty parts are left out.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        if ORIGIN_HEADERS.iter().any(|h| headers.contains_key(*h)) {
            return;
        }
        for (name, value) in
            ORIGIN_HEADERS
                .into_iter()
                .zip([&self.client_ip, &self.forwarded_for, &self.user_agent])
        {
            if let Ok(v) = HeaderValue::from_str(&clean(value))
                && !value.is_empty()
            {
                headers.insert(name, v);
            }
        }
    }

    /// The origin of the request this task is serving (empty outside one:
    /// consumers, background jobs).
    pub fn current() -> Origin {
        CURRENT.try_with(Origin::clone).unwrap_or_default()
    }

    /// Runs `work` with this origin as [`Origin::current`].
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CURRENT.scope(self, work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_are_cleaned() {
        let origin = Origin {
            client_ip: "203.0.113.7".into(),
            forwarded_for: "198.51.100.1, 10.0.0.2".into(),
            user_agent: "Mozilla/5.0 (X11)\u{7f}\u{e9}".into(),
            operation: "UpdateContact".into(),
        };
        let mut headers = HeaderMap::new();
        origin.write_headers(&mut headers);
        let back = Origin::from_headers(&headers);
        assert_eq!(back.client_ip, "203.0.113.7");
        assert_eq!(back.forwarded_for, "198.51.100.1, 10.0.0.2");
        assert_eq!(back.user_agent, "Mozilla/5.0 (X11)");
        // The operation is the callee's own method, never forwarded.
        assert_eq!(back.operation, "");
    }

    #[test]
    fn an_origin_already_in_the_metadata_is_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(CLIENT_IP_HEADER, HeaderValue::from_static("192.0.2.1"));
        Origin {
            client_ip: "203.0.113.7".into(),
            ..Origin::default()
        }
        .write_headers(&mut headers);
        assert_eq!(Origin::from_headers(&headers).client_ip, "192.0.2.1");
    }

    #[tokio::test]
    async fn current_is_the_scoped_origin_and_empty_outside() {
        assert_eq!(Origin::current(), Origin::default());
        let origin = Origin {
            operation: "MergeContacts".into(),
            ..Origin::default()
        };
        let seen = origin.clone().scope(async { Origin::current() }).await;
        assert_eq!(seen, origin);
    }
}
