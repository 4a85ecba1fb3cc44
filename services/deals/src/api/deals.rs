//! `rapport.deals.v1.DealsService`.

use std::sync::Arc;

use chrono::Utc;
use rapport_platform::{
    contact_changes::link_following_merges,
    error::to_status,
    identity::{AccessError, Denied, Object, Permission, Principal, caller},
    outbox_relay::OutboxSignal,
    proto_time::to_timestamp,
};
use rapport_proto::{
    common::v1::{AuditStamp, Money as PbMoney},
    deals::v1::{
        self as pb, CreateDealRequest, CreatePipelineRequest, GetDealRequest, GetPipelineRequest,
        ListPipelinesRequest, ListPipelinesResponse, UpdatePipelineRequest,
        deals_service_server::DealsService,
    },
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    domain::{Deal, DealDraft, DealError, Money},
    events,
    store::DealStore,
};

pub(super) const DOMAIN: &str = "deals.rapport";

/// The gRPC API of the deals service.
pub struct DealsApi {
    pub(super) store: Arc<dyn DealStore>,
    pub(super) outbox: OutboxSignal,
    /// Most stages a pipeline may have.
    pub(super) max_stages: usize,
}

impl DealsApi {
    /// An API over `store`.
    pub fn new(store: Arc<dyn DealStore>, outbox: OutboxSignal) -> Self {
        DealsApi {
            store,
            outbox,
            max_stages: crate::domain::pipeline::DEFAULT_MAX_STAGES,
        }
    }

    /// With pipelines of at most `n` stages (at least 1).
    pub fn with_max_stages(mut self, n: usize) -> Self {
        self.max_stages = n.max(1);
        self
    }
}

fn status(e: DealError) -> Status {
    to_status(&e, DOMAIN)
}

fn denied(e: Denied) -> Status {
    to_status(&AccessError::Denied(e), DOMAIN)
}

fn principal<T>(req: &Request<T>, permission: Permission) -> Result<Principal, Status> {
    caller(req.metadata(), permission).map_err(|e| to_status(&e, DOMAIN))
}

#[tonic::async_trait]
impl DealsService for DealsApi {
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_deal(
        &self,
        req: Request<CreateDealRequest>,
    ) -> Result<Response<pb::Deal>, Status> {
        let principal = principal(&req, Permission::write(Object::Deals))?;
        let d = req.into_inner().deal.unwrap_or_default();
        let mut draft = DealDraft {
            title: d.title,
            contact_id: d.contact_id,
            amount: d.amount.map(|m| Money {
                currency: m.currency_code,
                units: m.units,
                nanos: m.nanos,
            }),
            pipeline_id: d.pipeline_id,
            stage: d.stage,
            owner: d.owner,
            team: d.team,
            shared_with: d.shared_with,
        };
        principal.default_assignment(&mut draft.owner, &mut draft.team);
        let pipeline = self
            .pipeline_of_draft(&principal, &draft.pipeline_id)
            .await
            .map_err(status)?;
        let mut deal = draft
            .validate(
                &pipeline,
                principal.tenant.clone(),
                principal.user.clone(),
                Utc::now(),
            )
            .map_err(status)?;
        principal
            .check_assignment(Object::Deals, None, &deal.owner, &deal.team)
            .map_err(denied)?;
        match deal.contact_id {
            // Stored for the person as they are now: a merged id's survivor,
            // never an erased person.
            Some(contact) => {
                let stored = link_following_merges(contact, |contact| {
                    let mut linked = deal.clone();
                    linked.contact_id = Some(contact);
                    let event = events::deal_created(&principal, &linked);
                    let audit = events::deal_audit(&principal, &linked);
                    let store = self.store.clone();
                    async move {
                        store
                            .create(&linked, &event, &audit)
                            .await
                            .map_err(DealError::from)
                    }
                })
                .await
                .map_err(|e| status(e.into()))?;
                deal.contact_id = Some(stored);
            }
            None => {
                let event = events::deal_created(&principal, &deal);
                let audit = events::deal_audit(&principal, &deal);
                self.store
                    .create(&deal, &event, &audit)
                    .await
                    .map_err(|e| status(e.into()))?;
            }
        }
        self.outbox.notify();
        Ok(Response::new(to_proto(&deal)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_deal(&self, req: Request<GetDealRequest>) -> Result<Response<pb::Deal>, Status> {
        let principal = principal(&req, Permission::read(Object::Deals))?;
        let id = &req.get_ref().id;
        let not_found = || status(DealError::NotFound(id.chars().take(64).collect()));
        let uuid = Uuid::parse_str(id).map_err(|_| not_found())?;
        match self
            .store
            .get(&principal.tenant, uuid)
            .await
            .map_err(|e| status(e.into()))?
        {
            Some(mut d) if principal.sees_record(&d.owner, &d.team, &d.shared_with) => {
                // Shown in the stage it is in now, should its stage be gone
                // (as stored when its pipeline cannot be found).
                let pipeline = self
                    .find_pipeline(&principal, d.pipeline_id)
                    .await
                    .map_err(status)?;
                if let Some(stage) = pipeline.as_ref().and_then(|p| p.resolve(&d.stage)) {
                    d.stage.clone_from(&stage.id);
                }
                Ok(Response::new(to_proto(&d)))
            }
            _ => Err(not_found()),
        }
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_pipelines(
        &self,
        req: Request<ListPipelinesRequest>,
    ) -> Result<Response<ListPipelinesResponse>, Status> {
        let principal = principal(&req, Permission::read(Object::Deals))?;
        let all = self.pipelines(&principal).await.map_err(status)?;
        Ok(Response::new(ListPipelinesResponse {
            pipelines: all.iter().map(super::pipelines::to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_pipeline(
        &self,
        req: Request<GetPipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let principal = principal(&req, Permission::read(Object::Deals))?;
        let found = self
            .pipeline(&principal, &req.get_ref().id)
            .await
            .map_err(status)?;
        Ok(Response::new(super::pipelines::to_proto(&found)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_pipeline(
        &self,
        req: Request<CreatePipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let principal = principal(&req, Permission::ManagePipelines)?;
        let body = req.into_inner().pipeline.unwrap_or_default();
        let draft = super::pipelines::draft(body, Default::default());
        let created = self.add_pipeline(&principal, draft).await.map_err(status)?;
        Ok(Response::new(super::pipelines::to_proto(&created)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_pipeline(
        &self,
        req: Request<UpdatePipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let principal = principal(&req, Permission::ManagePipelines)?;
        let UpdatePipelineRequest {
            pipeline,
            stage_moves,
        } = req.into_inner();
        let body = pipeline.unwrap_or_default();
        let (id, etag) = (body.id.clone(), body.etag.clone());
        let draft = super::pipelines::draft(body, stage_moves);
        let updated = self
            .replace_pipeline(&principal, &id, &etag, draft)
            .await
            .map_err(status)?;
        Ok(Response::new(super::pipelines::to_proto(&updated)))
    }
}

fn to_proto(d: &Deal) -> pb::Deal {
    pb::Deal {
        id: d.id.to_string(),
        title: d.title.clone(),
        contact_id: d.contact_id.map(|c| c.to_string()).unwrap_or_default(),
        amount: d.amount.as_ref().map(|m| PbMoney {
            currency_code: m.currency.clone(),
            units: m.units,
            nanos: m.nanos,
        }),
        stage: d.stage.clone(),
        pipeline_id: d.pipeline_id.to_string(),
        owner: d.owner.clone(),
        team: d.team.clone(),
        shared_with: d.shared_with.clone(),
        etag: format!("\"{}\"", d.version),
        audit: Some(AuditStamp {
            create_time: Some(to_timestamp(d.create_time)),
            created_by: d.created_by.to_string(),
            update_time: Some(to_timestamp(d.create_time)),
            updated_by: d.created_by.to_string(),
        }),
    }
}
