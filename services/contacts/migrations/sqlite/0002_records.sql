-- People and companies as one record table (JSON document per record) plus
-- one query table for every lookup, filter and sort. Keys start with the
-- tenant: no query can reach another tenant's rows.
CREATE TABLE IF NOT EXISTS records (
    tenant_id TEXT NOT NULL,
    id        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    version   INTEGER NOT NULL,
    doc       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS record_index (
    tenant_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    attr      TEXT NOT NULL,
    value     TEXT NOT NULL,
    id        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, attr, value, id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS custom_fields (
    tenant_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    key       TEXT NOT NULL,
    doc       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS contact_settings (
    tenant_id          TEXT PRIMARY KEY,
    default_phone_region TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS imports (
    tenant_id TEXT NOT NULL,
    id        TEXT NOT NULL,
    doc       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS import_errors (
    tenant_id TEXT NOT NULL,
    import_id TEXT NOT NULL,
    row       INTEGER NOT NULL,
    field     TEXT NOT NULL,
    message   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, import_id, row, field)
) WITHOUT ROWID;

-- Who erased whom and when; no personal data.
CREATE TABLE IF NOT EXISTS erasures (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    erased_by  TEXT NOT NULL,
    erase_time TEXT NOT NULL,
    reason     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
