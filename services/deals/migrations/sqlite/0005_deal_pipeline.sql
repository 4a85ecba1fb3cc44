-- Each deal belongs to a pipeline. Deals written before pipelines (NULL)
-- are in the tenant's default pipeline, whose stages they were given.
ALTER TABLE deals ADD COLUMN pipeline_id TEXT;
