-- Custom roles of each tenant: a name and the permissions it grants
-- (comma-separated permission names).
CREATE TABLE custom_roles (
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    create_time TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    update_time TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
) WITHOUT ROWID;
