-- The tasks of a PipelineRun and what each runs after (for the run page's DAG), saved when
-- the run starts. SQLite flavour; keep it in step with ../postgres/0003_run_graphs.sql.
CREATE TABLE run_graphs (
    run_id        TEXT    NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    graph         TEXT    NOT NULL   -- JSON: [{"name", "after": [names], "finally"}]
) STRICT;
