//! Opaque page tokens (AIP-158).
//!
//! A token is base64url of a version byte followed by backend-specific bytes
//! (a keyset position for SQLite, the driver's paging state for ScyllaDB).
//! Clients must treat it as opaque; the version byte lets the format change
//! without misreading tokens issued by an older release.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::StoreError;

const VERSION: u8 = 1;
/// Tokens longer than this are rejected before decoding (defence against
/// abuse: a real token is well under a kilobyte).
const MAX_ENCODED_LEN: usize = 4096;

/// The position where the next page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageToken(Vec<u8>);

impl PageToken {
    /// Wraps backend position bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        PageToken(bytes)
    }

    /// The backend position bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Encodes the token for a client.
    pub fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(self.0.len() + 1);
        raw.push(VERSION);
        raw.extend_from_slice(&self.0);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Decodes a client's token; an empty string means "first page".
    pub fn decode(token: &str) -> Result<Option<Self>, StoreError> {
        if token.is_empty() {
            return Ok(None);
        }
        if token.len() > MAX_ENCODED_LEN {
            return Err(StoreError::InvalidPageToken);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| StoreError::InvalidPageToken)?;
        match raw.split_first() {
            Some((&VERSION, rest)) => Ok(Some(PageToken(rest.to_vec()))),
            _ => Err(StoreError::InvalidPageToken),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = PageToken::from_bytes(b"2026-01-01|abc".to_vec());
        assert_eq!(PageToken::decode(&t.encode()).unwrap(), Some(t));
    }

    #[test]
    fn empty_means_first_page() {
        assert_eq!(PageToken::decode("").unwrap(), None);
    }

    #[test]
    fn rejects_garbage_and_foreign_versions() {
        assert!(PageToken::decode("!!!").is_err());
        assert!(PageToken::decode(&URL_SAFE_NO_PAD.encode([9u8, 1, 2])).is_err());
        assert!(PageToken::decode(&"A".repeat(MAX_ENCODED_LEN + 1)).is_err());
    }
}
