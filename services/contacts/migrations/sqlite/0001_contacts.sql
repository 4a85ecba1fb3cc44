-- Contacts, keyed by tenant first: no query can reach another tenant's rows.
CREATE TABLE IF NOT EXISTS contacts (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    given_name   TEXT NOT NULL,
    family_name  TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email        TEXT,
    phone        TEXT,
    company_name TEXT NOT NULL,
    version      INTEGER NOT NULL,
    create_time  TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    update_time  TEXT NOT NULL,
    updated_by   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
