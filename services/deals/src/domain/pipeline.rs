//! Pipelines: ordered stages with a win probability and a rotting
//! threshold. The rules that keep a roll-out healthy live here: few stages,
//! no two that differ only in case or accents, and no edit that strands a
//! deal in a stage that no longer exists.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rapport_platform::{error::FieldViolation, identity::TenantId, text::fold};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Most stages a pipeline may have unless the service is configured
/// otherwise (`deals.max_pipeline_stages`).
pub const DEFAULT_MAX_STAGES: usize = 12;
/// Longest pipeline name.
const MAX_NAME: usize = 100;
/// Longest stage name.
const MAX_STAGE_NAME: usize = 60;
/// Basis points in a certainty (probability 1.0).
pub const CERTAIN: u32 = 10_000;
/// Longest rotting threshold, in days (ten years).
const MAX_ROTTING_DAYS: u32 = 3650;

/// One stage of a pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// Stable id (renaming a stage keeps it).
    pub id: String,
    /// Name shown on the board.
    pub name: String,
    /// Win probability in basis points (2500 = 25 %): exact, so forecasts
    /// multiply amounts without floating point.
    pub probability_bp: u32,
    /// Days without activity after which a deal in this stage rots; `None`
    /// never rots.
    pub rotting_days: Option<u32>,
}

/// A stored pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pipeline {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Stages in board order.
    pub stages: Vec<Stage>,
    /// Removed stage id -> the stage its deals now count in (flattened:
    /// always a current stage). Deals are never rewritten when a stage is
    /// removed; they are read through this map, so the edit is one write.
    pub moved: BTreeMap<String, String>,
    /// Whether this is the tenant's default pipeline (new deals go here).
    pub is_default: bool,
    /// Version, for etags; 0 for the built-in default never stored.
    pub version: u64,
    /// Created when.
    pub create_time: DateTime<Utc>,
    /// Last changed when.
    pub update_time: DateTime<Utc>,
    /// Last changed by.
    pub updated_by: String,
}

/// A stage as a caller sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageDraft {
    /// Id of an existing stage to keep (renamed, moved, re-weighted);
    /// empty for a new stage.
    pub id: String,
    /// Name.
    pub name: String,
    /// Win probability in basis points.
    pub probability_bp: u32,
    /// Rotting threshold in days; 0 for none.
    pub rotting_days: u32,
}

/// What a valid draft yields: the name, the stages (new ones with fresh
/// ids) and the flattened moves of removed stages.
pub type ValidPipeline = (String, Vec<Stage>, BTreeMap<String, String>);

/// A pipeline as a caller sends it, to create or to replace one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineDraft {
    /// Name.
    pub name: String,
    /// Stages in board order.
    pub stages: Vec<StageDraft>,
    /// For an edit: removed stage id -> id of a kept stage its deals move
    /// to. Every removed stage must name one.
    pub moves: BTreeMap<String, String>,
}

impl Pipeline {
    /// The stage a deal recorded in `stage` is in now (following removals),
    /// if the pipeline has it.
    pub fn resolve(&self, stage: &str) -> Option<&Stage> {
        let current = self.moved.get(stage).map(String::as_str).unwrap_or(stage);
        self.stages.iter().find(|s| s.id == current)
    }

    /// The first stage, where new deals start.
    pub fn first_stage(&self) -> &Stage {
        &self.stages[0]
    }
}

/// The id of a tenant's built-in default pipeline: the same on every
/// replica without coordination, so it exists before anyone stores it.
pub fn default_pipeline_id(tenant: &TenantId) -> Uuid {
    let digest = Sha256::digest(format!("rapport.deals.default-pipeline/{tenant}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The pipeline every tenant starts with, until an admin edits it.
pub fn default_pipeline(tenant: &TenantId) -> Pipeline {
    let stage = |id: &str, name: &str, probability_bp, rotting_days| Stage {
        id: id.into(),
        name: name.into(),
        probability_bp,
        rotting_days: Some(rotting_days),
    };
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    Pipeline {
        tenant: tenant.clone(),
        id: default_pipeline_id(tenant),
        name: "Sales".into(),
        stages: vec![
            stage("new", "New", 1000, 14),
            stage("qualified", "Qualified", 2500, 21),
            stage("proposal", "Proposal", 5000, 21),
            stage("negotiation", "Negotiation", 7500, 30),
        ],
        moved: BTreeMap::new(),
        is_default: true,
        version: 0,
        create_time: epoch,
        update_time: epoch,
        updated_by: String::new(),
    }
}

/// A stage id from a name: lower-case ASCII letters and digits of the
/// folded name joined by '-', else `stage`; made unique with a suffix.
fn stage_id(name: &str, taken: &mut HashMap<String, ()>) -> String {
    let folded = fold(name);
    let mut slug = String::new();
    for c in folded.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(40).collect();
    let base = if slug.is_empty() {
        "stage".to_owned()
    } else {
        slug
    };
    let mut id = base.clone();
    let mut n = 2;
    while taken.contains_key(&id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(id.clone(), ());
    id
}

impl PipelineDraft {
    /// Checks the draft against the rules and, for an edit, against the
    /// pipeline it replaces; reports every violation at once. Returns the
    /// name, the stages (new ones with fresh ids) and the flattened moves.
    pub fn validate(
        self,
        previous: Option<&Pipeline>,
        max_stages: usize,
    ) -> Result<ValidPipeline, Vec<FieldViolation>> {
        let mut v = Vec::new();
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            v.push(FieldViolation::new(
                "pipeline.name",
                format!("required, at most {MAX_NAME} characters"),
            ));
        }
        if self.stages.is_empty() {
            v.push(FieldViolation::new(
                "pipeline.stages",
                "a pipeline needs at least one stage",
            ));
        }
        if self.stages.len() > max_stages {
            v.push(FieldViolation::new(
                "pipeline.stages",
                format!(
                    "{} stages; at most {max_stages}: long pipelines are a classic cause of \
                     failed roll-outs (merge stages or use tags)",
                    self.stages.len()
                ),
            ));
        }
        let old: HashMap<&str, &Stage> = previous
            .map(|p| p.stages.iter().map(|s| (s.id.as_str(), s)).collect())
            .unwrap_or_default();
        let mut seen_names: HashMap<String, usize> = HashMap::new();
        let mut taken: HashMap<String, ()> = previous
            .map(|p| {
                p.stages
                    .iter()
                    .map(|s| s.id.clone())
                    .chain(p.moved.keys().cloned())
                    .map(|id| (id, ()))
                    .collect()
            })
            .unwrap_or_default();
        let mut kept: HashMap<String, usize> = HashMap::new();
        let mut stages = Vec::with_capacity(self.stages.len());
        for (i, s) in self.stages.into_iter().enumerate() {
            let field = |f: &str| format!("pipeline.stages[{i}].{f}");
            let stage_name = s.name.trim().to_owned();
            if stage_name.is_empty() || stage_name.chars().count() > MAX_STAGE_NAME {
                v.push(FieldViolation::new(
                    field("name"),
                    format!("required, at most {MAX_STAGE_NAME} characters"),
                ));
            } else if let Some(j) = seen_names.insert(fold(&stage_name), i) {
                v.push(FieldViolation::new(
                    field("name"),
                    format!(
                        "\"{stage_name}\" is the same stage name as stages[{j}] \
                         (compared without case and accents)"
                    ),
                ));
            }
            if s.probability_bp > CERTAIN {
                v.push(FieldViolation::new(field("probability"), "between 0 and 1"));
            }
            if s.rotting_days > MAX_ROTTING_DAYS {
                v.push(FieldViolation::new(
                    field("rotting_days"),
                    format!("at most {MAX_ROTTING_DAYS} days (0 for never)"),
                ));
            }
            let id = match s.id.trim() {
                "" => stage_id(&stage_name, &mut taken),
                id if old.contains_key(id) => {
                    if let Some(j) = kept.insert(id.to_owned(), i) {
                        v.push(FieldViolation::new(
                            field("id"),
                            format!("stage {id} is already stages[{j}]"),
                        ));
                    }
                    id.to_owned()
                }
                id => {
                    v.push(FieldViolation::new(
                        field("id"),
                        format!("no stage {id} in this pipeline (leave empty for a new stage)"),
                    ));
                    String::new()
                }
            };
            stages.push(Stage {
                id,
                name: stage_name,
                probability_bp: s.probability_bp,
                rotting_days: (s.rotting_days > 0).then_some(s.rotting_days),
            });
        }
        // Every removed stage names a kept one; earlier removals that led
        // to it follow it there.
        let mut moved = previous.map(|p| p.moved.clone()).unwrap_or_default();
        let removed: Vec<&str> = old
            .keys()
            .copied()
            .filter(|id| !kept.contains_key(*id))
            .collect();
        for (from, to) in &self.moves {
            if !removed.contains(&from.as_str()) {
                v.push(FieldViolation::new(
                    format!("moves[{from}]"),
                    "only a removed stage moves its deals",
                ));
            } else if !kept.contains_key(to) {
                v.push(FieldViolation::new(
                    format!("moves[{from}]"),
                    format!("{to} is not a stage the pipeline keeps"),
                ));
            }
        }
        let mut removed = removed;
        removed.sort_unstable();
        for from in removed {
            match self.moves.get(from) {
                Some(to) if kept.contains_key(to) => {
                    for target in moved.values_mut() {
                        if target == from {
                            target.clone_from(to);
                        }
                    }
                    moved.insert(from.to_owned(), to.clone());
                }
                Some(_) => {}
                None => v.push(FieldViolation::new(
                    format!("moves[{from}]"),
                    format!(
                        "stage {from} is removed: name the stage its deals move to, so none \
                         is stranded"
                    ),
                )),
            }
        }
        if v.is_empty() {
            Ok((name, stages, moved))
        } else {
            Err(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, bp: u32) -> StageDraft {
        StageDraft {
            name: name.into(),
            probability_bp: bp,
            ..Default::default()
        }
    }

    fn fields(e: Vec<FieldViolation>) -> Vec<String> {
        e.into_iter().map(|v| v.field).collect()
    }

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    #[test]
    fn stage_names_that_differ_only_in_case_or_accents_are_one_stage() {
        let draft = PipelineDraft {
            name: "Renewals".into(),
            stages: vec![stage("Négociation", 5000), stage("NEGOCIATION ", 6000)],
            ..Default::default()
        };
        let err = draft.validate(None, DEFAULT_MAX_STAGES).unwrap_err();
        assert_eq!(err[0].field, "pipeline.stages[1].name");
        assert!(err[0].description.contains("stages[0]"), "{err:?}");
    }

    #[test]
    fn too_many_stages_and_bad_numbers_are_all_reported() {
        let mut stages: Vec<StageDraft> = (0..13).map(|i| stage(&format!("S{i}"), 100)).collect();
        stages[2].probability_bp = 10_001;
        stages[3].rotting_days = 4000;
        let draft = PipelineDraft {
            name: " ".into(),
            stages,
            ..Default::default()
        };
        assert_eq!(
            fields(draft.validate(None, 12).unwrap_err()),
            [
                "pipeline.name",
                "pipeline.stages",
                "pipeline.stages[2].probability",
                "pipeline.stages[3].rotting_days"
            ]
        );
    }

    #[test]
    fn new_stages_get_stable_readable_ids() {
        let draft = PipelineDraft {
            name: "Sales".into(),
            stages: vec![stage("Première visite", 1000), stage("প্রস্তাব", 5000)],
            ..Default::default()
        };
        let (_, stages, _) = draft.validate(None, 12).unwrap();
        assert_eq!(stages[0].id, "premiere-visite");
        assert_eq!(stages[1].id, "stage");
        assert_eq!(stages[0].rotting_days, None);
    }

    fn edit(stages: Vec<StageDraft>, moves: &[(&str, &str)]) -> PipelineDraft {
        PipelineDraft {
            name: "Sales".into(),
            stages,
            moves: moves
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    fn keep(id: &str) -> StageDraft {
        StageDraft {
            id: id.into(),
            name: id.into(),
            probability_bp: 5000,
            rotting_days: 0,
        }
    }

    #[test]
    fn removing_a_stage_names_where_its_deals_go() {
        let before = default_pipeline(&tenant());
        let stranded = edit(
            vec![keep("new"), keep("proposal"), keep("negotiation")],
            &[],
        );
        assert_eq!(
            fields(stranded.validate(Some(&before), 12).unwrap_err()),
            ["moves[qualified]"]
        );
        let (_, _, moved) = edit(
            vec![keep("new"), keep("proposal"), keep("negotiation")],
            &[("qualified", "proposal")],
        )
        .validate(Some(&before), 12)
        .unwrap();
        assert_eq!(moved.get("qualified").map(String::as_str), Some("proposal"));
        let after = Pipeline {
            stages: vec![
                keep_stage("new"),
                keep_stage("proposal"),
                keep_stage("negotiation"),
            ],
            moved,
            ..before
        };
        assert_eq!(after.resolve("qualified").unwrap().id, "proposal");
        // Removing the target later carries the earlier removal along.
        let (_, _, moved) = edit(
            vec![keep("new"), keep("negotiation")],
            &[("proposal", "negotiation")],
        )
        .validate(Some(&after), 12)
        .unwrap();
        assert_eq!(
            moved.get("qualified").map(String::as_str),
            Some("negotiation")
        );
        assert_eq!(
            moved.get("proposal").map(String::as_str),
            Some("negotiation")
        );
    }

    fn keep_stage(id: &str) -> Stage {
        Stage {
            id: id.into(),
            name: id.into(),
            probability_bp: 5000,
            rotting_days: None,
        }
    }

    #[test]
    fn moves_must_go_to_a_kept_stage_and_ids_must_exist() {
        let before = default_pipeline(&tenant());
        let draft = edit(
            vec![keep("new"), keep("negotiation"), keep("nope")],
            &[
                ("qualified", "proposal"),
                ("proposal", "new"),
                ("new", "negotiation"),
            ],
        );
        assert_eq!(
            fields(draft.validate(Some(&before), 12).unwrap_err()),
            ["pipeline.stages[2].id", "moves[new]", "moves[qualified]"]
        );
    }

    #[test]
    fn the_default_pipeline_has_one_id_per_tenant() {
        let a = default_pipeline_id(&tenant());
        assert_eq!(a, default_pipeline_id(&tenant()));
        assert_ne!(a, default_pipeline_id(&TenantId::parse("globex").unwrap()));
    }
}
