//! Postal addresses in REST.

use rapport_proto::contacts::v1 as pb;
use serde::{Deserialize, Serialize};

use super::non_empty;

/// An address in a request; `null` or `""` leaves a part empty.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddressInput {
    street: Option<String>,
    city: Option<String>,
    region: Option<String>,
    postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    country_code: Option<String>,
}

impl AddressInput {
    /// The proto address.
    pub(crate) fn into_proto(self) -> pb::PostalAddress {
        pb::PostalAddress {
            street: self.street.unwrap_or_default(),
            city: self.city.unwrap_or_default(),
            region: self.region.unwrap_or_default(),
            postal_code: self.postal_code.unwrap_or_default(),
            country_code: self.country_code.unwrap_or_default(),
        }
    }
}

/// An address as REST returns it; empty parts are `null`.
#[derive(Debug, Serialize)]
pub(crate) struct AddressJson {
    street: Option<String>,
    city: Option<String>,
    region: Option<String>,
    postal_code: Option<String>,
    country_code: Option<String>,
}

/// The REST address, or `None` when the record has none.
pub(crate) fn address_json(a: Option<pb::PostalAddress>) -> Option<AddressJson> {
    let a = a?;
    if a == pb::PostalAddress::default() {
        return None;
    }
    Some(AddressJson {
        street: non_empty(a.street),
        city: non_empty(a.city),
        region: non_empty(a.region),
        postal_code: non_empty(a.postal_code),
        country_code: non_empty(a.country_code),
    })
}
