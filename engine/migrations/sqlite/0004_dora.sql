-- What the DORA metrics are computed from (engine::store::dora), SQLite flavour. Keep it in
-- step with ../postgres/0004_dora.sql. Types as in 0001_run_records.sql.

-- A deployment of a service's commit to an environment: the TaskRun of a task annotated
-- `runnel.dev/deployment`, or one reported through `POST /api/v1/deployments`.
CREATE TABLE deployments (
    id            TEXT    NOT NULL PRIMARY KEY,   -- uuid v7
    service       TEXT    NOT NULL,               -- the repository, unless the task names one
    environment   TEXT    NOT NULL,
    commit_sha    TEXT,
    status        TEXT    NOT NULL,               -- Running | Succeeded | Failed | Cancelled
    kind          TEXT    NOT NULL,               -- deploy | hotfix | rollback (as declared)
    started_at    TEXT,
    finished_at   TEXT,                           -- NULL while it runs
    run_id        TEXT    REFERENCES runs (id) ON DELETE SET NULL,
    task_run      TEXT,                           -- the TaskRun's name, for a task's
    origin        TEXT    NOT NULL                -- task | api
) STRICT;

-- The window of one service and environment, in time order; one run's deployments; every
-- service's window.
CREATE INDEX deployments_by_service ON deployments (service, environment, finished_at);
CREATE INDEX deployments_by_run     ON deployments (run_id);
CREATE INDEX deployments_by_finish  ON deployments (finished_at);
-- The successful ones of a service and environment in time order, with their commit: the
-- one before each deployment (and whether there is one), the one after a window; the
-- metrics look them up for every deployment (index-only on PostgreSQL).
CREATE INDEX deployments_succeeded  ON deployments (service, environment, finished_at, commit_sha)
    WHERE status = 'Succeeded';
-- The same commit deployed successfully before (a rollback). Partial like the one above:
-- SQLite would otherwise take that covering one and scan the service's whole history.
CREATE INDEX deployments_by_sha     ON deployments (service, environment, commit_sha, finished_at)
    WHERE status = 'Succeeded';

-- A commit of a service's repository, as far as the metrics need it.
CREATE TABLE commits (
    service       TEXT    NOT NULL,
    sha           TEXT    NOT NULL,
    authored_at   TEXT    NOT NULL,
    parents       INTEGER NOT NULL,               -- more than one: a merge commit
    subject       TEXT    NOT NULL,               -- the message's first line (reverts)
    PRIMARY KEY (service, sha)
) STRICT;

-- The reverts, a tiny part of the commits: whether a deployment shipped one is asked for
-- every deployment. UNIQUE as the key it copies is, so that SQLite prefers it to the key.
CREATE UNIQUE INDEX commits_reverts ON commits (service, sha) WHERE subject LIKE 'Revert %';

-- The successful deployment that first shipped each commit to an environment (the earliest
-- one wins, whatever order they are reported in).
CREATE TABLE shipped_commits (
    service       TEXT    NOT NULL,
    environment   TEXT    NOT NULL,
    sha           TEXT    NOT NULL,
    deployment_id TEXT    NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    shipped_at    TEXT    NOT NULL,               -- the deployment's finish
    PRIMARY KEY (service, environment, sha)
) STRICT;

CREATE INDEX shipped_commits_by_time       ON shipped_commits (service, environment, shipped_at);
CREATE INDEX shipped_commits_by_deployment ON shipped_commits (deployment_id);

-- An incident in a service's environment, linked to the deployment (or the commit) that
-- caused it, and to the deployment that fixed it.
CREATE TABLE incidents (
    id            TEXT    NOT NULL PRIMARY KEY,   -- uuid v7
    service       TEXT    NOT NULL,
    environment   TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    opened_at     TEXT    NOT NULL,
    resolved_at   TEXT,
    deployment_id TEXT    REFERENCES deployments (id) ON DELETE SET NULL,
    commit_sha    TEXT,
    fixed_by      TEXT    REFERENCES deployments (id) ON DELETE SET NULL
) STRICT;

CREATE INDEX incidents_by_service ON incidents (service, environment, opened_at);
