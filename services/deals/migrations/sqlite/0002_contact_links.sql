-- Deals by contact: the personal-data export and the re-link or erasure
-- of a person's deals look deals up by (tenant, contact).
CREATE INDEX IF NOT EXISTS deals_by_contact ON deals (tenant_id, contact_id);

-- Ids of the contacts events applied (ContactsMerged, ContactErased),
-- written in the same transaction as their effect.
CREATE TABLE IF NOT EXISTS applied_events (
    tenant_id TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
) WITHOUT ROWID;
