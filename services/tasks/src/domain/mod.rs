//! Tasks' rules: no I/O, no transport types.

use chrono::{DateTime, Utc};
use rapport_platform::{
    error::{ErrorCode, FieldViolation, ServiceError},
    identity::{TenantId, UserId, normalize_holding},
};
use uuid::Uuid;

/// Longest accepted title ("send the commercial offer" fits many times).
const MAX_TITLE: usize = 200;

/// A stored task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Id (UUIDv7).
    pub id: Uuid,
    /// What to do.
    pub title: String,
    /// The contact it is about, if any.
    pub contact_id: Option<Uuid>,
    /// When it is due, if set.
    pub due_time: Option<DateTime<Utc>>,
    /// Who must do it.
    pub assignee: UserId,
    /// Version, for etags.
    pub version: u64,
    /// Created when.
    pub create_time: DateTime<Utc>,
    /// Created by.
    pub created_by: UserId,
    /// Team path, empty for none.
    pub team: String,
    /// `user:<id>` and `team:<path>` shares.
    pub shared_with: Vec<String>,
}

/// What a caller asks to create.
#[derive(Clone, Debug, Default)]
pub struct TaskDraft {
    /// Title.
    pub title: String,
    /// Contact id, empty for none.
    pub contact_id: String,
    /// Due time.
    pub due_time: Option<DateTime<Utc>>,
    /// Assignee user id, empty for the caller.
    pub assignee: String,
    /// Team path, empty for none.
    pub team: String,
    /// Shares.
    pub shared_with: Vec<String>,
}

/// What can go wrong with tasks.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// Fields are invalid.
    #[error("invalid task: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// No such task for this tenant.
    #[error("task {0} not found")]
    NotFound(String),
    /// The caller's identity is missing.
    #[error("{0}")]
    Unauthenticated(String),
    /// The linked person was erased (data protection): nothing new may
    /// point at them.
    #[error("contact {0} was erased; nothing can be linked to it")]
    ContactErased(String),
    /// The linked person kept being merged while the task was written.
    #[error("contact {0} is being merged; try again")]
    ContactUnsettled(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] rapport_store::StoreError),
}

impl ServiceError for TaskError {
    fn code(&self) -> ErrorCode {
        match self {
            TaskError::Invalid(_) => ErrorCode::InvalidArgument,
            TaskError::NotFound(_) => ErrorCode::NotFound,
            TaskError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            TaskError::ContactErased(_) => ErrorCode::FailedPrecondition,
            TaskError::ContactUnsettled(_) => ErrorCode::Aborted,
            TaskError::Store(rapport_store::StoreError::Unavailable(_)) => ErrorCode::Unavailable,
            TaskError::Store(_) => ErrorCode::Internal,
        }
    }
    fn reason(&self) -> &'static str {
        match self {
            TaskError::Invalid(_) => "INVALID_TASK",
            TaskError::NotFound(_) => "TASK_NOT_FOUND",
            TaskError::Unauthenticated(_) => "UNAUTHENTICATED",
            TaskError::ContactErased(_) => "CONTACT_ERASED",
            TaskError::ContactUnsettled(_) => "CONTACT_BEING_MERGED",
            TaskError::Store(_) => "STORE_FAILURE",
        }
    }
    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            TaskError::Invalid(v) => v.clone(),
            _ => Vec::new(),
        }
    }
}

impl TaskDraft {
    /// Validates the draft; reports every invalid field at once.
    pub fn validate(
        self,
        tenant: TenantId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Task, TaskError> {
        let mut v = Vec::new();
        let title = self.title.trim().to_owned();
        if title.is_empty() || title.chars().count() > MAX_TITLE {
            v.push(FieldViolation::new(
                "task.title",
                format!("required, at most {MAX_TITLE} characters"),
            ));
        }
        let contact_id = match self.contact_id.trim() {
            "" => None,
            s => Uuid::parse_str(s)
                .map_err(|_| v.push(FieldViolation::new("task.contact_id", "not a contact id")))
                .ok(),
        };
        let assignee = match self.assignee.trim() {
            "" => Some(user.clone()),
            s => UserId::parse(s)
                .map_err(|_| v.push(FieldViolation::new("task.assignee", "not a user id")))
                .ok(),
        };
        let (mut team, mut shared_with) = (self.team, self.shared_with);
        let mut ignored_owner = String::new();
        for (field, why) in
            normalize_holding(&mut ignored_owner, &mut team, &mut shared_with, false)
        {
            v.push(FieldViolation::new(format!("task.{field}"), why));
        }
        match assignee {
            Some(assignee) if v.is_empty() => Ok(Task {
                tenant,
                id: Uuid::now_v7(),
                title,
                contact_id,
                due_time: self.due_time,
                assignee,
                version: 1,
                create_time: now,
                created_by: user,
                team,
                shared_with,
            }),
            _ => Err(TaskError::Invalid(v)),
        }
    }
}

impl From<rapport_platform::contact_changes::LinkError<TaskError>> for TaskError {
    fn from(e: rapport_platform::contact_changes::LinkError<TaskError>) -> Self {
        use rapport_platform::contact_changes::LinkError;
        match e {
            LinkError::Erased(id) => TaskError::ContactErased(id.to_string()),
            LinkError::Unsettled(id) => TaskError::ContactUnsettled(id.to_string()),
            LinkError::Store(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigns_to_the_caller_by_default() {
        let t = TaskDraft {
            title: "Send the commercial offer".into(),
            ..Default::default()
        }
        .validate(
            TenantId::parse("acme").unwrap(),
            UserId::parse("carol").unwrap(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(t.assignee.as_str(), "carol");
    }

    #[test]
    fn refuses_missing_title_and_bad_ids() {
        let err = TaskDraft {
            contact_id: "nope".into(),
            assignee: "has space".into(),
            ..Default::default()
        }
        .validate(
            TenantId::parse("acme").unwrap(),
            UserId::parse("carol").unwrap(),
            Utc::now(),
        )
        .unwrap_err();
        let fields: Vec<String> = err
            .field_violations()
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["task.title", "task.contact_id", "task.assignee"]);
    }
}
