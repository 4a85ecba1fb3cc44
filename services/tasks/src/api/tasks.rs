//! `rapport.tasks.v1.TasksService`.

use std::sync::Arc;

use chrono::Utc;
use rapport_platform::{
    contact_changes::link_following_merges,
    error::to_status,
    identity::{AccessError, Denied, Object, Permission, Principal, caller},
    outbox_relay::OutboxSignal,
    proto_time::{from_timestamp, to_timestamp},
};
use rapport_proto::{
    common::v1::AuditStamp,
    tasks::v1::{
        self as pb, CreateTaskRequest, GetTaskRequest, tasks_service_server::TasksService,
    },
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    domain::{Task, TaskDraft, TaskError},
    events,
    store::TaskStore,
};

pub(super) const DOMAIN: &str = "tasks.rapport";

/// The gRPC API of the tasks service.
pub struct TasksApi {
    store: Arc<dyn TaskStore>,
    outbox: OutboxSignal,
}

impl TasksApi {
    /// An API over `store`.
    pub fn new(store: Arc<dyn TaskStore>, outbox: OutboxSignal) -> Self {
        TasksApi { store, outbox }
    }
}

fn status(e: TaskError) -> Status {
    to_status(&e, DOMAIN)
}

fn denied(e: Denied) -> Status {
    to_status(&AccessError::Denied(e), DOMAIN)
}

fn principal<T>(req: &Request<T>, permission: Permission) -> Result<Principal, Status> {
    caller(req.metadata(), permission).map_err(|e| to_status(&e, DOMAIN))
}

#[tonic::async_trait]
impl TasksService for TasksApi {
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_task(
        &self,
        req: Request<CreateTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let principal = principal(&req, Permission::write(Object::Tasks))?;
        let t = req.into_inner().task.unwrap_or_default();
        let mut draft = TaskDraft {
            title: t.title,
            contact_id: t.contact_id,
            due_time: t.due_time.as_ref().and_then(from_timestamp),
            assignee: t.assignee,
            team: t.team,
            shared_with: t.shared_with,
        };
        principal.default_assignment(&mut draft.assignee, &mut draft.team);
        let mut task = draft
            .validate(principal.tenant.clone(), principal.user.clone(), Utc::now())
            .map_err(status)?;
        principal
            .check_assignment(Object::Tasks, None, task.assignee.as_str(), &task.team)
            .map_err(denied)?;
        match task.contact_id {
            // Stored for the person as they are now: a merged id's survivor,
            // never an erased person.
            Some(contact) => {
                let stored = link_following_merges(contact, |contact| {
                    let mut linked = task.clone();
                    linked.contact_id = Some(contact);
                    let event = events::task_created(&principal, &linked);
                    let audit = events::task_audit(&principal, &linked);
                    let store = self.store.clone();
                    async move {
                        store
                            .create(&linked, &event, &audit)
                            .await
                            .map_err(TaskError::from)
                    }
                })
                .await
                .map_err(|e| status(e.into()))?;
                task.contact_id = Some(stored);
            }
            None => {
                let event = events::task_created(&principal, &task);
                let audit = events::task_audit(&principal, &task);
                self.store
                    .create(&task, &event, &audit)
                    .await
                    .map_err(|e| status(e.into()))?;
            }
        }
        self.outbox.notify();
        Ok(Response::new(to_proto(&task)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_task(&self, req: Request<GetTaskRequest>) -> Result<Response<pb::Task>, Status> {
        let principal = principal(&req, Permission::read(Object::Tasks))?;
        let id = &req.get_ref().id;
        let not_found = || status(TaskError::NotFound(id.chars().take(64).collect()));
        let uuid = Uuid::parse_str(id).map_err(|_| not_found())?;
        match self
            .store
            .get(&principal.tenant, uuid)
            .await
            .map_err(|e| status(e.into()))?
        {
            Some(t) if principal.sees_record(t.assignee.as_str(), &t.team, &t.shared_with) => {
                Ok(Response::new(to_proto(&t)))
            }
            _ => Err(not_found()),
        }
    }
}

fn to_proto(t: &Task) -> pb::Task {
    pb::Task {
        id: t.id.to_string(),
        title: t.title.clone(),
        contact_id: t.contact_id.map(|c| c.to_string()).unwrap_or_default(),
        due_time: t.due_time.map(to_timestamp),
        assignee: t.assignee.to_string(),
        team: t.team.clone(),
        shared_with: t.shared_with.clone(),
        etag: format!("\"{}\"", t.version),
        audit: Some(AuditStamp {
            create_time: Some(to_timestamp(t.create_time)),
            created_by: t.created_by.to_string(),
            update_time: Some(to_timestamp(t.create_time)),
            updated_by: t.created_by.to_string(),
        }),
    }
}
