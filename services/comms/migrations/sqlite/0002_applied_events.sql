-- Ids of the contacts events applied (ContactsMerged, ContactErased),
-- written in the same transaction as their effect. Lookups by contact need
-- no new index: the primary key of `interactions` starts with
-- (tenant_id, contact_id).
CREATE TABLE IF NOT EXISTS applied_events (
    tenant_id TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
) WITHOUT ROWID;
