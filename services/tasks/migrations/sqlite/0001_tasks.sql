CREATE TABLE IF NOT EXISTS tasks (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    title       TEXT NOT NULL,
    contact_id  TEXT,
    due_time    TEXT,
    assignee    TEXT NOT NULL,
    version     INTEGER NOT NULL,
    create_time TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
