//! Create, read, update, look up, merge and hand over people and companies.

use std::collections::HashSet;

use chrono::Utc;
use rapport_platform::{
    error::FieldViolation,
    identity::{Action, Object, Permission, Principal, TeamId, TenantId, UserId},
};

use super::{ContactsApi, access};
use crate::{
    domain::{
        ContactError, Email, Fields, Kind, PhoneReadings, Record, RecordId, WriteRules, apply_mask,
        changed_fields, index::attr, invalid, merge_into, phone_readings,
    },
    events,
    store::{ChangeSet, Put, UniqueKey},
};

/// Most records merged into one survivor at once.
const MAX_MERGE: usize = 50;
/// How deep a holding may nest (parent chains are walked to find cycles).
const MAX_HOLDING_DEPTH: usize = 32;
/// Records reassigned per atomic change set during a handover.
const HANDOVER_BATCH: usize = 200;

/// Which records a handover moves.
#[derive(Clone, Debug)]
pub enum Handover {
    /// These records.
    Ids(Vec<RecordId>),
    /// Everything of these kinds matching a filter.
    Filter(Box<super::Filter>, Vec<Kind>),
    /// Everything this user owns.
    FromOwner(String),
}

pub(super) fn not_found(kind: Kind, id: impl ToString) -> ContactError {
    ContactError::NotFound {
        kind: match kind {
            Kind::Person => "contact",
            Kind::Company => "company",
        },
        id: id.to_string(),
    }
}

/// The keys that identify a record: every e-mail, phone and external id.
pub(super) fn identity_keys(kind: Kind, f: &Fields) -> Vec<UniqueKey> {
    let key = |attr: &'static str, value: &str| UniqueKey {
        kind,
        attr,
        value: value.to_owned(),
    };
    f.emails()
        .map(|e| key(attr::EMAIL, e))
        .chain(f.phones().map(|p| key(attr::PHONE, p)))
        .chain((!f.external_id.is_empty()).then(|| key(attr::EXTERNAL_ID, &f.external_id)))
        .collect()
}

impl ContactsApi {
    /// A stored record of `kind` by id, whoever may see it: for checks
    /// that span the tenant (links, holdings). Callers get records through
    /// [`ContactsApi::get_record`].
    pub(super) async fn stored(
        &self,
        tenant: &TenantId,
        kind: Kind,
        id: &RecordId,
    ) -> Result<Option<Record>, ContactError> {
        Ok(self
            .store
            .get(tenant, id)
            .await?
            .filter(|r| r.kind() == kind))
    }

    /// Validates `fields` and builds a new record (not stored).
    pub(super) async fn new_record(
        &self,
        p: &Principal,
        kind: Kind,
        mut fields: Fields,
    ) -> Result<Record, ContactError> {
        let (region, defs) = self.write_context(&p.tenant, kind).await?;
        access::default_assignment(p, &mut fields);
        let violations = fields.normalize(WriteRules {
            kind,
            region,
            custom_fields: &defs,
            previous: None,
        });
        if !violations.is_empty() {
            return Err(ContactError::Invalid(violations));
        }
        access::check_assignment(p, kind, None, &fields)?;
        self.check_links(&p.tenant, kind, &fields, None).await?;
        Ok(Record::new(
            p.tenant.clone(),
            kind,
            fields,
            p.user.as_str(),
            Utc::now(),
        ))
    }

    /// Creates a person or company. Unless `allow_duplicate`, an e-mail,
    /// phone or external id another record has is refused with its id.
    pub async fn create_record(
        &self,
        p: &Principal,
        kind: Kind,
        fields: Fields,
        allow_duplicate: bool,
    ) -> Result<Record, ContactError> {
        p.require(Permission::write(kind.object()))?;
        let record = self.new_record(p, kind, fields).await?;
        let unique = if allow_duplicate {
            Vec::new()
        } else {
            identity_keys(kind, record.fields())
        };
        let changes = ChangeSet {
            events: vec![events::created(p, &record)],
            puts: vec![Put {
                record: record.clone(),
                previous: None,
            }],
            unique,
            ..Default::default()
        };
        self.commit(p, changes).await?;
        Ok(record)
    }

    /// Updates the masked fields, if `etag` (when given) is current.
    pub async fn update_record(
        &self,
        p: &Principal,
        kind: Kind,
        id: &RecordId,
        input: Fields,
        etag: &str,
        mask: &[String],
    ) -> Result<Record, ContactError> {
        p.require(Permission::write(kind.object()))?;
        let current = self.get_record(p, kind, id).await?;
        if !current.etag_matches(etag) {
            return Err(ContactError::Conflict(id.to_string()));
        }
        let mut fields =
            apply_mask(kind, current.fields(), &input, mask).map_err(ContactError::Invalid)?;
        if fields.owner.trim().is_empty() {
            fields.owner.clone_from(&current.fields().owner);
        }
        let (region, defs) = self.write_context(&p.tenant, kind).await?;
        let violations = fields.normalize(WriteRules {
            kind,
            region,
            custom_fields: &defs,
            previous: Some(current.fields()),
        });
        if !violations.is_empty() {
            return Err(ContactError::Invalid(violations));
        }
        access::check_assignment(p, kind, Some(current.fields()), &fields)?;
        self.check_links(&p.tenant, kind, &fields, Some(id)).await?;
        let known: HashSet<UniqueKey> = identity_keys(kind, current.fields()).into_iter().collect();
        let unique = identity_keys(kind, &fields)
            .into_iter()
            .filter(|k| !known.contains(k))
            .collect();
        let Some(changes) = self.replace(p, &current, fields)? else {
            return Ok(current);
        };
        let record = changes.puts[0].record.clone();
        self.commit(p, ChangeSet { unique, ..changes }).await?;
        Ok(record)
    }

    /// The change set replacing `current`'s fields (with its events), or
    /// `None` when nothing changes.
    pub(super) fn replace(
        &self,
        p: &Principal,
        current: &Record,
        fields: Fields,
    ) -> Result<Option<ChangeSet>, ContactError> {
        let kind = current.kind();
        let changed = changed_fields(kind, current.fields(), &fields);
        if changed.is_empty() {
            return Ok(None);
        }
        let mut next = current.clone();
        let previous_owner = current.fields().owner.clone();
        next.data.fields = fields;
        next.data.version += 1;
        next.data.update_time = Utc::now();
        next.data.updated_by = p.user.to_string();
        let mut evs = vec![events::updated(p, &next, changed)];
        if next.fields().owner != previous_owner {
            evs.push(events::owner_changed(p, &next, &previous_owner));
        }
        Ok(Some(ChangeSet {
            puts: vec![Put {
                record: next,
                previous: Some(current.clone()),
            }],
            events: evs,
            ..Default::default()
        }))
    }

    /// Company links must name companies of the tenant; holdings must not
    /// form cycles.
    async fn check_links(
        &self,
        tenant: &TenantId,
        kind: Kind,
        f: &Fields,
        own_id: Option<&RecordId>,
    ) -> Result<(), ContactError> {
        let p = kind.field_prefix();
        let mut violations = Vec::new();
        for (i, link) in f.companies.iter().enumerate() {
            let id = RecordId::parse(&link.company_id)?;
            if self.stored(tenant, Kind::Company, &id).await?.is_none() {
                violations.push(FieldViolation::new(
                    format!("{p}.companies[{i}].company_id"),
                    "no such company",
                ));
            }
        }
        if !f.parent_company_id.is_empty() {
            let mut next = Some(RecordId::parse(&f.parent_company_id)?);
            let mut depth = 0;
            while let Some(id) = next {
                if Some(&id) == own_id || depth > MAX_HOLDING_DEPTH {
                    violations.push(FieldViolation::new(
                        format!("{p}.parent_company_id"),
                        "would make the holding a cycle (or deeper than 32 levels)",
                    ));
                    break;
                }
                match self.stored(tenant, Kind::Company, &id).await? {
                    Some(parent) => {
                        next = RecordId::parse(&parent.fields().parent_company_id).ok();
                    }
                    None if depth == 0 => {
                        violations.push(FieldViolation::new(
                            format!("{p}.parent_company_id"),
                            "no such company",
                        ));
                        break;
                    }
                    None => break,
                }
                depth += 1;
            }
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ContactError::Invalid(violations))
        }
    }

    /// Records `p` sees with this phone, e-mail or external id (a key read).
    pub async fn lookup(
        &self,
        p: &Principal,
        kind: Kind,
        key: &'static str,
        raw: &str,
    ) -> Result<Vec<Record>, ContactError> {
        p.require(Permission::read(kind.object()))?;
        let found = self.lookup_any(&p.tenant, kind, key, raw).await?;
        Ok(access::visible(p, found))
    }

    /// Records with this key, whoever may see them.
    async fn lookup_any(
        &self,
        tenant: &TenantId,
        kind: Kind,
        key: &'static str,
        raw: &str,
    ) -> Result<Vec<Record>, ContactError> {
        let value = match key {
            attr::PHONE => {
                return self.lookup_phone(tenant, kind, raw).await;
            }
            attr::EMAIL => Email::parse(raw)
                .map_err(|e| invalid("email", format!("not a valid e-mail address: {e}")))?
                .to_string(),
            _ if raw.trim().is_empty() => return Err(invalid(key, "required")),
            _ => raw.trim().to_owned(),
        };
        self.records_with(tenant, kind, key, std::slice::from_ref(&value))
            .await
    }

    /// Records with this phone. The number read in the tenant's region
    /// wins; only when nobody has it (or it is not valid there) are its
    /// readings as a national number of other regions tried, in one read
    /// (a caller's number written the way its own country writes it).
    async fn lookup_phone(
        &self,
        tenant: &TenantId,
        kind: Kind,
        raw: &str,
    ) -> Result<Vec<Record>, ContactError> {
        let region = self.region(tenant).await?;
        let bad =
            |e: crate::domain::PhoneError| invalid("phone", format!("not a phone number: {e}"));
        let first = phone_readings(raw, region, false);
        if let Ok(PhoneReadings {
            in_region: Some(e164),
            ..
        }) = &first
        {
            let found = self
                .records_with(tenant, kind, attr::PHONE, std::slice::from_ref(e164))
                .await?;
            if !found.is_empty() {
                return Ok(found);
            }
        }
        let elsewhere = match phone_readings(raw, region, true) {
            Ok(r) => r.elsewhere,
            // The reading in the region was valid and found nobody.
            Err(_)
                if matches!(
                    first,
                    Ok(PhoneReadings {
                        in_region: Some(_),
                        ..
                    })
                ) =>
            {
                Vec::new()
            }
            Err(e) => return Err(bad(e)),
        };
        if elsewhere.is_empty() {
            return Ok(Vec::new());
        }
        self.records_with(tenant, kind, attr::PHONE, &elsewhere)
            .await
    }

    /// Records with any of `values` under `key`, each once.
    async fn records_with(
        &self,
        tenant: &TenantId,
        kind: Kind,
        key: &str,
        values: &[String],
    ) -> Result<Vec<Record>, ContactError> {
        let hits = self.store.find(tenant, kind, key, values).await?;
        let mut ids: Vec<RecordId> = hits.into_iter().map(|h| h.id).collect();
        let mut seen = HashSet::new();
        ids.retain(|id| seen.insert(*id));
        Ok(self.store.get_many(tenant, &ids).await?)
    }

    /// Merges `merged` into `survivor` and re-points what linked to them.
    pub async fn merge(
        &self,
        p: &Principal,
        kind: Kind,
        survivor_id: &RecordId,
        merged: &[RecordId],
        etag: &str,
    ) -> Result<Record, ContactError> {
        p.require(Permission::Record(kind.object(), Action::Merge))?;
        let distinct: HashSet<&RecordId> = merged.iter().collect();
        if merged.is_empty() || merged.len() > MAX_MERGE {
            return Err(invalid(
                "merged_ids",
                format!("name 1 to {MAX_MERGE} records to merge"),
            ));
        }
        if distinct.len() != merged.len() || distinct.contains(survivor_id) {
            return Err(invalid("merged_ids", "ids repeat or include the survivor"));
        }
        let survivor = self.get_record(p, kind, survivor_id).await?;
        if !survivor.etag_matches(etag) {
            return Err(ContactError::Conflict(survivor_id.to_string()));
        }
        let mut others = Vec::new();
        for id in merged {
            others.push(self.get_record(p, kind, id).await?);
        }
        let mut fields = survivor.fields().clone();
        for other in &others {
            merge_into(&mut fields, other.fields());
        }
        let gone: HashSet<String> = merged.iter().map(ToString::to_string).collect();
        fields.companies.retain(|l| !gone.contains(&l.company_id));
        // A merged company's parent may be the survivor itself.
        if gone.contains(&fields.parent_company_id)
            || fields.parent_company_id == survivor_id.to_string()
        {
            fields.parent_company_id.clear();
        }
        let mut changes = self.replace(p, &survivor, fields)?.unwrap_or_default();
        let mut next = match changes.puts.first() {
            Some(put) => put.record.clone(),
            None => survivor.clone(),
        };
        // Rows that created the merged records count as the survivor's.
        for other in &others {
            next.data
                .import_hashes
                .extend(other.data.import_hashes.iter().cloned());
        }
        if changes.puts.is_empty() {
            next.data.version += 1;
            next.data.update_time = Utc::now();
            next.data.updated_by = p.user.to_string();
        }
        changes.puts = vec![Put {
            record: next.clone(),
            previous: Some(survivor.clone()),
        }];
        changes.events.insert(0, events::merged(p, &next, merged));
        changes.deletes = others;
        // People at a merged company and its subsidiaries now point at
        // the survivor.
        if kind == Kind::Company {
            let survivor_text = survivor_id.to_string();
            let ids: Vec<String> = gone.iter().cloned().collect();
            for linked_kind in [Kind::Person, Kind::Company] {
                let hits = self
                    .store
                    .find(&p.tenant, linked_kind, attr::COMPANY, &ids)
                    .await?;
                let linked_ids: Vec<RecordId> = hits
                    .into_iter()
                    .map(|h| h.id)
                    .filter(|id| id != survivor_id && !merged.contains(id))
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                for linked in self.store.get_many(&p.tenant, &linked_ids).await? {
                    let mut f = linked.fields().clone();
                    for l in &mut f.companies {
                        if gone.contains(&l.company_id) {
                            l.company_id.clone_from(&survivor_text);
                        }
                    }
                    let mut seen = HashSet::new();
                    f.companies.retain(|l| seen.insert(l.company_id.clone()));
                    if gone.contains(&f.parent_company_id) {
                        f.parent_company_id.clone_from(&survivor_text);
                    }
                    if let Some(c) = self.replace(p, &linked, f)? {
                        changes.puts.extend(c.puts);
                        changes.events.extend(c.events);
                    }
                }
            }
        }
        self.commit(p, changes).await?;
        Ok(next)
    }

    /// Reassigns the owner (and optionally the team) of the selected
    /// records, in atomic batches; returns how many changed.
    pub async fn reassign(
        &self,
        p: &Principal,
        selection: Handover,
        new_owner: &str,
        new_team: &str,
    ) -> Result<u64, ContactError> {
        // Each record needs its own object's permission (checked as it
        // moves); the caller must hold at least one to ask.
        let people = Permission::Record(Object::Contacts, Action::Reassign);
        if !p.may(Permission::Record(Object::Companies, Action::Reassign)) {
            p.require(people)?;
        }
        let new_owner = UserId::parse(new_owner.trim())
            .map_err(|_| invalid("new_owner", "required: the user id of the new owner"))?
            .to_string();
        let new_team = new_team.trim();
        if !new_team.is_empty() {
            TeamId::parse(new_team).map_err(|e| invalid("new_team", e.to_string()))?;
        }
        let mut moved = 0;
        match selection {
            Handover::Ids(mut ids) => {
                ids.sort();
                ids.dedup();
                for chunk in ids.chunks(HANDOVER_BATCH) {
                    // A record the caller does not see is not found.
                    let records = access::visible(p, self.store.get_many(&p.tenant, chunk).await?);
                    if records.len() != chunk.len() {
                        let found: HashSet<RecordId> = records.iter().map(|r| r.id).collect();
                        let missing = chunk.iter().find(|id| !found.contains(id));
                        return Err(not_found(
                            Kind::Person,
                            missing.map(ToString::to_string).unwrap_or_default(),
                        ));
                    }
                    moved += self.hand_over(p, records, &new_owner, new_team).await?;
                }
            }
            Handover::FromOwner(owner) => {
                let filter = super::Filter {
                    owner: owner.trim().to_owned(),
                    ..Default::default()
                };
                for kind in [Kind::Person, Kind::Company] {
                    moved += self
                        .hand_over_matching(p, kind, &filter, &new_owner, new_team)
                        .await?;
                }
            }
            Handover::Filter(filter, _) if *filter == super::Filter::default() => {
                return Err(invalid(
                    "filter",
                    "name at least one filter (use from_owner to hand over everything a user owns)",
                ));
            }
            Handover::Filter(filter, kinds) => {
                for kind in kinds {
                    moved += self
                        .hand_over_matching(p, kind, &filter, &new_owner, new_team)
                        .await?;
                }
            }
        }
        Ok(moved)
    }

    async fn hand_over_matching(
        &self,
        p: &Principal,
        kind: Kind,
        filter: &super::Filter,
        new_owner: &str,
        new_team: &str,
    ) -> Result<u64, ContactError> {
        let mut moved = 0;
        let mut token = String::new();
        loop {
            let page = self
                .search(
                    p,
                    super::SearchQuery {
                        kind,
                        filter: filter.clone(),
                        page_size: HANDOVER_BATCH,
                        page_token: token,
                        ..Default::default()
                    },
                )
                .await?;
            moved += self.hand_over(p, page.records, new_owner, new_team).await?;
            if page.next_page_token.is_empty() {
                return Ok(moved);
            }
            token = page.next_page_token;
        }
    }

    async fn hand_over(
        &self,
        p: &Principal,
        records: Vec<Record>,
        new_owner: &str,
        new_team: &str,
    ) -> Result<u64, ContactError> {
        let mut changes = ChangeSet::default();
        for r in records {
            p.require(Permission::Record(r.kind().object(), Action::Reassign))?;
            let mut f = r.fields().clone();
            f.owner = new_owner.to_owned();
            if !new_team.trim().is_empty() {
                f.team = new_team.trim().to_owned();
            }
            if let Some(c) = self.replace(p, &r, f)? {
                changes.puts.extend(c.puts);
                changes.events.extend(c.events);
            }
        }
        let moved = changes.puts.len() as u64;
        if moved > 0 {
            self.commit(p, changes).await?;
        }
        Ok(moved)
    }
}
