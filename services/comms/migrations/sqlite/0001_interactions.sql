-- Interaction history. The primary key orders a contact's timeline, so the
-- newest-first page query is an index range scan.
CREATE TABLE IF NOT EXISTS interactions (
    tenant_id   TEXT NOT NULL,
    contact_id  TEXT NOT NULL,
    occurred_at INTEGER NOT NULL, -- microseconds since the Unix epoch
    id          TEXT NOT NULL,
    channel     TEXT NOT NULL,
    direction   TEXT NOT NULL,
    summary     TEXT NOT NULL,
    create_time TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, occurred_at, id)
) WITHOUT ROWID;
