//! How record fields become column values on each backend, and rows become records.
//!
//! Each column type has one Rust type that implements sqlx's `Type`, `Encode` and `Decode`
//! for both [`Sqlite`] and [`Postgres`], so that a query is written (and its values bound)
//! once for both; see the module doc of [`super`].

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::types::Json;
use sqlx::{Database, Decode, Encode, Postgres, Sqlite, Type};
use uuid::Uuid;

use super::record::{RunKind, RunRecord, Source, Status, StepRecord, TaskRunRecord};

/// A record id: `uuid` on PostgreSQL, the lowercase hyphenated uuid as TEXT on SQLite (so
/// that the file is readable with the `sqlite3` shell, and text order is uuid order).
#[derive(Debug, Clone, Copy)]
pub(super) struct Id(pub Uuid);

/// A time: `timestamptz` on PostgreSQL; on SQLite TEXT in RFC 3339, UTC, with exactly six
/// fractional digits and a `Z` (`2025-01-02T03:04:05.123456Z`), so that text order is time
/// order. Both keep microseconds: finer digits are dropped.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ts(pub DateTime<Utc>);

impl Ts {
    pub(super) fn opt(time: Option<DateTime<Utc>>) -> Option<Ts> {
        time.map(Ts)
    }

    /// The SQLite text form.
    pub(super) fn to_text(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

/// `Type`, `Encode` and `Decode` for a type stored as text on SQLite, given how it becomes
/// text (`to`) and how text becomes it (`from`).
macro_rules! sqlite_as_text {
    ($ty:ty, to: $to:expr, from: $from:expr) => {
        impl Type<Sqlite> for $ty {
            fn type_info() -> <Sqlite as Database>::TypeInfo {
                <String as Type<Sqlite>>::type_info()
            }

            fn compatible(ty: &<Sqlite as Database>::TypeInfo) -> bool {
                <String as Type<Sqlite>>::compatible(ty)
            }
        }

        impl Encode<'_, Sqlite> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <Sqlite as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                let text: String = ($to)(self);
                Encode::<Sqlite>::encode(text, buf)
            }
        }

        impl<'r> Decode<'r, Sqlite> for $ty {
            fn decode(value: <Sqlite as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<Sqlite>>::decode(value)?;
                ($from)(text)
            }
        }
    };
}

/// `Type`, `Encode` and `Decode` for PostgreSQL, as those of `$inner`, given how to get it
/// (`to`) and how to make the type from it (`from`).
macro_rules! postgres_as {
    ($ty:ty, $inner:ty, to: $to:expr, from: $from:expr) => {
        impl Type<Postgres> for $ty {
            fn type_info() -> <Postgres as Database>::TypeInfo {
                <$inner as Type<Postgres>>::type_info()
            }

            fn compatible(ty: &<Postgres as Database>::TypeInfo) -> bool {
                <$inner as Type<Postgres>>::compatible(ty)
            }
        }

        impl Encode<'_, Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <Postgres as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                let inner: $inner = ($to)(self);
                Encode::<Postgres>::encode(inner, buf)
            }
        }

        impl<'r> Decode<'r, Postgres> for $ty {
            fn decode(value: <Postgres as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let inner = <$inner as Decode<Postgres>>::decode(value)?;
                ($from)(inner)
            }
        }
    };
}

sqlite_as_text!(Id,
    to: |id: &Id| id.0.hyphenated().to_string(),
    from: |text: &str| Ok(Id(Uuid::parse_str(text)?)));
postgres_as!(Id, Uuid, to: |id: &Id| id.0, from: |uuid| Ok::<_, BoxDynError>(Id(uuid)));

sqlite_as_text!(Ts,
    to: |ts: &Ts| ts.to_text(),
    from: |text: &str| Ok(Ts(DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc))));
postgres_as!(Ts, DateTime<Utc>, to: |ts: &Ts| ts.0, from: |time| Ok::<_, BoxDynError>(Ts(time)));

// Statuses and kinds are text on both backends.
sqlite_as_text!(Status,
    to: |status: &Status| status.as_str().to_owned(),
    from: |text: &str| Ok(text.parse::<Status>()?));
postgres_as!(Status, String,
    to: |status: &Status| status.as_str().to_owned(),
    from: |text: String| Ok::<_, BoxDynError>(text.parse::<Status>()?));

sqlite_as_text!(RunKind,
    to: |kind: &RunKind| kind.as_str().to_owned(),
    from: |text: &str| Ok(text.parse::<RunKind>()?));
postgres_as!(RunKind, String,
    to: |kind: &RunKind| kind.as_str().to_owned(),
    from: |text: String| Ok::<_, BoxDynError>(text.parse::<RunKind>()?));

/// The columns of `runs`, in the order [`crate::store`]'s upsert binds them.
macro_rules! run_columns {
    () => {
        "id, name, kind, target, params, status, reason, message, queued_at, started_at, \
         finished_at, results, source_repo, source_branch, source_commit, runner, owner, \
         log_prefix"
    };
}

/// The columns of `task_runs`, in the order [`crate::store`]'s upsert binds them.
macro_rules! task_run_columns {
    () => {
        "id, run_id, name, pipeline_task, task, matrix_index, attempt, is_finally, params, \
         status, reason, message, queued_at, started_at, finished_at, results"
    };
}

/// The columns of `steps`, in the order [`crate::store`]'s upsert binds them.
macro_rules! step_columns {
    () => {
        "id, task_run_id, step_index, name, image, status, reason, message, exit_code, \
         started_at, finished_at, log"
    };
}

pub(super) use {run_columns, step_columns, task_run_columns};

/// A row of `runs`.
#[derive(sqlx::FromRow)]
pub(super) struct RunRow {
    id: Id,
    name: String,
    kind: RunKind,
    target: String,
    params: Json<Value>,
    status: Status,
    reason: String,
    message: Option<String>,
    queued_at: Ts,
    started_at: Option<Ts>,
    finished_at: Option<Ts>,
    results: Json<Value>,
    source_repo: Option<String>,
    source_branch: Option<String>,
    source_commit: Option<String>,
    runner: String,
    owner: Option<String>,
    log_prefix: String,
}

impl From<RunRow> for RunRecord {
    fn from(row: RunRow) -> Self {
        RunRecord {
            id: row.id.0,
            name: row.name,
            kind: row.kind,
            target: row.target,
            params: row.params.0,
            status: row.status,
            reason: row.reason,
            message: row.message,
            queued_at: row.queued_at.0,
            started_at: row.started_at.map(|t| t.0),
            finished_at: row.finished_at.map(|t| t.0),
            results: row.results.0,
            source: Source {
                repo: row.source_repo,
                branch: row.source_branch,
                commit: row.source_commit,
            },
            runner: row.runner,
            owner: row.owner,
            log_prefix: row.log_prefix,
        }
    }
}

/// A row of `task_runs`.
#[derive(sqlx::FromRow)]
pub(super) struct TaskRunRow {
    id: Id,
    run_id: Id,
    name: String,
    pipeline_task: Option<String>,
    task: Option<String>,
    matrix_index: Option<i32>,
    attempt: i32,
    is_finally: bool,
    params: Json<Value>,
    status: Status,
    reason: String,
    message: Option<String>,
    queued_at: Ts,
    started_at: Option<Ts>,
    finished_at: Option<Ts>,
    results: Json<Value>,
}

impl From<TaskRunRow> for TaskRunRecord {
    fn from(row: TaskRunRow) -> Self {
        TaskRunRecord {
            id: row.id.0,
            run_id: row.run_id.0,
            name: row.name,
            pipeline_task: row.pipeline_task,
            task: row.task,
            matrix_index: row.matrix_index,
            attempt: row.attempt,
            finally: row.is_finally,
            params: row.params.0,
            status: row.status,
            reason: row.reason,
            message: row.message,
            queued_at: row.queued_at.0,
            started_at: row.started_at.map(|t| t.0),
            finished_at: row.finished_at.map(|t| t.0),
            results: row.results.0,
        }
    }
}

/// A row of `steps`.
#[derive(sqlx::FromRow)]
pub(super) struct StepRow {
    id: Id,
    task_run_id: Id,
    step_index: i32,
    name: String,
    image: Option<String>,
    status: Status,
    reason: String,
    message: Option<String>,
    exit_code: Option<i32>,
    started_at: Option<Ts>,
    finished_at: Option<Ts>,
    log: Option<String>,
}

impl From<StepRow> for StepRecord {
    fn from(row: StepRow) -> Self {
        StepRecord {
            id: row.id.0,
            task_run_id: row.task_run_id.0,
            index: row.step_index,
            name: row.name,
            image: row.image,
            status: row.status,
            reason: row.reason,
            message: row.message,
            exit_code: row.exit_code,
            started_at: row.started_at.map(|t| t.0),
            finished_at: row.finished_at.map(|t| t.0),
            log: row.log,
        }
    }
}
