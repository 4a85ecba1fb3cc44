//! The shape of the published event schemas, for the compatibility check.
//!
//! Partners build on `rapport.events.v1`, so a change may add messages and
//! fields but never remove, renumber or retype one. The committed snapshot
//! `proto/snapshots/rapport.events.v1.txt` lists every field as
//! `Message.field = number type label`; the test below compares the
//! compiled descriptors with it.

use std::collections::BTreeMap;

use prost::Message;
use prost_types::{FileDescriptorSet, field_descriptor_proto::Label};

/// The package whose schemas are published.
pub const EVENTS_PACKAGE: &str = "rapport.events.v1";

/// One field's wire-relevant shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldShape {
    /// Field number.
    pub number: i32,
    /// Scalar type name or fully-qualified message type.
    pub kind: String,
    /// `optional` or `repeated`.
    pub label: String,
}

/// `Message.field` -> shape, for every message of the events package.
pub type Schema = BTreeMap<String, FieldShape>;

/// The schema compiled into this build.
pub fn compiled() -> Schema {
    let set = FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let mut schema = Schema::new();
    for file in set.file.iter().filter(|f| f.package() == EVENTS_PACKAGE) {
        for message in &file.message_type {
            for field in &message.field {
                let kind = match field.type_name() {
                    "" => field
                        .r#type()
                        .as_str_name()
                        .trim_start_matches("TYPE_")
                        .to_lowercase(),
                    name => name.trim_start_matches('.').to_owned(),
                };
                let label = if field.label() == Label::Repeated {
                    "repeated"
                } else {
                    "optional"
                };
                schema.insert(
                    format!("{}.{}", message.name(), field.name()),
                    FieldShape {
                        number: field.number(),
                        kind,
                        label: label.to_owned(),
                    },
                );
            }
        }
    }
    schema
}

/// Renders a schema in the snapshot format.
pub fn render(schema: &Schema) -> String {
    schema
        .iter()
        .map(|(name, f)| format!("{name} = {} {} {}\n", f.number, f.kind, f.label))
        .collect()
}

/// Parses the snapshot format.
pub fn parse(text: &str) -> Result<Schema, String> {
    let mut schema = Schema::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, rest) = line.split_once(" = ").ok_or(format!("bad line {line:?}"))?;
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let [number, kind, label] = parts[..] else {
            return Err(format!("bad line {line:?}"));
        };
        schema.insert(
            name.to_owned(),
            FieldShape {
                number: number
                    .parse()
                    .map_err(|_| format!("bad number in {line:?}"))?,
                kind: kind.to_owned(),
                label: label.to_owned(),
            },
        );
    }
    Ok(schema)
}

/// Every backward-incompatible difference from `published` to `current`.
pub fn incompatibilities(published: &Schema, current: &Schema) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, old) in published {
        match current.get(name) {
            None => problems.push(format!("{name} was removed (field {})", old.number)),
            Some(new) if new.number != old.number => problems.push(format!(
                "{name} was renumbered from {} to {}",
                old.number, new.number
            )),
            Some(new) if new.kind != old.kind || new.label != old.label => problems.push(format!(
                "{name} changed type from {} {} to {} {}",
                old.label, old.kind, new.label, new.kind
            )),
            Some(_) => {}
        }
    }
    // A new field must not reuse the number of a published one.
    for (name, new) in current {
        let message = name.split('.').next().unwrap_or("");
        if !published.contains_key(name)
            && let Some((old_name, _)) = published
                .iter()
                .find(|(n, f)| n.starts_with(&format!("{message}.")) && f.number == new.number)
        {
            problems.push(format!("{name} reuses number {} of {old_name}", new.number));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNAPSHOT_PATH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../proto/snapshots/rapport.events.v1.txt"
    );

    #[test]
    fn published_event_schemas_stay_backward_compatible() {
        let current = compiled();
        let text = std::fs::read_to_string(SNAPSHOT_PATH).expect("committed snapshot");
        let published = parse(&text).expect("snapshot parses");
        let problems = incompatibilities(&published, &current);
        assert!(
            problems.is_empty(),
            "backward-incompatible event schema change:\n  {}",
            problems.join("\n  ")
        );
        if current != published {
            if std::env::var_os("UPDATE_EVENT_SNAPSHOT").is_some() {
                std::fs::write(SNAPSHOT_PATH, render(&current)).unwrap();
            } else {
                panic!(
                    "event schemas gained fields; record them with \
                     UPDATE_EVENT_SNAPSHOT=1 cargo test -p rapport-proto and commit the snapshot"
                );
            }
        }
    }

    #[test]
    fn detects_removed_renumbered_retyped_and_reused_fields() {
        let published = compiled();
        assert!(published.contains_key("EventEnvelope.event_id"));
        let mut current = published.clone();
        current.remove("EventEnvelope.tenant_id");
        current.get_mut("EventEnvelope.event_id").unwrap().number = 99;
        current.get_mut("ContactData.email").unwrap().kind = "bytes".into();
        current.insert(
            "EventEnvelope.tenant".into(),
            FieldShape {
                number: 2,
                kind: "string".into(),
                label: "optional".into(),
            },
        );
        let problems = incompatibilities(&published, &current);
        assert_eq!(problems.len(), 4, "{problems:?}");
    }

    #[test]
    fn additions_are_compatible_and_snapshot_round_trips() {
        let published = compiled();
        let mut current = published.clone();
        current.insert(
            "ContactData.added_later".into(),
            FieldShape {
                number: 100,
                kind: "string".into(),
                label: "repeated".into(),
            },
        );
        assert!(incompatibilities(&published, &current).is_empty());
        assert_eq!(parse(&render(&published)).unwrap(), published);
    }
}
