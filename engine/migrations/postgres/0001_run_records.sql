-- Run records (engine::store), PostgreSQL flavour. Keep it in step with
-- ../sqlite/0001_run_records.sql: same tables, columns, names and indexes.
--
-- ids are uuid (v7, so they sort by creation time), times timestamptz (microseconds),
-- JSON jsonb. Statuses are text, one of Queued, Running, Succeeded, Failed, Cancelled,
-- Skipped (not enforced here, so that a new status needs no migration of old rows; the
-- engine refuses to read an unknown one).

-- One PipelineRun, or one TaskRun run on its own.
CREATE TABLE runs (
    id            uuid        NOT NULL PRIMARY KEY,
    name          text        NOT NULL,
    kind          text        NOT NULL,  -- PipelineRun | TaskRun
    target        text        NOT NULL,  -- the Pipeline's (or Task's) name
    params        jsonb       NOT NULL,
    status        text        NOT NULL,
    reason        text        NOT NULL,
    message       text,
    queued_at     timestamptz NOT NULL,
    started_at    timestamptz,
    finished_at   timestamptz,
    results       jsonb       NOT NULL,
    source_repo   text,
    source_branch text,
    source_commit text,
    runner        text        NOT NULL,
    owner         text,                  -- HOST:PID:STARTTIME of the engine process running it
    log_prefix    text        NOT NULL
);

-- Listing, newest first; and the filters of `runnel runs` (and later DORA queries per
-- repository and branch).
CREATE INDEX runs_by_queued_at ON runs (queued_at, id);
CREATE INDEX runs_by_status    ON runs (status, queued_at);
CREATE INDEX runs_by_source    ON runs (source_repo, source_branch, queued_at);
CREATE INDEX runs_by_name      ON runs (name, queued_at);

-- One attempt of one TaskRun (a retry is another row with the same name, attempt + 1).
CREATE TABLE task_runs (
    id            uuid        NOT NULL PRIMARY KEY,
    run_id        uuid        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name          text        NOT NULL,
    pipeline_task text,
    task          text,
    matrix_index  integer,
    attempt       integer     NOT NULL,
    is_finally    boolean     NOT NULL,
    params        jsonb       NOT NULL,
    status        text        NOT NULL,
    reason        text        NOT NULL,
    message       text,
    queued_at     timestamptz NOT NULL,
    started_at    timestamptz,
    finished_at   timestamptz,
    results       jsonb       NOT NULL
);

CREATE INDEX task_runs_by_run ON task_runs (run_id, queued_at, name, attempt);

-- One step of one TaskRun attempt.
CREATE TABLE steps (
    id            uuid        NOT NULL PRIMARY KEY,
    task_run_id   uuid        NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    step_index    integer     NOT NULL,
    name          text        NOT NULL,
    image         text,
    status        text        NOT NULL,
    reason        text        NOT NULL,
    message       text,
    exit_code     integer,
    started_at    timestamptz,
    finished_at   timestamptz,
    log           text                   -- the step's key in the log store
);

CREATE INDEX steps_by_task_run ON steps (task_run_id, step_index);
