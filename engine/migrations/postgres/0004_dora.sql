-- What the DORA metrics are computed from (engine::store::dora), PostgreSQL flavour. Keep it in
-- step with ../sqlite/0004_dora.sql. Types as in 0001_run_records.sql.

-- A deployment of a service's commit to an environment: the TaskRun of a task annotated
-- `runnel.dev/deployment`, or one reported through `POST /api/v1/deployments`.
CREATE TABLE deployments (
    id            uuid        NOT NULL PRIMARY KEY,   -- uuid v7
    service       text        NOT NULL,               -- the repository, unless the task names one
    environment   text        NOT NULL,
    commit_sha    text,
    status        text        NOT NULL,               -- Running | Succeeded | Failed | Cancelled
    kind          text        NOT NULL,               -- deploy | hotfix | rollback (as declared)
    started_at    timestamptz,
    finished_at   timestamptz,                           -- NULL while it runs
    run_id        uuid        REFERENCES runs (id) ON DELETE SET NULL,
    task_run      text,                           -- the TaskRun's name, for a task's
    origin        text        NOT NULL                -- task | api
);

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
    service       text        NOT NULL,
    sha           text        NOT NULL,
    authored_at   timestamptz NOT NULL,
    parents       integer     NOT NULL,               -- more than one: a merge commit
    subject       text        NOT NULL,               -- the message's first line (reverts)
    PRIMARY KEY (service, sha)
);

-- The reverts, a tiny part of the commits: whether a deployment shipped one is asked for
-- every deployment. UNIQUE as the key it copies is, so that SQLite prefers it to the key.
CREATE UNIQUE INDEX commits_reverts ON commits (service, sha) WHERE subject LIKE 'Revert %';

-- The successful deployment that first shipped each commit to an environment (the earliest
-- one wins, whatever order they are reported in).
CREATE TABLE shipped_commits (
    service       text        NOT NULL,
    environment   text        NOT NULL,
    sha           text        NOT NULL,
    deployment_id uuid        NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    shipped_at    timestamptz NOT NULL,               -- the deployment's finish
    PRIMARY KEY (service, environment, sha)
);

CREATE INDEX shipped_commits_by_time       ON shipped_commits (service, environment, shipped_at);
CREATE INDEX shipped_commits_by_deployment ON shipped_commits (deployment_id);

-- An incident in a service's environment, linked to the deployment (or the commit) that
-- caused it, and to the deployment that fixed it.
CREATE TABLE incidents (
    id            uuid        NOT NULL PRIMARY KEY,   -- uuid v7
    service       text        NOT NULL,
    environment   text        NOT NULL,
    title         text        NOT NULL,
    opened_at     timestamptz NOT NULL,
    resolved_at   timestamptz,
    deployment_id uuid        REFERENCES deployments (id) ON DELETE SET NULL,
    commit_sha    text,
    fixed_by      uuid        REFERENCES deployments (id) ON DELETE SET NULL
);

CREATE INDEX incidents_by_service ON incidents (service, environment, opened_at);
