//! The index entries of a record: one mechanism for every lookup and list.
//!
//! Each entry is `(attr, value)` under the record's tenant and kind; both
//! stores keep them in a query table keyed by `(tenant, kind, attr, value,
//! id)`, so lookups are key reads and lists are range scans, never filters.

use rapport_platform::identity::record_viewers;

use super::{Record, name};

/// Index attributes.
pub mod attr {
    /// Every record (value empty): lists in creation order.
    pub const ALL: &str = "all";
    /// Folded words of the name: name-prefix search.
    pub const NAME: &str = "name";
    /// Folded whole name: sorting by name and same-name duplicates.
    pub const SORT_NAME: &str = "sort_name";
    /// Normalised e-mails.
    pub const EMAIL: &str = "email";
    /// E.164 phones.
    pub const PHONE: &str = "phone";
    /// External id.
    pub const EXTERNAL_ID: &str = "external_id";
    /// Owner user id.
    pub const OWNER: &str = "owner";
    /// Team.
    pub const TEAM: &str = "team";
    /// Viewer keys (owner, team and its parents, shares): record-level
    /// access, see `rapport_platform::identity::record_viewers`.
    pub const VIEWER: &str = "viewer";
    /// Tags, lower case.
    pub const TAG: &str = "tag";
    /// Lifecycle stage.
    pub const STAGE: &str = "stage";
    /// Source channel.
    pub const SOURCE: &str = "source";
    /// Person: linked company ids. Company: parent company id.
    pub const COMPANY: &str = "company";
    /// Content hashes of imported CSV rows.
    pub const IMPORT_ROW: &str = "import_row";
    /// Prefix of custom field values: `cf.<key>`.
    pub const CUSTOM_PREFIX: &str = "cf.";
}

/// Longest value indexed, in bytes: validation allows 200 characters, which
/// is up to 800 bytes of UTF-8 (Bengali and Devanagari take 3 per letter).
/// Longer values (free text) are not searchable.
const MAX_VALUE: usize = 800;

/// One index entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexEntry {
    /// Attribute, see [`attr`].
    pub attr: String,
    /// Value.
    pub value: String,
}

/// Every index entry of `record`, sorted and without repeats.
pub fn index_entries(record: &Record) -> Vec<IndexEntry> {
    let f = record.fields();
    let mut out = Vec::new();
    let mut add = |attr: &str, value: &str| {
        if attr == attr::ALL || (!value.is_empty() && value.len() <= MAX_VALUE) {
            out.push(IndexEntry {
                attr: attr.to_owned(),
                value: value.to_owned(),
            });
        }
    };
    add(attr::ALL, "");
    for token in name::tokens(&f.display_name) {
        add(attr::NAME, &token);
    }
    add(attr::SORT_NAME, &name::fold(&f.display_name));
    f.emails().for_each(|e| add(attr::EMAIL, e));
    f.phones().for_each(|p| add(attr::PHONE, p));
    add(attr::EXTERNAL_ID, &f.external_id);
    add(attr::OWNER, &f.owner);
    add(attr::TEAM, &f.team);
    for key in record_viewers(&f.owner, &f.team, &f.shared_with) {
        add(attr::VIEWER, &key);
    }
    for tag in &f.tags {
        add(attr::TAG, &tag.to_lowercase());
    }
    add(
        attr::STAGE,
        f.lifecycle_stage.map(|s| s.as_str()).unwrap_or(""),
    );
    add(attr::SOURCE, &f.source_channel);
    for link in &f.companies {
        add(attr::COMPANY, &link.company_id);
    }
    add(attr::COMPANY, &f.parent_company_id);
    for (key, value) in &f.custom_fields {
        let attr = format!("{}{key}", attr::CUSTOM_PREFIX);
        match value {
            serde_json::Value::String(s) => add(&attr, s),
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str())
                .for_each(|s| add(&attr, s)),
            _ => {}
        }
    }
    for hash in &record.data.import_hashes {
        add(attr::IMPORT_ROW, hash);
    }
    out.sort();
    out.dedup();
    out
}
