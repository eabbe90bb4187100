-- The server's tables (engine::store::server), SQLite flavour. Keep it in step with
-- ../postgres/0002_server.sql. Value conventions as in 0001_run_records.sql.

-- Every webhook delivery the server received, whatever became of it.
CREATE TABLE deliveries (
    id            TEXT    NOT NULL PRIMARY KEY,   -- uuid v7
    forge         TEXT    NOT NULL,               -- github | gitlab | gitea
    delivery_id   TEXT,                           -- the forge's id of the delivery
    event         TEXT    NOT NULL,               -- the forge's event name (+ action)
    repo          TEXT,
    git_ref       TEXT,
    sha           TEXT,
    content_key   TEXT,                           -- repo + event + sha + ref
    received_at   TEXT    NOT NULL,
    outcome       TEXT    NOT NULL,               -- queued | ignored | duplicate | rejected
    status_code   INTEGER NOT NULL,               -- the HTTP status answered
    reason        TEXT,
    run_id        TEXT                            -- the run it queued, or duplicated
) STRICT;

CREATE INDEX deliveries_by_received_at ON deliveries (received_at, id);
-- At most one delivery queues a run per forge delivery id, and per content key: the
-- second insert fails, which is how a redelivery is caught even when two arrive at once.
CREATE UNIQUE INDEX deliveries_queued_by_delivery_id ON deliveries (forge, delivery_id)
    WHERE outcome = 'queued';
CREATE UNIQUE INDEX deliveries_queued_by_content ON deliveries (content_key)
    WHERE outcome = 'queued';

-- What a queued run is to run (a pipelines-as-code checkout, params, ...), as JSON the
-- server reads back when it starts the run, also after a restart.
CREATE TABLE run_requests (
    run_id        TEXT    NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    repo          TEXT,                           -- for the per-repository limit
    branch        TEXT,                           -- for cancelling superseded runs
    request       TEXT    NOT NULL
) STRICT;

CREATE INDEX run_requests_by_repo ON run_requests (repo, branch);

-- API tokens, stored as the SHA-256 of the token (tokens are random, so a fast hash is
-- enough: there is nothing to guess).
CREATE TABLE api_tokens (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    token_hash    TEXT    NOT NULL UNIQUE,
    read_only     INTEGER NOT NULL,
    created_at    TEXT    NOT NULL,
    last_used_at  TEXT
) STRICT;
