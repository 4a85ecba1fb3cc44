-- API keys of partner systems. Only a SHA-256 of each key's secret is kept.
CREATE TABLE api_keys (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_sha256 BLOB NOT NULL,
    created_by TEXT NOT NULL,
    create_time TEXT NOT NULL,
    revoke_time TEXT,
    last_use_time TEXT,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
