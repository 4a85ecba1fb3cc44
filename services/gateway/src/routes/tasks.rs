//! `/v1/tasks`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
};
use rapport_platform::{error::FieldViolation, proto_time::to_timestamp};
use rapport_proto::tasks::v1::{self as pb, CreateTaskRequest, GetTaskRequest};
use serde::{Deserialize, Serialize};

use super::{non_empty, parse_time, rfc3339};
use crate::{AppState, auth::Caller, json::JsonBody, problem::Problem};

/// Body of `POST /v1/tasks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTask {
    title: Option<String>,
    contact_id: Option<String>,
    due_time: Option<String>,
    assignee: Option<String>,
    team: Option<String>,
    shared_with: Option<Vec<String>>,
}

/// A task as REST returns it.
#[derive(Debug, Serialize)]
pub(crate) struct TaskJson {
    id: String,
    title: String,
    contact_id: Option<String>,
    due_time: Option<String>,
    assignee: String,
    team: Option<String>,
    shared_with: Vec<String>,
    etag: String,
    create_time: Option<String>,
    created_by: String,
}

impl From<pb::Task> for TaskJson {
    fn from(t: pb::Task) -> Self {
        let audit = t.audit.unwrap_or_default();
        TaskJson {
            id: t.id,
            title: t.title,
            contact_id: non_empty(t.contact_id),
            due_time: rfc3339(t.due_time.as_ref()),
            assignee: t.assignee,
            team: non_empty(t.team),
            shared_with: t.shared_with,
            etag: t.etag,
            create_time: rfc3339(audit.create_time.as_ref()),
            created_by: audit.created_by,
        }
    }
}

/// `POST /v1/tasks` -> 201 with the task.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<CreateTask>,
) -> Result<impl IntoResponse, Problem> {
    let due_time = match body.due_time.as_deref() {
        None => None,
        Some(s) => match parse_time(s) {
            Some(t) => Some(to_timestamp(t)),
            None => {
                return Err(Problem::invalid(
                    "INVALID_TASK",
                    "invalid task",
                    vec![FieldViolation::new("due_time", "not an RFC 3339 time")],
                ));
            }
        },
    };
    let req = principal.request(CreateTaskRequest {
        task: Some(pb::Task {
            title: body.title.unwrap_or_default(),
            contact_id: body.contact_id.unwrap_or_default(),
            due_time,
            assignee: body.assignee.unwrap_or_default(),
            team: body.team.unwrap_or_default(),
            shared_with: body.shared_with.unwrap_or_default(),
            ..Default::default()
        }),
    });
    let task = state
        .peers
        .tasks
        .clone()
        .create_task(req)
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok((StatusCode::CREATED, axum::Json(TaskJson::from(task))))
}

/// `GET /v1/tasks/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<TaskJson>, Problem> {
    let task = state
        .peers
        .tasks
        .clone()
        .get_task(principal.request(GetTaskRequest { id }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(task.into()))
}
