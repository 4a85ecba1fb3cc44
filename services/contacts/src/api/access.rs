//! Record-level access in the contacts query paths: which records a caller
//! sees, and to whom it may assign one.
//!
//! Visibility comes from the platform's viewer keys (owner, team and its
//! parents, shares), indexed with every record, so a hidden record is never
//! shown: a get answers 404 and a list page holds only visible records.

use rapport_platform::identity::{Permission, Principal, Scope, record_viewers};

use super::ContactsApi;
use crate::{
    domain::{ContactError, Fields, Kind, Record, RecordId},
    store::DuplicateGroup,
};

/// Whether `p` sees `record`.
pub(super) fn sees(p: &Principal, record: &Record) -> bool {
    let f = record.fields();
    p.sees_record(&f.owner, &f.team, &f.shared_with)
}

/// Keeps only the records `p` sees.
pub(super) fn visible(p: &Principal, mut records: Vec<Record>) -> Vec<Record> {
    let scope = p.scope();
    if scope != Scope::All {
        records.retain(|r| {
            let f = r.fields();
            scope.sees(&record_viewers(&f.owner, &f.team, &f.shared_with))
        });
    }
    records
}

/// A new record's owner and team default to the creator's.
pub(super) fn default_assignment(p: &Principal, f: &mut Fields) {
    p.default_assignment(&mut f.owner, &mut f.team);
}

/// Who may give a record to another owner or team
/// ([`Principal::check_assignment`]).
pub(super) fn check_assignment(
    p: &Principal,
    kind: Kind,
    previous: Option<&Fields>,
    next: &Fields,
) -> Result<(), ContactError> {
    p.check_assignment(
        kind.object(),
        previous.map(|f| (f.owner.as_str(), f.team.as_str())),
        &next.owner,
        &next.team,
    )?;
    Ok(())
}

impl ContactsApi {
    /// Groups of records sharing a key, counting only records `p` sees,
    /// after `after` (attr, value); with where the next page starts.
    pub async fn duplicates(
        &self,
        p: &Principal,
        kind: Kind,
        after: Option<(String, String)>,
        size: usize,
    ) -> Result<(Vec<DuplicateGroup>, Option<(String, String)>), ContactError> {
        p.require(Permission::read(kind.object()))?;
        let mut groups = self
            .store
            .duplicate_groups(&p.tenant, kind, after, size)
            .await?;
        let next = match groups.last() {
            Some(g) if groups.len() == size => Some((g.attr.clone(), g.value.clone())),
            _ => None,
        };
        if p.scope() != Scope::All {
            for g in &mut groups {
                let records = self.store.get_many(&p.tenant, &g.ids).await?;
                g.ids = visible(p, records).iter().map(|r| r.id).collect();
            }
            groups.retain(|g| g.ids.len() > 1);
        }
        Ok((groups, next))
    }

    /// A record of `kind` by id, if `p` sees it; a hidden record is not
    /// found, exactly like a missing one.
    pub async fn get_record(
        &self,
        p: &Principal,
        kind: Kind,
        id: &RecordId,
    ) -> Result<Record, ContactError> {
        p.require(Permission::read(kind.object()))?;
        match self.stored(&p.tenant, kind, id).await? {
            Some(r) if sees(p, &r) => Ok(r),
            _ => Err(super::records::not_found(kind, id)),
        }
    }
}
