//! Interactions: one call, e-mail, message, meeting or note with a contact.

use chrono::{DateTime, Duration, Utc};
use rapport_platform::{
    error::{ErrorCode, FieldViolation, ServiceError},
    identity::{TenantId, UserId},
};
use uuid::Uuid;

/// Longest summary accepted (characters).
const MAX_SUMMARY: usize = 4000;
/// How far in the future `occurred_at` may be: clocks drift and meetings
/// get logged ahead, but a year ahead is a typo.
const MAX_FUTURE_DAYS: i64 = 366;

/// An interaction id (UUIDv7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InteractionId(pub Uuid);

impl InteractionId {
    /// A new id.
    pub fn generate() -> Self {
        InteractionId(Uuid::now_v7())
    }
}

impl std::fmt::Display for InteractionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// How the interaction happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// A phone call.
    Call,
    /// An e-mail.
    Email,
    /// A text message.
    Sms,
    /// A messenger chat.
    Messenger,
    /// A meeting.
    Meeting,
    /// An internal note.
    Note,
    /// A web-form submission.
    WebForm,
}

impl Channel {
    /// Every channel, in the order of the proto enum.
    pub const ALL: [Channel; 7] = [
        Channel::Call,
        Channel::Email,
        Channel::Sms,
        Channel::Messenger,
        Channel::Meeting,
        Channel::Note,
        Channel::WebForm,
    ];

    /// Lower-case name used in events, REST and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Call => "call",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Messenger => "messenger",
            Channel::Meeting => "meeting",
            Channel::Note => "note",
            Channel::WebForm => "web_form",
        }
    }

    /// Parses a lower-case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Who started the interaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The customer reached out.
    Inbound,
    /// Staff reached out.
    Outbound,
    /// Internal (notes).
    Internal,
}

impl Direction {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
        }
    }

    /// Parses a lower-case name.
    pub fn parse(s: &str) -> Option<Self> {
        [Direction::Inbound, Direction::Outbound, Direction::Internal]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// A stored interaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interaction {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Id.
    pub id: InteractionId,
    /// The contact it is with (a contacts-service id).
    pub contact_id: Uuid,
    /// Channel.
    pub channel: Channel,
    /// Direction.
    pub direction: Direction,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Short summary.
    pub summary: String,
    /// When it was logged.
    pub create_time: DateTime<Utc>,
    /// Who logged it.
    pub created_by: UserId,
}

/// What a caller asks to log, before validation. `None` means "not given".
#[derive(Clone, Debug, Default)]
pub struct InteractionDraft {
    /// Contact id as sent.
    pub contact_id: String,
    /// Channel, if given and known.
    pub channel: Option<Channel>,
    /// Direction, if given and known.
    pub direction: Option<Direction>,
    /// When it happened, if given.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Summary.
    pub summary: String,
}

/// What can go wrong in comms.
#[derive(Debug, thiserror::Error)]
pub enum CommsError {
    /// Fields are invalid.
    #[error("invalid interaction: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// The contact does not exist for this tenant.
    #[error("contact {0} not found")]
    ContactNotFound(String),
    /// The caller's identity is missing.
    #[error("{0}")]
    Unauthenticated(String),
    /// The linked person was erased (data protection): nothing new may
    /// point at them.
    #[error("contact {0} was erased; nothing can be linked to it")]
    ContactErased(String),
    /// The linked person kept being merged while the interaction was written.
    #[error("contact {0} is being merged; try again")]
    ContactUnsettled(String),
    /// The contacts service could not be asked.
    #[error("contacts service unavailable: {0}")]
    ContactsUnavailable(String),
    /// The page token is not one we issued.
    #[error("invalid page token")]
    InvalidPageToken,
    /// The store failed.
    #[error("store: {0}")]
    Store(rapport_store::StoreError),
}

impl From<rapport_store::StoreError> for CommsError {
    fn from(e: rapport_store::StoreError) -> Self {
        match e {
            rapport_store::StoreError::InvalidPageToken => CommsError::InvalidPageToken,
            e => CommsError::Store(e),
        }
    }
}

impl ServiceError for CommsError {
    fn code(&self) -> ErrorCode {
        match self {
            CommsError::Invalid(_) | CommsError::InvalidPageToken => ErrorCode::InvalidArgument,
            CommsError::ContactNotFound(_) => ErrorCode::NotFound,
            CommsError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            CommsError::ContactErased(_) => ErrorCode::FailedPrecondition,
            CommsError::ContactUnsettled(_) => ErrorCode::Aborted,
            CommsError::ContactsUnavailable(_) => ErrorCode::Unavailable,
            CommsError::Store(rapport_store::StoreError::Unavailable(_)) => ErrorCode::Unavailable,
            CommsError::Store(_) => ErrorCode::Internal,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            CommsError::Invalid(_) => "INVALID_INTERACTION",
            CommsError::ContactNotFound(_) => "CONTACT_NOT_FOUND",
            CommsError::Unauthenticated(_) => "UNAUTHENTICATED",
            CommsError::ContactErased(_) => "CONTACT_ERASED",
            CommsError::ContactUnsettled(_) => "CONTACT_BEING_MERGED",
            CommsError::ContactsUnavailable(_) => "CONTACTS_UNAVAILABLE",
            CommsError::InvalidPageToken => "INVALID_PAGE_TOKEN",
            CommsError::Store(_) => "STORE_FAILURE",
        }
    }

    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            CommsError::Invalid(v) => v.clone(),
            CommsError::InvalidPageToken => {
                vec![FieldViolation::new(
                    "page_token",
                    "not a token this API issued",
                )]
            }
            _ => Vec::new(),
        }
    }
}

impl InteractionDraft {
    /// Validates the draft; reports every invalid field at once.
    pub fn validate(
        self,
        tenant: TenantId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Interaction, CommsError> {
        let mut violations = Vec::new();
        let contact_id = Uuid::parse_str(self.contact_id.trim())
            .map_err(|_| FieldViolation::new("interaction.contact_id", "required: a contact id"));
        if let Err(v) = &contact_id {
            violations.push(v.clone());
        }
        if self.channel.is_none() {
            violations.push(FieldViolation::new(
                "interaction.channel",
                "required: call, email, sms, messenger, meeting, note or web_form",
            ));
        }
        if self.direction.is_none() {
            violations.push(FieldViolation::new(
                "interaction.direction",
                "required: inbound, outbound or internal",
            ));
        }
        match self.occurred_at {
            None => violations.push(FieldViolation::new(
                "interaction.occurred_at",
                "required: an RFC 3339 time",
            )),
            Some(t) if t > now + Duration::days(MAX_FUTURE_DAYS) => violations.push(
                FieldViolation::new("interaction.occurred_at", "more than a year in the future"),
            ),
            Some(_) => {}
        }
        let summary = self.summary.trim().to_owned();
        if summary.chars().count() > MAX_SUMMARY {
            violations.push(FieldViolation::new(
                "interaction.summary",
                format!("longer than {MAX_SUMMARY} characters"),
            ));
        }
        match (contact_id, self.channel, self.direction, self.occurred_at) {
            (Ok(contact_id), Some(channel), Some(direction), Some(occurred_at))
                if violations.is_empty() =>
            {
                Ok(Interaction {
                    tenant,
                    id: InteractionId::generate(),
                    contact_id,
                    channel,
                    direction,
                    occurred_at,
                    summary,
                    create_time: now,
                    created_by: user,
                })
            }
            _ => Err(CommsError::Invalid(violations)),
        }
    }
}

/// A page size per AIP-158: 0 means the default, above the maximum is
/// coerced, negative is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    /// Items per page when the caller does not say.
    pub const DEFAULT: u32 = 50;
    /// Most items per page.
    pub const MAX: u32 = 1000;

    /// Interprets a requested size.
    pub fn parse(requested: i32) -> Result<Self, CommsError> {
        match requested {
            n if n < 0 => Err(CommsError::Invalid(vec![FieldViolation::new(
                "page_size",
                "must not be negative",
            )])),
            0 => Ok(PageSize(Self::DEFAULT)),
            n => Ok(PageSize((n as u32).min(Self::MAX))),
        }
    }

    /// The size.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl From<rapport_platform::contact_changes::LinkError<CommsError>> for CommsError {
    fn from(e: rapport_platform::contact_changes::LinkError<CommsError>) -> Self {
        use rapport_platform::contact_changes::LinkError;
        match e {
            LinkError::Erased(id) => CommsError::ContactErased(id.to_string()),
            LinkError::Unsettled(id) => CommsError::ContactUnsettled(id.to_string()),
            LinkError::Store(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }
    fn user() -> UserId {
        UserId::parse("alice").unwrap()
    }

    #[test]
    fn valid_draft_becomes_an_interaction() {
        let now = Utc::now();
        let i = InteractionDraft {
            contact_id: Uuid::now_v7().to_string(),
            channel: Some(Channel::Call),
            direction: Some(Direction::Inbound),
            occurred_at: Some(now),
            summary: "  Asked for an offer ".into(),
        }
        .validate(tenant(), user(), now)
        .unwrap();
        assert_eq!(i.summary, "Asked for an offer");
    }

    #[test]
    fn reports_every_missing_field() {
        let err = InteractionDraft::default()
            .validate(tenant(), user(), Utc::now())
            .unwrap_err();
        let fields: Vec<String> = err
            .field_violations()
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            [
                "interaction.contact_id",
                "interaction.channel",
                "interaction.direction",
                "interaction.occurred_at"
            ]
        );
    }

    #[test]
    fn far_future_is_refused() {
        let now = Utc::now();
        let err = InteractionDraft {
            contact_id: Uuid::now_v7().to_string(),
            channel: Some(Channel::Note),
            direction: Some(Direction::Internal),
            occurred_at: Some(now + Duration::days(400)),
            summary: String::new(),
        }
        .validate(tenant(), user(), now)
        .unwrap_err();
        assert_eq!(err.field_violations()[0].field, "interaction.occurred_at");
    }

    #[test]
    fn channel_names_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
        assert_eq!(Channel::parse("fax"), None);
    }

    #[test]
    fn page_sizes_follow_aip_158() {
        assert_eq!(PageSize::parse(0).unwrap().get(), PageSize::DEFAULT);
        assert_eq!(PageSize::parse(5000).unwrap().get(), PageSize::MAX);
        assert!(PageSize::parse(-1).is_err());
    }
}
