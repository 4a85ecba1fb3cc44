//! Search and lists: one index scan drives, the other conditions filter.
//!
//! The driver is the most selective thing asked: a name prefix, else an
//! exact key (external id, e-mail, phone, company, custom choice, tag,
//! owner, team, stage, source), else every record in creation or name
//! order. Records the driver yields are checked against the remaining
//! conditions. A page reads at most `MAX_SCAN` index entries, so a sparse
//! filter returns a short page with a token rather than a slow answer.

use std::collections::BTreeMap;

use rapport_platform::identity::{Permission, Principal, Scope, TenantId};
use rapport_store::{PageToken, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ContactsApi, access};
use crate::{
    domain::{
        ContactError, Email, Kind, LifecycleStage, Record, RecordId, index::attr, index_entries,
        invalid, name, normalize_phone,
    },
    store::{Scan, ValueMatch},
};

/// Default and largest page sizes (AIP-158).
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 1000;
/// Longest name query (a name is at most 200 characters).
const MAX_QUERY_CHARS: usize = 200;
/// Most index entries one page may read.
const MAX_SCAN: usize = 5000;
/// A caller who sees at most this many records (a rep) is served from
/// them: read whole, filtered and ordered as the driver would, instead of
/// walking the driver's index past records they cannot see.
const SMALL_SCOPE: usize = 2000;
/// Records loaded per read.
const LOAD_CHUNK: usize = 500;

/// Filters; empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Filter {
    /// E-mail.
    pub email: String,
    /// Phone, any notation.
    pub phone: String,
    /// Linked company (people) or parent company (companies).
    pub company_id: String,
    /// Tag.
    pub tag: String,
    /// Owner user id.
    pub owner: String,
    /// Team.
    pub team: String,
    /// Stage.
    pub lifecycle_stage: Option<LifecycleStage>,
    /// Choice custom fields: key -> choice.
    pub custom_fields: BTreeMap<String, String>,
    /// External id.
    pub external_id: String,
    /// Source channel.
    pub source_channel: String,
}

/// Result order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Order {
    /// Oldest first.
    #[default]
    CreateTime,
    /// Newest first.
    CreateTimeDesc,
    /// By folded name.
    Name,
}

impl Order {
    /// Parses `order_by` (AIP-132).
    pub fn parse(s: &str) -> Result<Self, ContactError> {
        match s
            .trim()
            .to_ascii_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .as_slice()
        {
            [] | ["create_time"] | ["create_time", "asc"] => Ok(Order::CreateTime),
            ["create_time", "desc"] => Ok(Order::CreateTimeDesc),
            ["display_name"] | ["name"] | ["display_name", "asc"] | ["name", "asc"] => {
                Ok(Order::Name)
            }
            _ => Err(invalid(
                "order_by",
                "one of \"create_time\", \"create_time desc\", \"display_name\"",
            )),
        }
    }
}

/// A search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    /// People or companies.
    pub kind: Kind,
    /// Name prefix words.
    pub query: String,
    /// Filters.
    pub filter: Filter,
    /// Order.
    pub order: Order,
    /// Page size (0 = default).
    pub page_size: usize,
    /// Token of the previous page.
    pub page_token: String,
    /// Count all matches when cheap.
    pub include_total_size: bool,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            kind: Kind::Person,
            query: String::new(),
            filter: Filter::default(),
            order: Order::default(),
            page_size: 0,
            page_token: String::new(),
            include_total_size: false,
        }
    }
}

/// One page of results.
#[derive(Clone, Debug)]
pub struct SearchPage {
    /// The records.
    pub records: Vec<Record>,
    /// Token of the next page; empty on the last.
    pub next_page_token: String,
    /// All matches, when asked and cheap; -1 otherwise.
    pub total_size: i64,
}

/// Where the next page starts, bound to the query that issued it.
#[derive(Serialize, Deserialize)]
struct Cursor {
    /// Hash of the query.
    q: String,
    /// Last index value read.
    v: String,
    /// Last id read.
    i: String,
}

impl ContactsApi {
    /// Runs a search over the records `p` sees. A page holds only visible
    /// records; with no condition, a caller who sees part of the tenant
    /// reads the merged ranges of its viewer keys, not the whole tenant.
    pub async fn search(&self, p: &Principal, q: SearchQuery) -> Result<SearchPage, ContactError> {
        p.require(Permission::read(q.kind.object()))?;
        let tenant = &p.tenant;
        let scope = p.scope();
        let page_size = match q.page_size {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        if q.query.chars().count() > MAX_QUERY_CHARS {
            return Err(invalid(
                "query",
                format!("longer than {MAX_QUERY_CHARS} characters"),
            ));
        }
        let conditions = self.conditions(tenant, &q).await?;
        let words = name::tokens(&q.query);
        let (driver_attr, values, descending, rest) =
            if let Some(longest) = words.iter().max_by_key(|w| w.chars().count()) {
                if q.order != Order::CreateTime && q.order != Order::Name {
                    return Err(invalid("order_by", "a name search is ordered by name"));
                }
                (
                    attr::NAME.to_owned(),
                    ValueMatch::Prefix(longest.clone()),
                    false,
                    conditions.clone(),
                )
            } else if q.order == Order::Name {
                (
                    attr::SORT_NAME.to_owned(),
                    ValueMatch::Prefix(String::new()),
                    false,
                    conditions.clone(),
                )
            } else if let Some((first, rest)) = conditions.split_first() {
                (
                    first.0.clone(),
                    ValueMatch::Exact(first.1.clone()),
                    q.order == Order::CreateTimeDesc,
                    rest.to_vec(),
                )
            } else {
                (
                    attr::ALL.to_owned(),
                    ValueMatch::Exact(String::new()),
                    q.order == Order::CreateTimeDesc,
                    Vec::new(),
                )
            };
        let query_hash = {
            let mut h = Sha256::new();
            h.update(format!(
                "{:?}|{}|{:?}|{:?}",
                q.kind, q.query, q.filter, q.order
            ));
            let digest = h.finalize();
            digest
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let mut after = match PageToken::decode(&q.page_token)? {
            None => None,
            Some(token) => {
                let c: Cursor = serde_json::from_slice(token.as_bytes())
                    .map_err(|_| StoreError::InvalidPageToken)?;
                if c.q != query_hash {
                    return Err(StoreError::InvalidPageToken.into());
                }
                Some((
                    c.v,
                    RecordId::parse(&c.i).map_err(|_| StoreError::InvalidPageToken)?,
                ))
            }
        };
        // Keys of the visible ranges, when they drive the scan.
        let viewer_keys = match &scope {
            Scope::Only(keys) if driver_attr == attr::ALL => Some(keys),
            _ => None,
        };
        let total_size = if q.include_total_size
            && scope == Scope::All
            && words.is_empty()
            && rest.is_empty()
            && q.order != Order::Name
        {
            match &values {
                ValueMatch::Exact(v) => self
                    .store
                    .count(tenant, q.kind, &driver_attr, v)
                    .await?
                    .map(|n| n as i64)
                    .unwrap_or(-1),
                ValueMatch::Prefix(_) => -1,
            }
        } else {
            -1
        };

        let scope_keys: Vec<String> = match &scope {
            Scope::Only(keys) => keys.iter().cloned().collect(),
            Scope::All => Vec::new(),
        };
        // The driver's scan from a cursor, and whether a hit belongs on the page.
        let scan_from = |after: &Option<(String, RecordId)>, limit: usize| Scan {
            kind: q.kind,
            attr: driver_attr.clone(),
            values: values.clone(),
            after: after.clone(),
            descending,
            limit,
        };
        let wanted = |record: &Record, hit: &crate::store::Hit| {
            access::sees(p, record)
                && matches(record, &rest, &words, &driver_attr, &hit.value, &values)
        };
        let mut records = Vec::new();
        let mut scanned = 0;
        let mut exhausted = false;
        let few = match (&scope, viewer_keys) {
            (Scope::Only(keys), None) => self.visible_if_few(tenant, q.kind, keys).await?,
            _ => None,
        };
        if let Some(visible) = few {
            // Every record the caller sees is at hand: the driver's hits
            // among them, in the driver's order, are the whole answer.
            exhausted = true;
            for (hit, record) in driver_hits(&visible, &scan_from(&after, usize::MAX)) {
                after = Some((hit.value.clone(), hit.id));
                if wanted(record, &hit) {
                    records.push(record.clone());
                    if records.len() == page_size {
                        break;
                    }
                }
            }
        }
        // Whether the caller's scope hides some of the driver's hits: then
        // every round reads twice as many as the last (up to 1000), since
        // visible hits are thin where the previous round found too few.
        let thinned = matches!((&scope, viewer_keys), (Scope::Only(_), None));
        let mut rounds = 0;
        while !exhausted && records.len() < page_size && scanned < MAX_SCAN {
            let missing = page_size - records.len() + 1;
            let growth = if thinned { 1 << rounds } else { 1 };
            let limit = (missing * growth).clamp(50, if thinned { 1000 } else { 500 });
            rounds = (rounds + 1).min(5);
            let scan = scan_from(&after, limit);
            let hits = match viewer_keys {
                Some(keys) => self.scan_merged(tenant, scan, keys).await?,
                None => self.store.scan(tenant, &scan).await?,
            };
            scanned += hits.len();
            exhausted = hits.len() < limit;
            let mut ids: Vec<RecordId> = hits.iter().map(|h| h.id).collect();
            if thinned {
                // Only what the caller sees is loaded: the index says which.
                let seen = self
                    .store
                    .visible_among(tenant, q.kind, &scope_keys, &ids)
                    .await?;
                ids.retain(|id| seen.contains(id));
            }
            let loaded = self.store.get_many(tenant, &ids).await?;
            for hit in &hits {
                after = Some((hit.value.clone(), hit.id));
                let Some(record) = loaded.iter().find(|r| r.id == hit.id) else {
                    continue;
                };
                if wanted(record, hit) {
                    records.push(record.clone());
                    if records.len() == page_size {
                        break;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        // More may follow when the page filled up (the batch may hold more)
        // or the scan stopped at its cap before the end of the index.
        let more = records.len() == page_size || !exhausted;
        let next_page_token = match (&after, more) {
            (Some((v, i)), true) => PageToken::from_bytes(
                serde_json::to_vec(&Cursor {
                    q: query_hash,
                    v: v.clone(),
                    i: i.to_string(),
                })
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )
            .encode(),
            _ => String::new(),
        };
        Ok(SearchPage {
            records,
            next_page_token,
            total_size,
        })
    }

    /// Every record of `kind` a caller with viewer `keys` sees, if there are
    /// at most [`SMALL_SCOPE`]; `None` (having read at most one range past
    /// the bound) when there are more.
    async fn visible_if_few(
        &self,
        tenant: &TenantId,
        kind: Kind,
        keys: &std::collections::BTreeSet<String>,
    ) -> Result<Option<Vec<Record>>, ContactError> {
        let mut ids = std::collections::BTreeSet::new();
        for key in keys {
            let range = Scan {
                kind,
                attr: attr::VIEWER.to_owned(),
                values: ValueMatch::Exact(key.clone()),
                after: None,
                descending: false,
                limit: SMALL_SCOPE + 1,
            };
            ids.extend(
                self.store
                    .scan(tenant, &range)
                    .await?
                    .into_iter()
                    .map(|h| h.id),
            );
            if ids.len() > SMALL_SCOPE {
                return Ok(None);
            }
        }
        let ids: Vec<RecordId> = ids.into_iter().collect();
        let mut records = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(LOAD_CHUNK) {
            records.extend(self.store.get_many(tenant, chunk).await?);
        }
        Ok(Some(records))
    }

    /// The union of the viewer-key ranges in id order, as if it were one
    /// scan of `all` (value empty): each range is read up to the limit, so
    /// the first `limit` distinct ids of the union are all among them.
    async fn scan_merged(
        &self,
        tenant: &TenantId,
        scan: Scan,
        keys: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<crate::store::Hit>, ContactError> {
        let after_id = scan.after.as_ref().map(|(_, id)| *id);
        let mut ids = Vec::new();
        for key in keys {
            let range = Scan {
                attr: attr::VIEWER.to_owned(),
                values: ValueMatch::Exact(key.clone()),
                after: after_id.map(|id| (key.clone(), id)),
                ..scan.clone()
            };
            ids.extend(
                self.store
                    .scan(tenant, &range)
                    .await?
                    .into_iter()
                    .map(|h| h.id),
            );
        }
        ids.sort_unstable();
        ids.dedup();
        if scan.descending {
            ids.reverse();
        }
        ids.truncate(scan.limit);
        Ok(ids
            .into_iter()
            .map(|id| crate::store::Hit {
                value: String::new(),
                id,
            })
            .collect())
    }

    /// The filter as index conditions, most selective first.
    async fn conditions(
        &self,
        tenant: &TenantId,
        q: &SearchQuery,
    ) -> Result<Vec<(String, String)>, ContactError> {
        let f = &q.filter;
        let mut out: Vec<(String, String)> = Vec::new();
        let mut push = |a: &str, v: String| out.push((a.to_owned(), v));
        if !f.external_id.trim().is_empty() {
            push(attr::EXTERNAL_ID, f.external_id.trim().to_owned());
        }
        if !f.email.trim().is_empty() {
            let e = Email::parse(&f.email)
                .map_err(|e| invalid("filter.email", format!("not a valid e-mail address: {e}")))?;
            push(attr::EMAIL, e.to_string());
        }
        if !f.phone.trim().is_empty() {
            let region = self.region(tenant).await?;
            let p = normalize_phone(&f.phone, region)
                .map_err(|e| invalid("filter.phone", format!("not a phone number: {e}")))?;
            push(attr::PHONE, p);
        }
        if !f.company_id.trim().is_empty() {
            push(attr::COMPANY, RecordId::parse(&f.company_id)?.to_string());
        }
        if !f.custom_fields.is_empty() {
            let defs = self.store.custom_fields(tenant, Some(q.kind)).await?;
            for (key, value) in &f.custom_fields {
                match defs.iter().find(|d| &d.key == key) {
                    Some(d) if d.field_type.is_choice() => push(
                        &format!("{}{key}", attr::CUSTOM_PREFIX),
                        value.trim().to_owned(),
                    ),
                    _ => {
                        return Err(invalid(
                            format!("filter.custom_fields.{key}"),
                            "not a choice custom field",
                        ));
                    }
                }
            }
        }
        if !f.tag.trim().is_empty() {
            push(attr::TAG, f.tag.trim().to_lowercase());
        }
        if !f.owner.trim().is_empty() {
            push(attr::OWNER, f.owner.trim().to_owned());
        }
        if !f.team.trim().is_empty() {
            push(attr::TEAM, f.team.trim().to_owned());
        }
        if let Some(s) = f.lifecycle_stage {
            push(attr::STAGE, s.as_str().to_owned());
        }
        if !f.source_channel.trim().is_empty() {
            push(
                attr::SOURCE,
                f.source_channel
                    .trim()
                    .to_lowercase()
                    .replace([' ', '-'], "_"),
            );
        }
        Ok(out)
    }
}

/// The entries `scan` would read, restricted to `records`: their index
/// entries of the scan's attribute and values, in the scan's order, after
/// its cursor.
fn driver_hits<'r>(records: &'r [Record], scan: &Scan) -> Vec<(crate::store::Hit, &'r Record)> {
    let mut hits: Vec<(crate::store::Hit, &Record)> = records
        .iter()
        .filter(|r| r.kind() == scan.kind)
        .flat_map(|r| {
            index_entries(r)
                .into_iter()
                .filter(|e| {
                    e.attr == scan.attr
                        && match &scan.values {
                            ValueMatch::Exact(v) => &e.value == v,
                            ValueMatch::Prefix(p) => e.value.starts_with(p.as_str()),
                        }
                })
                .map(move |e| {
                    (
                        crate::store::Hit {
                            value: e.value,
                            id: r.id,
                        },
                        r,
                    )
                })
        })
        .collect();
    let key = |h: &crate::store::Hit| (h.value.clone(), h.id);
    hits.sort_by_key(|(h, _)| key(h));
    if scan.descending {
        hits.reverse();
    }
    if let Some(after) = &scan.after {
        hits.retain(|(h, _)| {
            if scan.descending {
                key(h) < *after
            } else {
                key(h) > *after
            }
        });
    }
    hits
}

/// Whether a record the driver yielded matches everything else. For name
/// prefixes, only the record's first matching word counts, so a record
/// appears once even when several of its words match.
fn matches(
    record: &Record,
    conditions: &[(String, String)],
    words: &[String],
    driver_attr: &str,
    hit_value: &str,
    driver: &ValueMatch,
) -> bool {
    let entries = index_entries(record);
    let has = |a: &str, v: &str| entries.iter().any(|e| e.attr == a && e.value == v);
    if !conditions.iter().all(|(a, v)| has(a, v)) {
        return false;
    }
    if words.is_empty() {
        return true;
    }
    let record_words = name::tokens(&record.fields().display_name);
    if !words
        .iter()
        .all(|w| record_words.iter().any(|rw| rw.starts_with(w.as_str())))
    {
        return false;
    }
    match (driver_attr == attr::NAME, driver) {
        (true, ValueMatch::Prefix(p)) => {
            record_words
                .iter()
                .filter(|rw| rw.starts_with(p.as_str()))
                .min()
                .map(String::as_str)
                == Some(hit_value)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_by_accepts_the_documented_forms_only() {
        assert_eq!(Order::parse("").unwrap(), Order::CreateTime);
        assert_eq!(
            Order::parse("create_time DESC").unwrap(),
            Order::CreateTimeDesc
        );
        assert_eq!(Order::parse(" display_name ").unwrap(), Order::Name);
        for bad in ["email", "create_time sideways", "display_name desc"] {
            assert!(Order::parse(bad).is_err(), "{bad}");
        }
    }

    /// A rep whose few records sort after more than a scan's worth of
    /// others with the same name prefix still gets them on one full page.
    #[tokio::test]
    async fn a_rep_gets_full_pages_of_their_own_among_many_hidden_matches() {
        use std::sync::Arc;

        use chrono::Utc;
        use rapport_platform::{
            identity::{Role, UserId},
            outbox_relay::OutboxSignal,
        };

        use crate::{
            domain::{Fields, Record, Region},
            store::{ChangeSet, ContactStore, Put, SqliteContactStore},
        };

        let dir = tempfile::tempdir().unwrap();
        let store = SqliteContactStore::open(&dir.path().join("contacts.db"))
            .await
            .unwrap();
        let tenant = TenantId::parse("acme").unwrap();
        let person = |name: String, owner: &str| {
            let fields = Fields {
                display_name: name,
                owner: owner.into(),
                ..Default::default()
            };
            Record::new(tenant.clone(), Kind::Person, fields, owner, Utc::now())
        };
        // Hidden matches sort first ("zoa" < "zoz"), more than MAX_SCAN.
        let mut puts: Vec<Put> = (0..MAX_SCAN + 200)
            .map(|i| person(format!("Zoa{i:05} Other"), "someone-else"))
            .chain((0..12).map(|i| person(format!("Zoz{i:02} Mine"), "rep-1")))
            .map(|record| Put {
                record,
                previous: None,
            })
            .collect();
        for chunk in puts.chunks_mut(1000) {
            let changes = ChangeSet {
                puts: chunk.to_vec(),
                ..Default::default()
            };
            store.commit(&tenant, &changes).await.unwrap();
        }
        let api = ContactsApi::new(
            Arc::new(store),
            OutboxSignal::default(),
            Region::parse("US").unwrap(),
            Vec::new(),
        );
        let rep = Principal {
            tenant: tenant.clone(),
            user: UserId::parse("rep-1").unwrap(),
            roles: vec![Role::Rep],
            teams: Vec::new(),
            scopes: None,
            grants: Vec::new(),
        };
        let query = |page_token: String| SearchQuery {
            query: "Zo".into(),
            page_size: 10,
            page_token,
            ..Default::default()
        };
        let first = api.search(&rep, query(String::new())).await.unwrap();
        let names: Vec<String> = first
            .records
            .iter()
            .map(|r| r.fields().display_name.clone())
            .collect();
        let expected: Vec<String> = (0..10).map(|i| format!("Zoz{i:02} Mine")).collect();
        assert_eq!(names, expected, "a full first page, in name order");
        let second = api
            .search(&rep, query(first.next_page_token))
            .await
            .unwrap();
        let names: Vec<String> = second
            .records
            .iter()
            .map(|r| r.fields().display_name.clone())
            .collect();
        assert_eq!(names, ["Zoz10 Mine", "Zoz11 Mine"]);
        assert!(second.next_page_token.is_empty(), "nothing more to read");
    }
}
