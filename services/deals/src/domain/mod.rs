//! Deals' rules: no I/O, no transport types.

pub mod pipeline;

use chrono::{DateTime, Utc};
use rapport_platform::{
    error::{ErrorCode, FieldViolation, ServiceError},
    identity::{TenantId, UserId, normalize_holding},
};
use uuid::Uuid;

/// Longest accepted title.
const MAX_TITLE: usize = 200;

/// An exact amount in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Money {
    /// ISO 4217 code.
    pub currency: String,
    /// Whole units.
    pub units: i64,
    /// Billionths, same sign as `units`.
    pub nanos: i32,
}

/// A stored deal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deal {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Main contact, if any.
    pub contact_id: Option<Uuid>,
    /// Amount, if known.
    pub amount: Option<Money>,
    /// Its pipeline.
    pub pipeline_id: Uuid,
    /// Pipeline stage, as written (read it through
    /// [`pipeline::Pipeline::resolve`]: the stage may have been removed).
    pub stage: String,
    /// Version, for etags.
    pub version: u64,
    /// Created when.
    pub create_time: DateTime<Utc>,
    /// Created by.
    pub created_by: UserId,
    /// Owner's user id.
    pub owner: String,
    /// Team path, empty for none.
    pub team: String,
    /// `user:<id>` and `team:<path>` shares.
    pub shared_with: Vec<String>,
}

/// What a caller asks to create.
#[derive(Clone, Debug, Default)]
pub struct DealDraft {
    /// Title.
    pub title: String,
    /// Contact id, empty for none.
    pub contact_id: String,
    /// Amount.
    pub amount: Option<Money>,
    /// Pipeline id, empty for the tenant's default.
    pub pipeline_id: String,
    /// Stage id, empty for the pipeline's first stage.
    pub stage: String,
    /// Owner's user id (defaulted by the API).
    pub owner: String,
    /// Team path, empty for none.
    pub team: String,
    /// Shares.
    pub shared_with: Vec<String>,
}

/// What can go wrong with deals.
#[derive(Debug, thiserror::Error)]
pub enum DealError {
    /// Fields are invalid.
    #[error("invalid deal: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// No such deal for this tenant.
    #[error("deal {0} not found")]
    NotFound(String),
    /// A pipeline breaks the rules (every violation listed).
    #[error("invalid pipeline: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    InvalidPipeline(Vec<FieldViolation>),
    /// No such pipeline for this tenant.
    #[error("pipeline {0} not found")]
    PipelineNotFound(String),
    /// The pipeline changed since the caller read it (stale etag).
    #[error("pipeline {0} changed since it was read; read it again")]
    PipelineChanged(String),
    /// The tenant has as many pipelines as it may.
    #[error("a tenant has at most {0} pipelines")]
    TooManyPipelines(usize),
    /// The caller's identity is missing.
    #[error("{0}")]
    Unauthenticated(String),
    /// The linked person was erased (data protection): nothing new may
    /// point at them.
    #[error("contact {0} was erased; nothing can be linked to it")]
    ContactErased(String),
    /// The linked person kept being merged while the deal was written.
    #[error("contact {0} is being merged; try again")]
    ContactUnsettled(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] rapport_store::StoreError),
}

impl ServiceError for DealError {
    fn code(&self) -> ErrorCode {
        match self {
            DealError::Invalid(_) => ErrorCode::InvalidArgument,
            DealError::NotFound(_) | DealError::PipelineNotFound(_) => ErrorCode::NotFound,
            DealError::InvalidPipeline(_) => ErrorCode::InvalidArgument,
            DealError::PipelineChanged(_) => ErrorCode::Aborted,
            DealError::TooManyPipelines(_) => ErrorCode::FailedPrecondition,
            DealError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            DealError::ContactErased(_) => ErrorCode::FailedPrecondition,
            DealError::ContactUnsettled(_) => ErrorCode::Aborted,
            DealError::Store(rapport_store::StoreError::Unavailable(_)) => ErrorCode::Unavailable,
            DealError::Store(_) => ErrorCode::Internal,
        }
    }
    fn reason(&self) -> &'static str {
        match self {
            DealError::Invalid(_) => "INVALID_DEAL",
            DealError::NotFound(_) => "DEAL_NOT_FOUND",
            DealError::InvalidPipeline(_) => "INVALID_PIPELINE",
            DealError::PipelineNotFound(_) => "PIPELINE_NOT_FOUND",
            DealError::PipelineChanged(_) => "ETAG_MISMATCH",
            DealError::TooManyPipelines(_) => "TOO_MANY_PIPELINES",
            DealError::Unauthenticated(_) => "UNAUTHENTICATED",
            DealError::ContactErased(_) => "CONTACT_ERASED",
            DealError::ContactUnsettled(_) => "CONTACT_BEING_MERGED",
            DealError::Store(_) => "STORE_FAILURE",
        }
    }
    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            DealError::Invalid(v) | DealError::InvalidPipeline(v) => v.clone(),
            _ => Vec::new(),
        }
    }
}

impl DealDraft {
    /// Validates the draft for `pipeline` (the one it asked for, or the
    /// tenant's default); reports every invalid field at once.
    pub fn validate(
        self,
        pipeline: &pipeline::Pipeline,
        tenant: TenantId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Deal, DealError> {
        let mut v = Vec::new();
        let title = self.title.trim().to_owned();
        if title.is_empty() || title.chars().count() > MAX_TITLE {
            v.push(FieldViolation::new(
                "deal.title",
                format!("required, at most {MAX_TITLE} characters"),
            ));
        }
        let contact_id = match self.contact_id.trim() {
            "" => None,
            s => match Uuid::parse_str(s) {
                Ok(id) => Some(id),
                Err(_) => {
                    v.push(FieldViolation::new("deal.contact_id", "not a contact id"));
                    None
                }
            },
        };
        if let Some(m) = &self.amount {
            if m.currency.len() != 3 || !m.currency.bytes().all(|b| b.is_ascii_uppercase()) {
                v.push(FieldViolation::new(
                    "deal.amount.currency_code",
                    "an ISO 4217 code such as EUR",
                ));
            }
            let same_sign = (m.units >= 0 && m.nanos >= 0) || (m.units <= 0 && m.nanos <= 0);
            if !(-999_999_999..=999_999_999).contains(&m.nanos) || !same_sign {
                v.push(FieldViolation::new(
                    "deal.amount.nanos",
                    "within ±999999999 and with the sign of units",
                ));
            }
        }
        let stage = match self.stage.trim() {
            "" => pipeline.first_stage().id.clone(),
            s if pipeline.stages.iter().any(|st| st.id == s) => s.to_owned(),
            s => {
                let ids: Vec<&str> = pipeline.stages.iter().map(|st| st.id.as_str()).collect();
                v.push(FieldViolation::new(
                    "deal.stage",
                    format!(
                        "{:?} is not a stage of pipeline {:?} (its stages: {})",
                        s.chars().take(64).collect::<String>(),
                        pipeline.name,
                        ids.join(", ")
                    ),
                ));
                String::new()
            }
        };
        let (mut owner, mut team, mut shared_with) = (self.owner, self.team, self.shared_with);
        for (field, why) in normalize_holding(&mut owner, &mut team, &mut shared_with, false) {
            v.push(FieldViolation::new(format!("deal.{field}"), why));
        }
        if owner.is_empty() {
            owner = user.to_string();
        }
        if !v.is_empty() {
            return Err(DealError::Invalid(v));
        }
        Ok(Deal {
            tenant,
            id: Uuid::now_v7(),
            title,
            contact_id,
            amount: self.amount,
            pipeline_id: pipeline.id,
            stage,
            version: 1,
            create_time: now,
            created_by: user,
            owner,
            team,
            shared_with,
        })
    }
}

impl From<rapport_platform::contact_changes::LinkError<DealError>> for DealError {
    fn from(e: rapport_platform::contact_changes::LinkError<DealError>) -> Self {
        use rapport_platform::contact_changes::LinkError;
        match e {
            LinkError::Erased(id) => DealError::ContactErased(id.to_string()),
            LinkError::Unsettled(id) => DealError::ContactUnsettled(id.to_string()),
            LinkError::Store(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(d: DealDraft) -> Result<Deal, DealError> {
        let tenant = TenantId::parse("acme").unwrap();
        d.validate(
            &pipeline::default_pipeline(&tenant),
            tenant,
            UserId::parse("bob").unwrap(),
            Utc::now(),
        )
    }

    #[test]
    fn starts_in_the_pipelines_first_stage_and_only_in_its_stages() {
        let d = validate(DealDraft {
            title: "Fleet renewal".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(d.stage, "new");
        let err = validate(DealDraft {
            title: "Fleet renewal".into(),
            stage: "won".into(),
            ..Default::default()
        })
        .unwrap_err();
        let v = err.field_violations();
        assert_eq!(v[0].field, "deal.stage");
        assert!(v[0].description.contains("new, qualified"), "{v:?}");
    }

    #[test]
    fn refuses_bad_money_and_missing_title() {
        let err = validate(DealDraft {
            amount: Some(Money {
                currency: "euro".into(),
                units: 5,
                nanos: -1,
            }),
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
            [
                "deal.title",
                "deal.amount.currency_code",
                "deal.amount.nanos"
            ]
        );
    }
}
