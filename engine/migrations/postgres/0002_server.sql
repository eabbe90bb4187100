-- The server's tables (engine::store::server), PostgreSQL flavour. Keep it in step with
-- ../sqlite/0002_server.sql. Types as in 0001_run_records.sql.

-- Every webhook delivery the server received, whatever became of it.
CREATE TABLE deliveries (
    id            uuid    NOT NULL PRIMARY KEY,       -- uuid v7
    forge         text    NOT NULL,               -- github | gitlab | gitea
    delivery_id   text,                           -- the forge's id of the delivery
    event         text    NOT NULL,               -- the forge's event name (+ action)
    repo          text,
    git_ref       text,
    sha           text,
    content_key   text,                           -- repo + event + sha + ref
    received_at   timestamptz   NOT NULL,
    outcome       text    NOT NULL,               -- queued | ignored | duplicate | rejected
    status_code   integer NOT NULL,               -- the HTTP status answered
    reason        text,
    run_id        uuid                            -- the run it queued, or duplicated
);

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
    run_id        uuid    NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    repo          text,                           -- for the per-repository limit
    branch        text,                           -- for cancelling superseded runs
    request       jsonb   NOT NULL
);

CREATE INDEX run_requests_by_repo ON run_requests (repo, branch);

-- API tokens, stored as the SHA-256 of the token (tokens are random, so a fast hash is
-- enough: there is nothing to guess).
CREATE TABLE api_tokens (
    id            uuid    NOT NULL PRIMARY KEY,
    name          text    NOT NULL,
    token_hash    text    NOT NULL UNIQUE,
    read_only     boolean NOT NULL,
    created_at    timestamptz   NOT NULL,
    last_used_at  timestamptz
);
