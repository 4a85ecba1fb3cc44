-- Pipelines: one JSON document per pipeline (stages, probabilities,
-- rotting thresholds, where removed stages' deals went), read and written
-- whole, versioned for etags.
CREATE TABLE IF NOT EXISTS pipelines (
    tenant_id TEXT NOT NULL,
    id        TEXT NOT NULL,
    version   INTEGER NOT NULL,
    doc       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
