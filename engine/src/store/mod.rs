//! The run records store: what ran, when, with what result, kept in SQLite (one file, the
//! default for the CLI) or PostgreSQL (a server's). One [`RunRecord`] per PipelineRun or
//! standalone TaskRun, one [`TaskRunRecord`] per TaskRun attempt, one [`StepRecord`] per step
//! of an attempt. The engine saves a whole record on every change of state (the `save_*`
//! methods are upserts); the CLI and the API read them back.
//!
//! # Two backends, one set of queries
//!
//! [`Store`] holds an enum of the two pools, and the private `on_pool!` macro expands one
//! query body for each arm, so every query is written once. That works because:
//! - the SQL is the dialect both speak: `$1`-style parameters (SQLite reads `$N` as the Nth
//!   argument), `INSERT … ON CONFLICT (id) DO UPDATE SET … = excluded.…`, `LIMIT`/`OFFSET`;
//! - every value bound or read has a Rust type that is `Type`/`Encode`/`Decode` for both
//!   backends (`codec`): ids are `uuid` on PostgreSQL and hyphenated TEXT on SQLite, times
//!   `timestamptz` and fixed-width RFC 3339 TEXT, JSON `jsonb` and TEXT, statuses TEXT.
//!
//! `sqlx::Any` was not used: it knows no uuid, timestamp or JSON types, so each would have
//! been converted by hand around every query anyway, and it loses `jsonb`/`timestamptz`.
//!
//! Times are kept to the microsecond on both backends ([`now`] gives such a time). The
//! schema lives in `engine/migrations/{sqlite,postgres}/` (the same tables, columns and
//! indexes in each dialect), is embedded in the binary and applied by [`Store::open`].
//!
//! # Orphans
//!
//! A run's [`RunRecord::owner`] names the engine process running it
//! ([`owner_of_this_process`]). When an engine starts, [`Store::mark_orphans`] fails the runs
//! whose owner is gone ([`owner_is_alive`]), so that a killed engine leaves no run `Running`
//! for ever.

mod codec;
mod owner;
mod record;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

use codec::{Id, RunRow, StepRow, TaskRunRow, Ts, run_columns, step_columns, task_run_columns};
pub use owner::{owner_is_alive, owner_of_this_process};
pub use record::{
    ParseError, RunKind, RunRecord, Source, Status, StepRecord, TaskRunRecord, new_id, now,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite connection waits for another one (maybe of another `runnel` process)
/// to finish writing before it gives up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`Store::open`] waits for a PostgreSQL server to accept a connection.
const POSTGRES_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The reason given to runs, TaskRuns and steps failed by [`Store::mark_orphans`].
pub const ENGINE_RESTARTED: &str = "EngineRestarted";

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the run database at {url:?}: unsupported URL (use sqlite://PATH, \
         postgres://… or postgresql://…)"
    )]
    UnsupportedUrl { url: String },
    #[error("cannot create the directory {path} for the run database: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the run database at {location}: {source}")]
    Open {
        location: String,
        source: sqlx::Error,
    },
    #[error("cannot bring the run database at {location} up to date: {source}")]
    Migrate {
        location: String,
        source: MigrateError,
    },
    /// A query failed; `action` says what was being done (`cannot save run …`).
    #[error("{action}: {source}")]
    Query { action: String, source: sqlx::Error },
    #[error(
        "the run id prefix {prefix:?} is ambiguous: it matches {} (give more of the id)",
        list_ids(.matches, *.more)
    )]
    AmbiguousId {
        prefix: String,
        /// Some of the ids it matches.
        matches: Vec<Uuid>,
        /// Whether it matches more than those.
        more: bool,
    },
}

fn list_ids(ids: &[Uuid], more: bool) -> String {
    let mut list = ids
        .iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if more {
        list.push_str(", …");
    }
    list
}

fn query_error(action: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let action = action.into();
    move |source| StoreError::Query { action, source }
}

/// Which runs [`Store::list_runs`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFilter {
    /// At most this many (20 by default).
    pub limit: u32,
    /// After skipping this many of the newest.
    pub offset: u32,
    pub status: Option<Status>,
    /// Exactly this [`Source::repo`].
    pub repo: Option<String>,
    /// Exactly this [`Source::branch`].
    pub branch: Option<String>,
    /// Queued at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Queued before this time.
    pub until: Option<DateTime<Utc>>,
}

impl Default for RunFilter {
    fn default() -> Self {
        RunFilter {
            limit: 20,
            offset: 0,
            status: None,
            repo: None,
            branch: None,
            since: None,
            until: None,
        }
    }
}

/// The upsert of a run: every column, bound by [`bind_run!`].
const SAVE_RUN: &str = concat!(
    "INSERT INTO runs (",
    run_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
     $17, $18) \
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
     target = excluded.target, params = excluded.params, status = excluded.status, \
     reason = excluded.reason, message = excluded.message, \
     queued_at = excluded.queued_at, started_at = excluded.started_at, \
     finished_at = excluded.finished_at, results = excluded.results, \
     source_repo = excluded.source_repo, source_branch = excluded.source_branch, \
     source_commit = excluded.source_commit, runner = excluded.runner, \
     owner = excluded.owner, log_prefix = excluded.log_prefix"
);

/// Binds a [`RunRecord`]'s columns to [`SAVE_RUN`].
macro_rules! bind_run {
    ($query:expr, $run:expr) => {
        $query
            .bind(Id($run.id))
            .bind(&$run.name)
            .bind($run.kind)
            .bind(&$run.target)
            .bind(Json(&$run.params))
            .bind($run.status)
            .bind(&$run.reason)
            .bind(&$run.message)
            .bind(Ts($run.queued_at))
            .bind(Ts::opt($run.started_at))
            .bind(Ts::opt($run.finished_at))
            .bind(Json(&$run.results))
            .bind(&$run.source.repo)
            .bind(&$run.source.branch)
            .bind(&$run.source.commit)
            .bind(&$run.runner)
            .bind(&$run.owner)
            .bind(&$run.log_prefix)
    };
}
use bind_run;

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever backend it is: the body is
/// compiled once per backend, so it may use any query and value type both implement.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

mod dora;
pub use dora::{
    CommitRecord, DeploymentFact, DeploymentKind, DeploymentOrigin, DeploymentRecord, DoraHistory,
    DoraQuery, IncidentRecord, ShippedCommit,
};
mod server;
pub use server::{DeliveryRecord, Enqueue, Enqueued, Outcome, QueuedRun, TokenRecord};

/// The run records store. Cheap to clone (clones share the connection pool).
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// Where the database is, for messages (a PostgreSQL URL without its password).
    location: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .field("location", &self.location)
            .finish()
    }
}

impl Store {
    /// Opens (creating it if need be) the database at `url` and brings its schema up to
    /// date: `sqlite://PATH` (also `sqlite:PATH`; the file and its parent directories are
    /// created when missing), or `postgres://…`/`postgresql://…` (the database must exist).
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StoreError::UnsupportedUrl {
                    url: url.to_owned(),
                });
            }
            return Store::open_sqlite(Path::new(path)).await;
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Store::open_postgres(url).await;
        }
        Err(StoreError::UnsupportedUrl {
            url: redact_password(url),
        })
    }

    /// Opens (creating it and its parent directories if need be) the SQLite database at
    /// `path`, in WAL mode with a busy timeout, so that several `runnel` processes can share
    /// it.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        const ATTEMPTS: u32 = 8;
        let location = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| StoreError::CreateDir {
                    path: parent.to_owned(),
                    source,
                })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        // Processes opening a new file at the same time can get in each other's way, once:
        // - turning a new database to WAL needs it alone, and SQLite answers "database is
        //   locked" at once rather than wait (waiting could deadlock);
        // - SQLite migrations take no lock (sqlx's is a no-op there), so the second process
        //   to apply one fails (its table exists) and rolls it back.
        // Trying again finds WAL on and the migration applied.
        let mut attempt = 1;
        loop {
            let failure = match SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.clone())
                .await
            {
                Ok(pool) => match SQLITE_MIGRATIONS.run(&pool).await {
                    Ok(()) => {
                        return Ok(Store {
                            pool: Pool::Sqlite(pool),
                            location,
                        });
                    }
                    Err(error) => {
                        pool.close().await;
                        let retry = matches!(
                            error,
                            MigrateError::Execute(_) | MigrateError::ExecuteMigration(..)
                        );
                        let location = location.clone();
                        (
                            retry,
                            StoreError::Migrate {
                                location,
                                source: error,
                            },
                        )
                    }
                },
                Err(error) => {
                    let retry = is_busy(&error);
                    let location = location.clone();
                    (
                        retry,
                        StoreError::Open {
                            location,
                            source: error,
                        },
                    )
                }
            };
            match failure {
                (true, _) if attempt < ATTEMPTS => {
                    // 20 ms, 40 ms, ... (2.5 s in all), with some jitter so that two
                    // processes do not meet again.
                    let jitter = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| u64::from(d.subsec_nanos()) % 10_000_000);
                    let wait = Duration::from_millis(10 << attempt) + Duration::from_nanos(jitter);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                (_, error) => return Err(error),
            }
        }
    }

    async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let location = redact_password(url);
        let open_error = |source| StoreError::Open {
            location: location.clone(),
            source,
        };
        let options = PgConnectOptions::from_str(url).map_err(open_error)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(POSTGRES_CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        // PostgreSQL migrations take an advisory lock: engines starting together are safe.
        POSTGRES_MIGRATIONS
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                location: location.clone(),
                source,
            })?;
        Ok(Store {
            pool: Pool::Postgres(pool),
            location,
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Where the database is: a path, or a PostgreSQL URL without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Closes every connection (of this store and its clones); later calls fail.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// Inserts the run, or replaces every field of the run with its id.
    pub async fn save_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        on_pool!(self, pool => bind_run!(sqlx::query(SAVE_RUN), run)
            .execute(pool)
            .await
            .map(drop))
        .map_err(query_error(format!(
            "cannot save run {} ({})",
            run.id, run.name
        )))?;
        Ok(())
    }

    /// Inserts the TaskRun attempt, or replaces every field of the one with its id. Its run
    /// must have been saved before.
    pub async fn save_task_run(&self, task_run: &TaskRunRecord) -> Result<(), StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO task_runs (",
            task_run_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             ON CONFLICT (id) DO UPDATE SET run_id = excluded.run_id, name = excluded.name, \
             pipeline_task = excluded.pipeline_task, task = excluded.task, \
             matrix_index = excluded.matrix_index, attempt = excluded.attempt, \
             is_finally = excluded.is_finally, params = excluded.params, \
             status = excluded.status, reason = excluded.reason, message = excluded.message, \
             queued_at = excluded.queued_at, started_at = excluded.started_at, \
             finished_at = excluded.finished_at, results = excluded.results"
        );
        let t = task_run;
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(Id(t.id))
            .bind(Id(t.run_id))
            .bind(&t.name)
            .bind(&t.pipeline_task)
            .bind(&t.task)
            .bind(t.matrix_index)
            .bind(t.attempt)
            .bind(t.finally)
            .bind(Json(&t.params))
            .bind(t.status)
            .bind(&t.reason)
            .bind(&t.message)
            .bind(Ts(t.queued_at))
            .bind(Ts::opt(t.started_at))
            .bind(Ts::opt(t.finished_at))
            .bind(Json(&t.results))
            .execute(pool)
            .await
            .map(drop))
        .map_err(query_error(format!(
            "cannot save TaskRun {} ({}, attempt {}) of run {}",
            t.id, t.name, t.attempt, t.run_id
        )))?;
        Ok(())
    }

    /// Inserts the step, or replaces every field of the one with its id. Its TaskRun must
    /// have been saved before.
    pub async fn save_step(&self, step: &StepRecord) -> Result<(), StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO steps (",
            step_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO UPDATE SET task_run_id = excluded.task_run_id, \
             step_index = excluded.step_index, name = excluded.name, image = excluded.image, \
             status = excluded.status, reason = excluded.reason, message = excluded.message, \
             exit_code = excluded.exit_code, started_at = excluded.started_at, \
             finished_at = excluded.finished_at, log = excluded.log"
        );
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(Id(step.id))
            .bind(Id(step.task_run_id))
            .bind(step.index)
            .bind(&step.name)
            .bind(&step.image)
            .bind(step.status)
            .bind(&step.reason)
            .bind(&step.message)
            .bind(step.exit_code)
            .bind(Ts::opt(step.started_at))
            .bind(Ts::opt(step.finished_at))
            .bind(&step.log)
            .execute(pool)
            .await
            .map(drop))
        .map_err(query_error(format!(
            "cannot save step {} ({}) of TaskRun {}",
            step.id, step.name, step.task_run_id
        )))?;
        Ok(())
    }

    /// The runs the filter selects, newest first (by `queued_at`, then id).
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        enum Arg<'a> {
            Status(Status),
            Text(&'a str),
            Time(Ts),
        }
        let mut args: Vec<(&str, Arg<'_>)> = Vec::new();
        if let Some(status) = filter.status {
            args.push(("status =", Arg::Status(status)));
        }
        if let Some(repo) = &filter.repo {
            args.push(("source_repo =", Arg::Text(repo)));
        }
        if let Some(branch) = &filter.branch {
            args.push(("source_branch =", Arg::Text(branch)));
        }
        if let Some(since) = filter.since {
            args.push(("queued_at >=", Arg::Time(Ts(since))));
        }
        if let Some(until) = filter.until {
            args.push(("queued_at <", Arg::Time(Ts(until))));
        }
        let conditions: Vec<String> = args
            .iter()
            .enumerate()
            .map(|(i, (column_and_operator, _))| format!("{column_and_operator} ${}", i + 1))
            .collect();
        let mut sql = concat!("SELECT ", run_columns!(), " FROM runs").to_owned();
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(&format!(
            " ORDER BY queued_at DESC, id DESC LIMIT ${} OFFSET ${}",
            args.len() + 1,
            args.len() + 2
        ));
        // The text is made of the fragments above only; every value is a bound argument.
        let rows: Vec<RunRow> = on_pool!(self, pool => {
            let mut query = sqlx::query_as(AssertSqlSafe(sql));
            for (_, arg) in &args {
                query = match arg {
                    Arg::Status(status) => query.bind(*status),
                    Arg::Text(text) => query.bind(*text),
                    Arg::Time(time) => query.bind(*time),
                };
            }
            query
                .bind(i64::from(filter.limit))
                .bind(i64::from(filter.offset))
                .fetch_all(pool)
                .await
        })
        .map_err(query_error("cannot list runs"))?;
        Ok(rows.into_iter().map(RunRecord::from).collect())
    }

    /// The run `key` names: its full id; else the newest run of that name; else the one run
    /// whose id starts with `key` (at least 4 hex digits, with or without the id's dashes).
    /// A prefix that more than one id starts with is an error ([`StoreError::AmbiguousId`]).
    pub async fn get_run(&self, key: &str) -> Result<Option<RunRecord>, StoreError> {
        let key = key.trim();
        if let Ok(id) = Uuid::parse_str(key)
            && let Some(run) = self.run_by_id(id).await?
        {
            return Ok(Some(run));
        }
        if let Some(run) = self.run_by_name(key).await? {
            return Ok(Some(run));
        }
        let Some((low, high)) = id_prefix_range(key) else {
            return Ok(None);
        };
        const SQL: &str = concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id >= $1 AND id <= $2 ORDER BY id LIMIT 6"
        );
        let rows: Vec<RunRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(Id(low))
            .bind(Id(high))
            .fetch_all(pool)
            .await)
        .map_err(query_error(format!(
            "cannot look up the run id prefix {key:?}"
        )))?;
        let mut runs: Vec<RunRecord> = rows.into_iter().map(RunRecord::from).collect();
        match runs.len() {
            0 => Ok(None),
            1 => Ok(runs.pop()),
            n => Err(StoreError::AmbiguousId {
                prefix: key.to_owned(),
                matches: runs.iter().take(5).map(|run| run.id).collect(),
                more: n > 5,
            }),
        }
    }

    /// The run with exactly this id.
    pub async fn run_by_id(&self, id: Uuid) -> Result<Option<RunRecord>, StoreError> {
        const SQL: &str = concat!("SELECT ", run_columns!(), " FROM runs WHERE id = $1");
        let row: Option<RunRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(Id(id))
            .fetch_optional(pool)
            .await)
        .map_err(query_error(format!("cannot read run {id}")))?;
        Ok(row.map(RunRecord::from))
    }

    async fn run_by_name(&self, name: &str) -> Result<Option<RunRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE name = $1 ORDER BY queued_at DESC, id DESC LIMIT 1"
        );
        let row: Option<RunRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(name)
            .fetch_optional(pool)
            .await)
        .map_err(query_error(format!("cannot read the run named {name:?}")))?;
        Ok(row.map(RunRecord::from))
    }

    /// The TaskRun attempts of a run, by `queued_at`, then name, then attempt.
    pub async fn task_runs(&self, run_id: Uuid) -> Result<Vec<TaskRunRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            task_run_columns!(),
            " FROM task_runs WHERE run_id = $1 ORDER BY queued_at, name, attempt, id"
        );
        let rows: Vec<TaskRunRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(Id(run_id))
            .fetch_all(pool)
            .await)
        .map_err(query_error(format!(
            "cannot read the TaskRuns of run {run_id}"
        )))?;
        Ok(rows.into_iter().map(TaskRunRecord::from).collect())
    }

    /// The steps of a TaskRun attempt, by index.
    pub async fn steps(&self, task_run_id: Uuid) -> Result<Vec<StepRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            step_columns!(),
            " FROM steps WHERE task_run_id = $1 ORDER BY step_index, id"
        );
        let rows: Vec<StepRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(Id(task_run_id))
            .fetch_all(pool)
            .await)
        .map_err(query_error(format!(
            "cannot read the steps of TaskRun {task_run_id}"
        )))?;
        Ok(rows.into_iter().map(StepRecord::from).collect())
    }

    /// Fails the runs that an engine process left unfinished when it stopped: every run
    /// `Queued` or `Running` whose owner is set and not `is_alive` (normally
    /// [`owner_is_alive`]) becomes `Failed` with reason [`ENGINE_RESTARTED`], and so do its
    /// `Running` TaskRuns and steps; its `Queued` ones become `Skipped`, with the same
    /// reason. Returns the ids of the runs it failed.
    ///
    /// `is_alive` is asked once per distinct owner, before anything is written. Each run is
    /// failed only if it is still unfinished and still has that owner when it comes to it
    /// (another engine may have finished or taken it since), all runs in one transaction.
    pub async fn mark_orphans(
        &self,
        is_alive: impl Fn(&str) -> bool,
    ) -> Result<Vec<Uuid>, StoreError> {
        const CANDIDATES: &str = "SELECT id, owner FROM runs \
             WHERE status IN ('Queued', 'Running') AND owner IS NOT NULL ORDER BY id";
        const FAIL_RUN: &str = "UPDATE runs SET status = 'Failed', reason = $3, message = $4, \
             finished_at = $5 \
             WHERE id = $1 AND owner = $2 AND status IN ('Queued', 'Running')";
        const FAIL_STEPS: &str = "UPDATE steps SET \
             status = CASE WHEN status = 'Running' THEN 'Failed' ELSE 'Skipped' END, \
             finished_at = CASE WHEN status = 'Running' THEN $4 ELSE finished_at END, \
             reason = $2, message = $3 \
             WHERE task_run_id IN (SELECT id FROM task_runs WHERE run_id = $1) \
             AND status IN ('Queued', 'Running')";
        const FAIL_TASK_RUNS: &str = "UPDATE task_runs SET \
             status = CASE WHEN status = 'Running' THEN 'Failed' ELSE 'Skipped' END, \
             finished_at = CASE WHEN status = 'Running' THEN $4 ELSE finished_at END, \
             reason = $2, message = $3 \
             WHERE run_id = $1 AND status IN ('Queued', 'Running')";
        // A deployment cut off mid-way failed, as its TaskRun did.
        const FAIL_DEPLOYMENTS: &str = "UPDATE deployments SET status = 'Failed', \
             finished_at = $2 WHERE run_id = $1 AND status = 'Running'";

        let candidates: Vec<(Id, String)> = on_pool!(self, pool => {
            sqlx::query(CANDIDATES)
                .fetch_all(pool)
                .await
                .and_then(|rows| {
                    rows.iter()
                        .map(|row| Ok((row.try_get("id")?, row.try_get("owner")?)))
                        .collect::<Result<Vec<_>, sqlx::Error>>()
                })
        })
        .map_err(query_error("cannot look for orphaned runs"))?;

        let mut verdicts: Vec<(String, bool)> = Vec::new();
        let mut orphans = Vec::new();
        for (id, owner) in candidates {
            let alive = match verdicts.iter().find(|(known, _)| *known == owner) {
                Some((_, alive)) => *alive,
                None => {
                    let alive = is_alive(&owner);
                    verdicts.push((owner.clone(), alive));
                    alive
                }
            };
            if !alive {
                orphans.push((id, owner));
            }
        }
        if orphans.is_empty() {
            return Ok(Vec::new());
        }

        let now = Ts(now());
        let failed: Vec<Uuid> = on_pool!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                let mut failed = Vec::new();
                for (id, owner) in &orphans {
                    let message =
                        format!("the engine running it stopped (owner {owner}) before it finished");
                    let updated = sqlx::query(FAIL_RUN)
                        .bind(*id)
                        .bind(owner)
                        .bind(ENGINE_RESTARTED)
                        .bind(&message)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    if updated.rows_affected() == 0 {
                        continue;
                    }
                    for sql in [FAIL_STEPS, FAIL_TASK_RUNS] {
                        sqlx::query(sql)
                            .bind(*id)
                            .bind(ENGINE_RESTARTED)
                            .bind(&message)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query(FAIL_DEPLOYMENTS)
                        .bind(*id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    failed.push(id.0);
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(failed)
            }
            .await
        })
        .map_err(query_error("cannot mark orphaned runs as failed"))?;
        Ok(failed)
    }
}

/// Whether SQLite said "database is locked" (SQLITE_BUSY or SQLITE_LOCKED, any extended
/// code).
fn is_busy(error: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    let code = match error {
        sqlx::Error::Database(error) => error.code().and_then(|code| code.parse::<i32>().ok()),
        _ => None,
    };
    code.is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
}

/// The smallest and largest uuid whose text starts with `prefix`: 4 to 32 hex digits,
/// either without dashes or with them where a uuid has them (`0193a1b2-7c`).
fn id_prefix_range(prefix: &str) -> Option<(Uuid, Uuid)> {
    const DASHES: [usize; 4] = [8, 13, 18, 23];
    let prefix = prefix.to_ascii_lowercase();
    let dashed = prefix.contains('-');
    let mut digits = String::with_capacity(32);
    for (i, c) in prefix.chars().enumerate() {
        match c {
            '-' if dashed && DASHES.contains(&i) => {}
            '0'..='9' | 'a'..='f' if !(dashed && DASHES.contains(&i)) => digits.push(c),
            _ => return None,
        }
    }
    if !(4..=32).contains(&digits.len()) {
        return None;
    }
    let low = Uuid::parse_str(&format!("{digits:0<32}")).ok()?;
    let high = Uuid::parse_str(&format!("{digits:f<32}")).ok()?;
    Some((low, high))
}

/// The URL with its password, if any, replaced by `***`.
fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..scheme_end],
        &authority[..colon],
        &url[scheme_end + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgres://me:secret@db:5432/runnel?sslmode=require"),
            "postgres://me:***@db:5432/runnel?sslmode=require"
        );
        assert_eq!(
            redact_password("postgres://me@db/runnel"),
            "postgres://me@db/runnel"
        );
        assert_eq!(
            redact_password("postgres://db/x?host=/a@b"),
            "postgres://db/x?host=/a@b"
        );
        assert_eq!(redact_password("runs.db"), "runs.db");
    }

    #[test]
    fn id_prefixes() {
        let (low, high) = id_prefix_range("0193A1b2-7c").unwrap();
        assert_eq!(low.to_string(), "0193a1b2-7c00-0000-0000-000000000000");
        assert_eq!(high.to_string(), "0193a1b2-7cff-ffff-ffff-ffffffffffff");
        assert!(id_prefix_range("0193a1b27c").is_some());
        assert!(id_prefix_range("019").is_none(), "fewer than 4 digits");
        assert!(
            id_prefix_range("dead-beef").is_none(),
            "a dash out of place"
        );
        assert!(id_prefix_range("0193a1b2-").is_some());
        assert!(id_prefix_range("hello").is_none());
        assert!(id_prefix_range("").is_none());
    }
}
