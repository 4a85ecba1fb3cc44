-- The audit trail as indexed from rapport.audit.v1: one row per entry,
-- newest first per record and per user. `time` is RFC 3339 in UTC with
-- microseconds, so text order is time order.
CREATE TABLE audit_entries (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    time TEXT NOT NULL,
    resource TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL,
    entry BLOB NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX audit_by_resource ON audit_entries (tenant_id, resource, time, id);
CREATE INDEX audit_by_actor ON audit_entries (tenant_id, actor, time, id);
-- Retention deletes by age across tenants.
CREATE INDEX audit_by_time ON audit_entries (time);
