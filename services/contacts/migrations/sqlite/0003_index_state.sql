-- Which derivation of index entries the stored entries follow. When a
-- release indexes something new (the viewer keys of record-level access),
-- it raises the version and adds the entries of every stored record at
-- start (store/reindex.rs).
CREATE TABLE IF NOT EXISTS index_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
