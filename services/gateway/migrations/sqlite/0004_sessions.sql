-- Browser sessions, one row per sign-in: the cookie stays signed and
-- self-contained, this row says whether it is still live. `id` is a digest
-- of the cookie's session id, so the table holds nothing a cookie can be
-- made from.
CREATE TABLE sessions (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    create_time TEXT NOT NULL,
    expire_time TEXT NOT NULL,
    revoke_time TEXT,
    user_agent TEXT NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, id)
) WITHOUT ROWID;
