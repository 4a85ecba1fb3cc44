//! `rapport.analytics.v1.AnalyticsService`.

use std::sync::Arc;

use rapport_platform::{
    error::{ErrorCode, ServiceError, to_status},
    identity::{Object, Permission, caller_any},
};
use rapport_proto::analytics::v1::{
    GetSummaryRequest, Summary, analytics_service_server::AnalyticsService,
};
use tonic::{Request, Response, Status};

use crate::store::SummaryStore;

const DOMAIN: &str = "analytics.rapport";

/// What can go wrong answering queries.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The caller's identity is missing.
    #[error("{0}")]
    Unauthenticated(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] rapport_store::StoreError),
}

impl ServiceError for AnalyticsError {
    fn code(&self) -> ErrorCode {
        match self {
            AnalyticsError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            AnalyticsError::Store(rapport_store::StoreError::Unavailable(_)) => {
                ErrorCode::Unavailable
            }
            AnalyticsError::Store(_) => ErrorCode::Internal,
        }
    }
    fn reason(&self) -> &'static str {
        match self {
            AnalyticsError::Unauthenticated(_) => "UNAUTHENTICATED",
            AnalyticsError::Store(_) => "STORE_FAILURE",
        }
    }
}

/// The gRPC API of the analytics service.
pub struct AnalyticsApi {
    store: Arc<dyn SummaryStore>,
}

impl AnalyticsApi {
    /// An API over `store`.
    pub fn new(store: Arc<dyn SummaryStore>) -> Self {
        AnalyticsApi { store }
    }
}

#[tonic::async_trait]
impl AnalyticsService for AnalyticsApi {
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_summary(
        &self,
        req: Request<GetSummaryRequest>,
    ) -> Result<Response<Summary>, Status> {
        // Tenant-wide counts: anyone who may read some kind of record.
        let reads: Vec<Permission> = Object::ALL.into_iter().map(Permission::read).collect();
        let principal = caller_any(req.metadata(), &reads).map_err(|e| to_status(&e, DOMAIN))?;
        let s = self
            .store
            .summary(&principal.tenant)
            .await
            .map_err(|e| to_status(&AnalyticsError::from(e), DOMAIN))?;
        Ok(Response::new(Summary {
            contacts: s.contacts,
            interactions: s.interactions,
            deals: s.deals,
            tasks: s.tasks,
        }))
    }
}
