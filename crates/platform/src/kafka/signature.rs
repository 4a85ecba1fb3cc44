//! Signatures of Rapport's own events: the relay signs every record it
//! publishes (topic, key and value) with a key derived from the principal
//! key, and every consumer refuses a record without a valid signature. The
//! topics' envelopes name their tenant, source and principal in plain
//! fields; without the signature anyone able to write to the topics (the
//! shared service credentials, a misconfigured ACL) could publish an
//! erasure or an audit entry that Rapport would take for its own.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::identity::PrincipalKey;

/// The record header that carries the signature.
pub const SIGNATURE_HEADER: &str = "rapport-signature";
/// What a signature of this version starts with.
const VERSION: &str = "v1=";

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks records.
#[derive(Clone)]
pub struct EventSigner {
    key: std::sync::Arc<[u8]>,
}

impl std::fmt::Debug for EventSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSigner(..)")
    }
}

impl EventSigner {
    /// The signer of every service holding `key`.
    pub fn new(key: &PrincipalKey) -> Self {
        EventSigner {
            key: key.derive("event-signature").into(),
        }
    }

    fn mac(&self, topic: &str, key: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        // Lengths first: no two different (topic, key) pairs feed the same bytes.
        for part in [topic.as_bytes(), key.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(payload);
        mac
    }

    /// The signature header value of a record.
    pub fn sign(&self, topic: &str, key: &str, payload: &[u8]) -> String {
        let tag = self.mac(topic, key, payload).finalize().into_bytes();
        format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Whether `signature` (the header's value, if any) signs the record;
    /// compared in constant time.
    pub fn verify(&self, topic: &str, key: &str, payload: &[u8], signature: Option<&str>) -> bool {
        let Some(tag) = signature
            .and_then(|s| s.strip_prefix(VERSION))
            .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
        else {
            return false;
        };
        self.mac(topic, key, payload).verify_slice(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_topic_key_and_value_and_the_key() {
        let signer = EventSigner::new(&PrincipalKey::from_bytes(vec![1; 32]));
        let sig = signer.sign("rapport.contacts.v1", "acme/c1", b"event");
        let ok = |t: &str, k: &str, p: &[u8], s: Option<&str>| signer.verify(t, k, p, s);
        assert!(ok("rapport.contacts.v1", "acme/c1", b"event", Some(&sig)));
        assert!(!ok("rapport.deals.v1", "acme/c1", b"event", Some(&sig)));
        assert!(!ok(
            "rapport.contacts.v1",
            "globex/c1",
            b"event",
            Some(&sig)
        ));
        assert!(!ok("rapport.contacts.v1", "acme/c1", b"evenT", Some(&sig)));
        assert!(!ok("rapport.contacts.v1", "acme/c1", b"event", None));
        assert!(!ok(
            "rapport.contacts.v1",
            "acme/c1",
            b"event",
            Some("v1=AAAA")
        ));
        // The boundary between topic and key is part of what is signed.
        assert!(!ok("rapport.contacts.v1a", "cme/c1", b"event", Some(&sig)));
        let other = EventSigner::new(&PrincipalKey::from_bytes(vec![2; 32]));
        assert!(!other.verify("rapport.contacts.v1", "acme/c1", b"event", Some(&sig)));
    }
}
