-- Record-level access: the task's team and shares beside its assignee.
-- Shares are a JSON array of `user:<id>` / `team:<path>`.
ALTER TABLE tasks ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN shared_with TEXT NOT NULL DEFAULT '[]';
