-- Run records (engine::store), SQLite flavour. Keep it in step with
-- ../postgres/0001_run_records.sql: same tables, columns, names and indexes.
--
-- How values are kept here:
--   ids      TEXT, the lowercase hyphenated uuid (uuid v7, so ids sort by creation time);
--   times    TEXT, RFC 3339 in UTC with exactly six fractional digits and a trailing Z
--            (2025-01-02T03:04:05.123456Z): fixed width, so text order is time order,
--            and SQLite's date functions (julianday, strftime, date) read it as is;
--   JSON     TEXT holding a JSON document;
--   booleans INTEGER 0/1;
--   statuses TEXT, one of Queued, Running, Succeeded, Failed, Cancelled, Skipped (not
--            enforced here, so that a new status needs no table rebuild; the engine
--            refuses to read an unknown one).
-- Tables are STRICT, so a value of the wrong type is refused rather than stored.

-- One PipelineRun, or one TaskRun run on its own.
CREATE TABLE runs (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,  -- PipelineRun | TaskRun
    target        TEXT    NOT NULL,  -- the Pipeline's (or Task's) name
    params        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    message       TEXT,
    queued_at     TEXT    NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    results       TEXT    NOT NULL,
    source_repo   TEXT,
    source_branch TEXT,
    source_commit TEXT,
    runner        TEXT    NOT NULL,
    owner         TEXT,              -- HOST:PID:STARTTIME of the engine process running it
    log_prefix    TEXT    NOT NULL
) STRICT;

-- Listing, newest first; and the filters of `runnel runs` (and later DORA queries per
-- repository and branch).
CREATE INDEX runs_by_queued_at ON runs (queued_at, id);
CREATE INDEX runs_by_status    ON runs (status, queued_at);
CREATE INDEX runs_by_source    ON runs (source_repo, source_branch, queued_at);
CREATE INDEX runs_by_name      ON runs (name, queued_at);

-- One attempt of one TaskRun (a retry is another row with the same name, attempt + 1).
CREATE TABLE task_runs (
    id            TEXT    NOT NULL PRIMARY KEY,
    run_id        TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    pipeline_task TEXT,
    task          TEXT,
    matrix_index  INTEGER,
    attempt       INTEGER NOT NULL,
    is_finally    INTEGER NOT NULL,
    params        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    message       TEXT,
    queued_at     TEXT    NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    results       TEXT    NOT NULL
) STRICT;

CREATE INDEX task_runs_by_run ON task_runs (run_id, queued_at, name, attempt);

-- One step of one TaskRun attempt.
CREATE TABLE steps (
    id            TEXT    NOT NULL PRIMARY KEY,
    task_run_id   TEXT    NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    step_index    INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    image         TEXT,
    status        TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    message       TEXT,
    exit_code     INTEGER,
    started_at    TEXT,
    finished_at   TEXT,
    log           TEXT               -- the step's key in the log store
) STRICT;

CREATE INDEX steps_by_task_run ON steps (task_run_id, step_index);
