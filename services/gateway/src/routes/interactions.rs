//! `/v1/contacts/{id}/interactions` and `/v1/contacts/{id}/timeline`.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::IntoResponse,
};
use rapport_platform::{error::FieldViolation, proto_time::to_timestamp};
use rapport_proto::{
    common::v1::PageRequest,
    comms::v1::{self as pb, Channel, Direction, ListTimelineRequest, LogInteractionRequest},
};
use serde::{Deserialize, Serialize};

use super::{parse_time, rfc3339};
use crate::{AppState, auth::Caller, json::JsonBody, problem::Problem};

const CHANNELS: &[(&str, Channel)] = &[
    ("call", Channel::Call),
    ("email", Channel::Email),
    ("sms", Channel::Sms),
    ("messenger", Channel::Messenger),
    ("meeting", Channel::Meeting),
    ("note", Channel::Note),
    ("web_form", Channel::WebForm),
];

const DIRECTIONS: &[(&str, Direction)] = &[
    ("inbound", Direction::Inbound),
    ("outbound", Direction::Outbound),
    ("internal", Direction::Internal),
];

/// Body of `POST /v1/contacts/{id}/interactions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogInteraction {
    channel: Option<String>,
    direction: Option<String>,
    occurred_at: Option<String>,
    summary: Option<String>,
}

/// An interaction as REST returns it.
#[derive(Debug, Serialize)]
pub(crate) struct InteractionJson {
    id: String,
    contact_id: String,
    channel: &'static str,
    direction: &'static str,
    occurred_at: Option<String>,
    summary: String,
    create_time: Option<String>,
    created_by: String,
}

impl From<pb::Interaction> for InteractionJson {
    fn from(i: pb::Interaction) -> Self {
        let audit = i.audit.unwrap_or_default();
        InteractionJson {
            id: i.id,
            contact_id: i.contact_id,
            channel: name_of(CHANNELS, |c| *c as i32 == i.channel),
            direction: name_of(DIRECTIONS, |d| *d as i32 == i.direction),
            occurred_at: rfc3339(i.occurred_at.as_ref()),
            summary: i.summary,
            create_time: rfc3339(audit.create_time.as_ref()),
            created_by: audit.created_by,
        }
    }
}

/// The REST name of the enum value `matches` picks.
fn name_of<T>(table: &[(&'static str, T)], matches: impl Fn(&T) -> bool) -> &'static str {
    table
        .iter()
        .find(|(_, v)| matches(v))
        .map(|(n, _)| *n)
        .unwrap_or("unspecified")
}

/// Looks up `value` in `table`; a value that is given but unknown is a
/// violation, a missing one is left to the service (which reports every
/// missing field at once).
fn lookup<T: Copy>(
    table: &[(&str, T)],
    field: &str,
    value: Option<&str>,
    violations: &mut Vec<FieldViolation>,
) -> Option<T> {
    let v = value?;
    let found = table.iter().find(|(n, _)| *n == v).map(|(_, t)| *t);
    if found.is_none() {
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        violations.push(FieldViolation::new(
            field,
            format!("unknown value {v:?}; expected one of {}", names.join(", ")),
        ));
    }
    found
}

/// `POST /v1/contacts/{id}/interactions` -> 201 with the interaction.
pub(crate) async fn log(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(contact_id): Path<String>,
    JsonBody(body): JsonBody<LogInteraction>,
) -> Result<impl IntoResponse, Problem> {
    let mut violations = Vec::new();
    let channel = lookup(
        CHANNELS,
        "channel",
        body.channel.as_deref(),
        &mut violations,
    );
    let direction = lookup(
        DIRECTIONS,
        "direction",
        body.direction.as_deref(),
        &mut violations,
    );
    let occurred_at = match body.occurred_at.as_deref().map(|s| (s, parse_time(s))) {
        Some((_, Some(t))) => Some(to_timestamp(t)),
        Some((s, None)) => {
            violations.push(FieldViolation::new(
                "occurred_at",
                format!("{s:?} is not an RFC 3339 time such as 2026-11-25T14:30:00Z"),
            ));
            None
        }
        None => None,
    };
    if !violations.is_empty() {
        return Err(Problem::invalid(
            "INVALID_INTERACTION",
            "invalid interaction",
            violations,
        ));
    }
    let req = principal.request(LogInteractionRequest {
        interaction: Some(pb::Interaction {
            contact_id,
            channel: channel.map(|c| c as i32).unwrap_or_default(),
            direction: direction.map(|d| d as i32).unwrap_or_default(),
            occurred_at,
            summary: body.summary.unwrap_or_default(),
            ..Default::default()
        }),
    });
    let interaction = state
        .peers
        .comms
        .clone()
        .log_interaction(req)
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        axum::Json(InteractionJson::from(interaction)),
    ))
}

/// Query of `GET /v1/contacts/{id}/timeline`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimelineQuery {
    page_size: Option<i32>,
    page_token: Option<String>,
}

/// A page of the timeline.
#[derive(Debug, Serialize)]
pub(crate) struct TimelineJson {
    interactions: Vec<InteractionJson>,
    /// Empty at the end.
    next_page_token: String,
}

/// `GET /v1/contacts/{id}/timeline?page_size=&page_token=`, newest first.
pub(crate) async fn timeline(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(contact_id): Path<String>,
    query: Result<Query<TimelineQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<TimelineJson>, Problem> {
    let Query(q) = query.map_err(|e| {
        Problem::invalid(
            "INVALID_QUERY",
            format!("invalid query: {}", e.body_text()),
            Vec::new(),
        )
    })?;
    let resp = state
        .peers
        .comms
        .clone()
        .list_timeline(principal.request(ListTimelineRequest {
            contact_id,
            page: Some(PageRequest {
                page_size: q.page_size.unwrap_or(0),
                page_token: q.page_token.unwrap_or_default(),
            }),
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(TimelineJson {
        interactions: resp.interactions.into_iter().map(Into::into).collect(),
        next_page_token: resp.next_page_token,
    }))
}
