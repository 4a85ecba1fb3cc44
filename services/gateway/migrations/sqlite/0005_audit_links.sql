-- Entries that name a person besides their own resource (a deal's linked
-- person; a merged duplicate's survivor, `alias = 1`), so erasing the
-- person reaches them; and the resources erased, so entries arriving
-- later are masked as they land.
CREATE TABLE audit_links (
    tenant_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    alias INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, subject, entry_id)
) WITHOUT ROWID;
CREATE INDEX audit_links_by_time ON audit_links (time);
CREATE TABLE audit_erased (
    tenant_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    PRIMARY KEY (tenant_id, resource)
) WITHOUT ROWID;
