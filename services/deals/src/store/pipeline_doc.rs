//! How a pipeline is stored: one JSON document per pipeline beside its
//! version, the same on both backends (a pipeline is read and written
//! whole, and its shape will grow).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rapport_platform::identity::TenantId;
use rapport_store::StoreError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::pipeline::{Pipeline, Stage};

#[derive(Serialize, Deserialize)]
struct StageDoc {
    id: String,
    name: String,
    probability_bp: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotting_days: Option<u32>,
}

#[derive(Serialize, Deserialize)]
struct PipelineDoc {
    name: String,
    stages: Vec<StageDoc>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    moved: BTreeMap<String, String>,
    #[serde(default)]
    is_default: bool,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    updated_by: String,
}

/// The stored document of `p` (everything but tenant, id and version).
pub(super) fn encode(p: &Pipeline) -> String {
    let doc = PipelineDoc {
        name: p.name.clone(),
        stages: p
            .stages
            .iter()
            .map(|s| StageDoc {
                id: s.id.clone(),
                name: s.name.clone(),
                probability_bp: s.probability_bp,
                rotting_days: s.rotting_days,
            })
            .collect(),
        moved: p.moved.clone(),
        is_default: p.is_default,
        create_time: p.create_time,
        update_time: p.update_time,
        updated_by: p.updated_by.clone(),
    };
    serde_json::to_string(&doc).expect("a pipeline document always serializes")
}

/// The pipeline stored as `doc`.
pub(super) fn decode(
    tenant: TenantId,
    id: Uuid,
    version: u64,
    doc: &str,
) -> Result<Pipeline, StoreError> {
    let d: PipelineDoc = serde_json::from_str(doc)
        .map_err(|e| StoreError::Corrupt(format!("pipelines.doc: {e}")))?;
    Ok(Pipeline {
        tenant,
        id,
        name: d.name,
        stages: d
            .stages
            .into_iter()
            .map(|s| Stage {
                id: s.id,
                name: s.name,
                probability_bp: s.probability_bp,
                rotting_days: s.rotting_days,
            })
            .collect(),
        moved: d.moved,
        is_default: d.is_default,
        version,
        create_time: d.create_time,
        update_time: d.update_time,
        updated_by: d.updated_by,
    })
}
