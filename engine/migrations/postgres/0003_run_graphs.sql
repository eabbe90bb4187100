-- The tasks of a PipelineRun and what each runs after (for the run page's DAG), saved when
-- the run starts. PostgreSQL flavour; keep it in step with ../sqlite/0003_run_graphs.sql.
CREATE TABLE run_graphs (
    run_id        uuid    NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    graph         jsonb   NOT NULL   -- [{"name", "after": [names], "finally"}]
);
