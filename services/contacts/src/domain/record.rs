//! People and companies: one record type, two kinds.
//!
//! Both kinds share owners, teams, tags, stages, addresses, custom fields,
//! lookups, search, merge and handover, so they share one [`Record`] and one
//! store; the API shows them as `Contact` and `Company`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rapport_platform::identity::TenantId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ContactError;

/// Person or company.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A person (the API's `Contact`).
    Person,
    /// A company.
    Company,
}

impl Kind {
    /// The object its permissions name (`contacts.*`, `companies.*`).
    pub fn object(self) -> rapport_platform::identity::Object {
        match self {
            Kind::Person => rapport_platform::identity::Object::Contacts,
            Kind::Company => rapport_platform::identity::Object::Companies,
        }
    }

    /// `person` or `company`, as in events and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::Company => "company",
        }
    }

    /// Parses [`Kind::as_str`].
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "person" => Some(Kind::Person),
            "company" => Some(Kind::Company),
            _ => None,
        }
    }

    /// The request field that holds a record of this kind.
    pub fn field_prefix(self) -> &'static str {
        match self {
            Kind::Person => "contact",
            Kind::Company => "company",
        }
    }
}

/// A record's id (UUIDv7: time-ordered, so ids sort by creation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordId(Uuid);

impl RecordId {
    /// A new id.
    pub fn generate() -> Self {
        RecordId(Uuid::now_v7())
    }

    /// Parses an id from a request or a row.
    pub fn parse(s: &str) -> Result<Self, ContactError> {
        Uuid::parse_str(s.trim())
            .map(RecordId)
            .map_err(|_| ContactError::InvalidId(s.chars().take(64).collect()))
    }
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Customer lifecycle stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleStage {
    /// Not qualified yet.
    Lead,
    /// Qualified, not bought yet.
    Prospect,
    /// Buys.
    Customer,
    /// Bought, no longer does.
    FormerCustomer,
}

impl LifecycleStage {
    /// Snake-case name, as in events, CSV and indexes.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStage::Lead => "lead",
            LifecycleStage::Prospect => "prospect",
            LifecycleStage::Customer => "customer",
            LifecycleStage::FormerCustomer => "former_customer",
        }
    }

    /// Parses [`LifecycleStage::as_str`] (case-insensitive, `-` or ` ` for `_`).
    pub fn parse(s: &str) -> Option<Self> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "lead" => Some(LifecycleStage::Lead),
            "prospect" => Some(LifecycleStage::Prospect),
            "customer" => Some(LifecycleStage::Customer),
            "former_customer" => Some(LifecycleStage::FormerCustomer),
            _ => None,
        }
    }
}

/// A person's role at a company.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyRole {
    /// Currently employed there.
    WorksAt,
    /// Used to work there.
    FormerEmployee,
    /// Decides purchases there.
    DecisionMaker,
}

/// What a company is to the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyType {
    /// Buys from the tenant.
    Customer,
    /// Sells to the tenant.
    Supplier,
    /// Works with the tenant.
    Partner,
}

impl CompanyType {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CompanyType::Customer => "customer",
            CompanyType::Supplier => "supplier",
            CompanyType::Partner => "partner",
        }
    }
}

/// A person's link to a company.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyLink {
    /// The company's id.
    pub company_id: String,
    /// The person's role there.
    pub role: CompanyRole,
}

/// A postal address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Address {
    /// Street and number.
    pub street: String,
    /// City.
    pub city: String,
    /// Region or state.
    pub region: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country_code: String,
}

impl Address {
    /// No part is set.
    pub fn is_empty(&self) -> bool {
        *self == Address::default()
    }
}

/// The editable fields of a record. Strings are empty when unset; after
/// [`Fields::normalize`](super::validate) every value is in canonical form
/// (E.164 phones, lower-case e-mails, trimmed text).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Fields {
    /// Person: given name.
    pub given_name: String,
    /// Person: family name.
    pub family_name: String,
    /// Person: name to show (derived when empty). Company: its name.
    pub display_name: String,
    /// Primary e-mail.
    pub email: String,
    /// Other e-mails.
    pub additional_emails: Vec<String>,
    /// Primary phone (E.164).
    pub phone: String,
    /// Other phones (E.164).
    pub additional_phones: Vec<String>,
    /// Id in a partner system.
    pub external_id: String,
    /// Person: free-text company name.
    pub company_name: String,
    /// Person: job title.
    pub job_title: String,
    /// Person: linked companies.
    pub companies: Vec<CompanyLink>,
    /// Company: customer, supplier, partner.
    pub company_types: Vec<CompanyType>,
    /// Company: the holding it belongs to.
    pub parent_company_id: String,
    /// Company: web site URL.
    pub website: String,
    /// Owner's user id.
    pub owner: String,
    /// Owning team: a path such as `sales/emea` (managers of `sales` see it).
    pub team: String,
    /// Who else sees the record: `user:<id>` or `team:<path>` entries.
    pub shared_with: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Lifecycle stage.
    pub lifecycle_stage: Option<LifecycleStage>,
    /// Where the record came from.
    pub source_channel: String,
    /// Person: birthday, `YYYY-MM-DD`.
    pub birthday: String,
    /// Postal address.
    pub address: Address,
    /// Custom field values by key (normalised JSON values).
    pub custom_fields: BTreeMap<String, serde_json::Value>,
}

impl Fields {
    /// Every e-mail, primary first.
    pub fn emails(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.email.as_str())
            .chain(self.additional_emails.iter().map(String::as_str))
            .filter(|e| !e.is_empty())
    }

    /// Every phone, primary first.
    pub fn phones(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.phone.as_str())
            .chain(self.additional_phones.iter().map(String::as_str))
            .filter(|p| !p.is_empty())
    }
}

/// What is stored of a record besides its key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordData {
    /// Person or company.
    pub kind: Kind,
    /// The editable fields.
    pub fields: Fields,
    /// Incremented on every change; the etag is derived from it.
    pub version: u64,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// When it last changed.
    pub update_time: DateTime<Utc>,
    /// Who last changed it.
    pub updated_by: String,
    /// Content hashes of the CSV rows that created or updated it, so a
    /// re-run of the same file changes nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub import_hashes: Vec<String>,
}

/// A stored person or company.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The tenant that owns it.
    pub tenant: TenantId,
    /// Its id.
    pub id: RecordId,
    /// Everything else.
    pub data: RecordData,
}

impl Record {
    /// A new record (version 1) of `kind` that `user` creates at `now`.
    pub fn new(
        tenant: TenantId,
        kind: Kind,
        fields: Fields,
        user: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Record {
            tenant,
            id: RecordId::generate(),
            data: RecordData {
                kind,
                fields,
                version: 1,
                create_time: now,
                created_by: user.to_owned(),
                update_time: now,
                updated_by: user.to_owned(),
                import_hashes: Vec::new(),
            },
        }
    }

    /// The etag clients send back to update (AIP-154): the version, quoted.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.data.version)
    }

    /// Whether `etag` (quoted or not; empty means "don't check") matches.
    pub fn etag_matches(&self, etag: &str) -> bool {
        let etag = etag.trim().trim_start_matches("W/").trim_matches('"');
        etag.is_empty() || etag == self.data.version.to_string()
    }

    /// The person or company.
    pub fn kind(&self) -> Kind {
        self.data.kind
    }

    /// Its fields.
    pub fn fields(&self) -> &Fields {
        &self.data.fields
    }
}
