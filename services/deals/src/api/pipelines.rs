//! The pipeline methods of `rapport.deals.v1.DealsService`: list, get,
//! create and update. Every tenant has a default pipeline from the start:
//! built in (version 0, never stored) until an admin edits it.

use chrono::Utc;
use rapport_platform::{identity::Principal, proto_time::to_timestamp};
use rapport_proto::{common::v1::AuditStamp, deals::v1 as pb};
use uuid::Uuid;

use super::DealsApi;
use crate::{
    domain::{
        DealError,
        pipeline::{Pipeline, PipelineDraft, StageDraft, default_pipeline, default_pipeline_id},
    },
    events,
};

/// Most pipelines one tenant may have: they are read whole on every
/// list, and a CRM with dozens of pipelines is one nobody can follow.
pub(super) const MAX_PIPELINES: usize = 50;

impl DealsApi {
    /// The tenant's pipelines, the default first, then by name.
    pub(super) async fn pipelines(&self, p: &Principal) -> Result<Vec<Pipeline>, DealError> {
        let mut all = self.store.list_pipelines(&p.tenant).await?;
        let default_id = default_pipeline_id(&p.tenant);
        if !all.iter().any(|x| x.id == default_id) {
            all.push(default_pipeline(&p.tenant));
        }
        all.sort_by_key(|x| (!x.is_default, rapport_platform::text::fold(&x.name), x.id));
        Ok(all)
    }

    /// One pipeline of the caller's tenant, by the id a caller sent.
    pub(super) async fn pipeline(&self, p: &Principal, id: &str) -> Result<Pipeline, DealError> {
        let not_found = || DealError::PipelineNotFound(id.chars().take(64).collect());
        let id = Uuid::parse_str(id.trim()).map_err(|_| not_found())?;
        self.find_pipeline(p, id).await?.ok_or_else(not_found)
    }

    /// The pipeline with `id`: stored, or the built-in default.
    pub(super) async fn find_pipeline(
        &self,
        p: &Principal,
        id: Uuid,
    ) -> Result<Option<Pipeline>, DealError> {
        Ok(match self.store.get_pipeline(&p.tenant, id).await? {
            Some(found) => Some(found),
            None if id == default_pipeline_id(&p.tenant) => Some(default_pipeline(&p.tenant)),
            None => None,
        })
    }

    /// The pipeline a deal draft names (empty: the default); an unknown id
    /// is an invalid field of the deal.
    pub(super) async fn pipeline_of_draft(
        &self,
        p: &Principal,
        id: &str,
    ) -> Result<Pipeline, DealError> {
        if id.trim().is_empty() {
            return Ok(self
                .find_pipeline(p, default_pipeline_id(&p.tenant))
                .await?
                .unwrap_or_else(|| default_pipeline(&p.tenant)));
        }
        match self.pipeline(p, id).await {
            Err(DealError::PipelineNotFound(_)) => Err(DealError::Invalid(vec![
                rapport_platform::error::FieldViolation::new(
                    "deal.pipeline_id",
                    "no such pipeline in this tenant",
                ),
            ])),
            other => other,
        }
    }

    /// Creates a pipeline from `draft` (the caller holds
    /// `pipelines.manage`).
    pub(super) async fn add_pipeline(
        &self,
        p: &Principal,
        draft: PipelineDraft,
    ) -> Result<Pipeline, DealError> {
        let existing = self.pipelines(p).await?;
        if existing.len() >= MAX_PIPELINES {
            return Err(DealError::TooManyPipelines(MAX_PIPELINES));
        }
        let (name, stages, moved) = draft
            .validate(None, self.max_stages)
            .map_err(DealError::InvalidPipeline)?;
        let now = Utc::now();
        let pipeline = Pipeline {
            tenant: p.tenant.clone(),
            id: Uuid::now_v7(),
            name,
            stages,
            moved,
            is_default: false,
            version: 1,
            create_time: now,
            update_time: now,
            updated_by: p.user.to_string(),
        };
        self.save(p, None, &pipeline).await?;
        Ok(pipeline)
    }

    /// Replaces the name and stages of pipeline `id`, if `etag` (when
    /// given) is current (the caller holds `pipelines.manage`).
    pub(super) async fn replace_pipeline(
        &self,
        p: &Principal,
        id: &str,
        etag: &str,
        draft: PipelineDraft,
    ) -> Result<Pipeline, DealError> {
        let current = self.pipeline(p, id).await?;
        let bare = |e: &str| {
            e.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_owned()
        };
        if !etag.trim().is_empty() && bare(etag) != bare(&pipeline_etag(&current)) {
            return Err(DealError::PipelineChanged(current.id.to_string()));
        }
        let (name, stages, moved) = draft
            .validate(Some(&current), self.max_stages)
            .map_err(DealError::InvalidPipeline)?;
        let now = Utc::now();
        let next = Pipeline {
            name,
            stages,
            moved,
            version: current.version + 1,
            // The built-in default is created by its first edit.
            create_time: if current.version == 0 {
                now
            } else {
                current.create_time
            },
            update_time: now,
            updated_by: p.user.to_string(),
            ..current.clone()
        };
        self.save(p, Some(&current), &next).await?;
        Ok(next)
    }

    /// Stores `next` with its event and audit entry, if `before` (or no
    /// pipeline, for a new one) is still what is stored.
    async fn save(
        &self,
        p: &Principal,
        before: Option<&Pipeline>,
        next: &Pipeline,
    ) -> Result<(), DealError> {
        let stored_before = before.filter(|b| b.version > 0);
        let messages = [
            events::pipeline_changed(p, next),
            events::pipeline_audit(p, stored_before, next),
        ];
        let expected = before.map(|b| b.version).unwrap_or(0);
        if !self.store.put_pipeline(next, expected, &messages).await? {
            return Err(DealError::PipelineChanged(next.id.to_string()));
        }
        self.outbox.notify();
        Ok(())
    }
}

/// The etag of a pipeline's version.
fn pipeline_etag(p: &Pipeline) -> String {
    format!("\"{}\"", p.version)
}

/// A draft from the request's pipeline and stage moves.
pub(super) fn draft(
    pipeline: pb::Pipeline,
    moves: std::collections::HashMap<String, String>,
) -> PipelineDraft {
    PipelineDraft {
        name: pipeline.name,
        stages: pipeline
            .stages
            .into_iter()
            .map(|s| StageDraft {
                id: s.id,
                name: s.name,
                probability_bp: s.probability_basis_points,
                rotting_days: s.rotting_days,
            })
            .collect(),
        moves: moves.into_iter().collect(),
    }
}

/// The pipeline as the API returns it.
pub(super) fn to_proto(p: &Pipeline) -> pb::Pipeline {
    pb::Pipeline {
        id: p.id.to_string(),
        name: p.name.clone(),
        stages: p
            .stages
            .iter()
            .map(|s| pb::Stage {
                id: s.id.clone(),
                name: s.name.clone(),
                probability_basis_points: s.probability_bp,
                rotting_days: s.rotting_days.unwrap_or(0),
            })
            .collect(),
        is_default: p.is_default,
        etag: pipeline_etag(p),
        // The built-in default (version 0) was never created or changed.
        audit: (p.version > 0).then(|| AuditStamp {
            create_time: Some(to_timestamp(p.create_time)),
            created_by: String::new(),
            update_time: Some(to_timestamp(p.update_time)),
            updated_by: p.updated_by.clone(),
        }),
        moved_stages: p.moved.clone().into_iter().collect(),
    }
}
