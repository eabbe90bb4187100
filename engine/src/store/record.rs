//! The records the store keeps: one [`RunRecord`] per PipelineRun (or TaskRun run on its own),
//! one [`TaskRunRecord`] per TaskRun attempt, one [`StepRecord`] per step of an attempt.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a run, TaskRun or step is in its life.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Skipped,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Queued,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::Cancelled,
        Status::Skipped,
    ];

    /// The name as stored and shown: `Queued`, `Running`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "Queued",
            Status::Running => "Running",
            Status::Succeeded => "Succeeded",
            Status::Failed => "Failed",
            Status::Cancelled => "Cancelled",
            Status::Skipped => "Skipped",
        }
    }

    /// Whether nothing more will happen to it (anything but `Queued` and `Running`).
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Queued | Status::Running)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`Status::as_str`]'s (or [`RunKind::as_str`]'s).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?} (expected one of {expected})")]
pub struct ParseError {
    what: &'static str,
    value: String,
    expected: &'static str,
}

impl ParseError {
    /// `value` is not a `what`; `expected` lists what is.
    pub fn new(what: &'static str, value: &str, expected: &'static str) -> ParseError {
        ParseError {
            what,
            value: value.to_owned(),
            expected,
        }
    }
}

impl FromStr for Status {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ParseError {
                what: "status",
                value: s.to_owned(),
                expected: "Queued, Running, Succeeded, Failed, Cancelled, Skipped",
            })
    }
}

/// What a run runs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunKind {
    PipelineRun,
    TaskRun,
}

impl RunKind {
    /// The Tekton kind: `PipelineRun` or `TaskRun`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::PipelineRun => "PipelineRun",
            RunKind::TaskRun => "TaskRun",
        }
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunKind {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "PipelineRun" => Ok(RunKind::PipelineRun),
            "TaskRun" => Ok(RunKind::TaskRun),
            _ => Err(ParseError {
                what: "run kind",
                value: s.to_owned(),
                expected: "PipelineRun, TaskRun",
            }),
        }
    }
}

/// The commit a run was started for, when it was started from a repository.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
}

/// One PipelineRun, or one TaskRun run on its own.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// A uuid v7 (see [`new_id`]).
    pub id: Uuid,
    /// The run's name, e.g. `hello-run-x7k2p`. Not unique: [`super::Store::get_run`] finds the
    /// newest of a name.
    pub name: String,
    pub kind: RunKind,
    /// The Pipeline's (or Task's) name.
    pub target: String,
    pub params: serde_json::Value,
    pub status: Status,
    /// Tekton's reason: `Running`, `Succeeded`, `Completed`, `Failed`, `PipelineRunTimeout`,
    /// `Cancelled`, `EngineRestarted`, ...
    pub reason: String,
    pub message: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub results: serde_json::Value,
    pub source: Source,
    /// The runner backend: `local`, `docker`, ...
    pub runner: String,
    /// The engine process that runs it, as [`super::owner_of_this_process`] names it; `None`
    /// once no process is responsible for it any more (or for records that never had one).
    pub owner: Option<String>,
    /// Where its logs are in the log store.
    pub log_prefix: String,
}

/// One attempt of one TaskRun.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRunRecord {
    pub id: Uuid,
    pub run_id: Uuid,
    /// The TaskRun's name, e.g. `hello-run-x7k2p-greet`; the same for every attempt.
    pub name: String,
    /// The pipeline task's name (`None` for a TaskRun run on its own).
    pub pipeline_task: Option<String>,
    /// The resolved Task's name (`None` for an embedded `taskSpec`).
    pub task: Option<String>,
    pub matrix_index: Option<i32>,
    /// 0 for the first attempt, 1 for the first retry, ...
    pub attempt: i32,
    /// Whether it is one of the pipeline's `finally` tasks.
    pub finally: bool,
    pub params: serde_json::Value,
    pub status: Status,
    pub reason: String,
    pub message: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub results: serde_json::Value,
}

/// One step of one TaskRun attempt.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: Uuid,
    pub task_run_id: Uuid,
    /// The step's position in the Task, from 0.
    pub index: i32,
    pub name: String,
    pub image: Option<String>,
    pub status: Status,
    pub reason: String,
    pub message: Option<String>,
    pub exit_code: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The step's key in the log store.
    pub log: Option<String>,
}

/// A new record id: a uuid v7, so ids sort by creation time.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// The current time as the store keeps it: both backends keep microseconds, so a time with
/// nanoseconds would come back different from what was saved. Records built with this
/// compare equal to what [`super::Store`] reads back.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
