-- Event ids already applied: the consumer's idempotency record.
CREATE TABLE IF NOT EXISTS applied_events (
    tenant_id TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
) WITHOUT ROWID;

-- Running counts per tenant, updated in the same transaction as above.
CREATE TABLE IF NOT EXISTS tenant_counts (
    tenant_id TEXT NOT NULL,
    metric    TEXT NOT NULL,
    value     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, metric)
) WITHOUT ROWID;
