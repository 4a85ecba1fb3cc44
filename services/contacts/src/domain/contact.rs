//! The contact entity and the rules for creating one.

use chrono::{DateTime, Utc};
use rapport_platform::{
    error::{ErrorCode, FieldViolation, ServiceError},
    identity::{TenantId, UserId},
};
use uuid::Uuid;

use super::Email;

/// Longest accepted name or company (characters).
const MAX_NAME: usize = 200;
/// Phone numbers: digits with common separators, 5 to 20 digits (E.164
/// normalisation comes with the full contacts issue).
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 5..=20;

/// A contact's id (UUIDv7: time-ordered, so inserts stay local in indexes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContactId(Uuid);

impl ContactId {
    /// A new id.
    pub fn generate() -> Self {
        ContactId(Uuid::now_v7())
    }

    /// Parses an id from a request or a row.
    pub fn parse(s: &str) -> Result<Self, ContactError> {
        Uuid::parse_str(s)
            .map(ContactId)
            .map_err(|_| ContactError::InvalidId(s.chars().take(64).collect()))
    }
}

impl std::fmt::Display for ContactId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// The tenant that owns it.
    pub tenant: TenantId,
    /// Its id.
    pub id: ContactId,
    /// Given (first) name.
    pub given_name: String,
    /// Family (last) name.
    pub family_name: String,
    /// Name to show.
    pub display_name: String,
    /// Normalised e-mail.
    pub email: Option<Email>,
    /// Phone as given, trimmed.
    pub phone: Option<String>,
    /// Company name.
    pub company_name: String,
    /// Incremented on every change; the etag is derived from it.
    pub version: u64,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// Who created it.
    pub created_by: UserId,
    /// When it last changed.
    pub update_time: DateTime<Utc>,
    /// Who last changed it.
    pub updated_by: UserId,
}

impl Contact {
    /// The etag clients send back to update (AIP-154): the version, quoted.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}

/// What a caller asks to create, before validation.
#[derive(Clone, Debug, Default)]
pub struct ContactDraft {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Display name; derived from the names when empty.
    pub display_name: String,
    /// E-mail, empty for none.
    pub email: String,
    /// Phone, empty for none.
    pub phone: String,
    /// Company name.
    pub company_name: String,
}

/// What can go wrong with contacts.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    /// Fields of the request are invalid.
    #[error("invalid contact: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// The id is not a contact id.
    #[error("invalid contact id {0:?}")]
    InvalidId(String),
    /// No such contact for this tenant.
    #[error("contact {0} not found")]
    NotFound(String),
    /// The caller's identity is missing or invalid.
    #[error("{0}")]
    Unauthenticated(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] rapport_store::StoreError),
}

impl ServiceError for ContactError {
    fn code(&self) -> ErrorCode {
        match self {
            ContactError::Invalid(_) | ContactError::InvalidId(_) => ErrorCode::InvalidArgument,
            ContactError::NotFound(_) => ErrorCode::NotFound,
            ContactError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ContactError::Store(rapport_store::StoreError::Unavailable(_)) => {
                ErrorCode::Unavailable
            }
            ContactError::Store(_) => ErrorCode::Internal,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            ContactError::Invalid(_) => "INVALID_CONTACT",
            ContactError::InvalidId(_) => "INVALID_CONTACT_ID",
            ContactError::NotFound(_) => "CONTACT_NOT_FOUND",
            ContactError::Unauthenticated(_) => "UNAUTHENTICATED",
            ContactError::Store(_) => "STORE_FAILURE",
        }
    }

    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            ContactError::Invalid(v) => v.clone(),
            ContactError::InvalidId(_) => vec![FieldViolation::new("id", "not a contact id")],
            _ => Vec::new(),
        }
    }
}

impl ContactDraft {
    /// Validates the draft and builds the contact `user` creates now.
    /// Reports every invalid field at once.
    pub fn validate(
        self,
        tenant: TenantId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Contact, ContactError> {
        let mut violations = Vec::new();
        let given_name = self.given_name.trim().to_owned();
        let family_name = self.family_name.trim().to_owned();
        let mut display_name = self.display_name.trim().to_owned();
        let company_name = self.company_name.trim().to_owned();
        for (field, value) in [
            ("contact.given_name", &given_name),
            ("contact.family_name", &family_name),
            ("contact.display_name", &display_name),
            ("contact.company_name", &company_name),
        ] {
            if value.chars().count() > MAX_NAME {
                violations.push(FieldViolation::new(
                    field,
                    format!("longer than {MAX_NAME} characters"),
                ));
            }
            if value.chars().any(char::is_control) {
                violations.push(FieldViolation::new(field, "contains control characters"));
            }
        }
        if display_name.is_empty() {
            display_name = [given_name.as_str(), family_name.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
        }
        if display_name.is_empty() {
            violations.push(FieldViolation::new(
                "contact.given_name",
                "a contact needs a given_name, family_name or display_name",
            ));
        }
        let email = match self.email.trim() {
            "" => None,
            e => match Email::parse(e) {
                Ok(e) => Some(e),
                Err(err) => {
                    violations.push(FieldViolation::new(
                        "contact.email",
                        format!("not a valid e-mail address: {err}"),
                    ));
                    None
                }
            },
        };
        let phone = match self.phone.trim() {
            "" => None,
            p => {
                let digits = p.chars().filter(char::is_ascii_digit).count();
                let allowed = p.chars().enumerate().all(|(i, c)| {
                    c.is_ascii_digit() || " -().".contains(c) || (i == 0 && c == '+')
                });
                if !allowed || !PHONE_DIGITS.contains(&digits) {
                    violations.push(FieldViolation::new(
                        "contact.phone",
                        "not a phone number (5 to 20 digits, optional leading +)",
                    ));
                }
                Some(p.to_owned())
            }
        };
        if !violations.is_empty() {
            return Err(ContactError::Invalid(violations));
        }
        Ok(Contact {
            tenant,
            id: ContactId::generate(),
            given_name,
            family_name,
            display_name,
            email,
            phone,
            company_name,
            version: 1,
            create_time: now,
            created_by: user.clone(),
            update_time: now,
            updated_by: user,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(draft: ContactDraft) -> Result<Contact, ContactError> {
        draft.validate(
            TenantId::parse("acme").unwrap(),
            UserId::parse("alice").unwrap(),
            Utc::now(),
        )
    }

    #[test]
    fn derives_display_name_and_normalises_email() {
        let c = create(ContactDraft {
            given_name: " Ada ".into(),
            family_name: "Lovelace".into(),
            email: "ADA@Example.com".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.display_name, "Ada Lovelace");
        assert_eq!(c.email.unwrap().as_str(), "ada@example.com");
        assert_eq!(c.version, 1);
    }

    #[test]
    fn reports_every_invalid_field() {
        let err = create(ContactDraft {
            email: "not-an-email".into(),
            phone: "call me".into(),
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<String> = err
            .field_violations()
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            ["contact.given_name", "contact.email", "contact.phone"]
        );
    }

    #[test]
    fn accepts_international_names_and_phones() {
        let c = create(ContactDraft {
            given_name: "রবীন্দ্রনাথ".into(),
            family_name: "ঠাকুর".into(),
            phone: "+91 (33) 2555-1234".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.display_name, "রবীন্দ্রনাথ ঠাকুর");
    }

    #[test]
    fn ids_parse_only_uuids() {
        assert!(ContactId::parse("not-a-uuid").is_err());
        let id = ContactId::generate();
        assert_eq!(ContactId::parse(&id.to_string()).unwrap(), id);
    }
}
