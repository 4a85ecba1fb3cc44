-- Record-level access: the deal's team and shares beside its owner.
-- Shares are a JSON array of `user:<id>` / `team:<path>`.
ALTER TABLE deals ADD COLUMN owner TEXT NOT NULL DEFAULT '';
-- Deals written before owners belong to their creator.
UPDATE deals SET owner = created_by WHERE owner = '';
ALTER TABLE deals ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE deals ADD COLUMN shared_with TEXT NOT NULL DEFAULT '[]';
