//! What an execution reports as it goes. The engine sends every [`ExecEvent`] to its
//! [`Observer`]s in order: the recorder (run records and logs) and the CLI's live output are
//! both observers.

use chrono::{DateTime, Utc};
use runnel_runner::{StepOutcome, Stream};
use uuid::Uuid;

use crate::store::{DeploymentKind, RunKind, Status};

/// A pipeline task in a run's graph: what it runs after (by `runAfter` or by using its
/// results).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GraphNode {
    pub name: String,
    pub after: Vec<String>,
    pub finally: bool,
}

/// A step as the TaskRun declares it (for records and output).
#[derive(Debug, Clone, PartialEq)]
pub struct StepInfo {
    pub name: String,
    pub image: Option<String>,
}

/// A TaskRun that deploys: its Task is annotated `runnel.dev/deployment` (the value, after
/// substitution, is the environment). Optional annotations name the service
/// (`runnel.dev/deployment-service`, else the run's repository, else its pipeline), the
/// commit (`runnel.dev/deployment-commit`, else the run's) and the kind
/// (`runnel.dev/deployment-kind`: deploy, hotfix or rollback).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentMark {
    pub environment: String,
    pub service: Option<String>,
    pub commit: Option<String>,
    pub kind: DeploymentKind,
}

/// One thing that happened during a run.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecEvent {
    RunStarted {
        id: Uuid,
        name: String,
        kind: RunKind,
        target: String,
        params: serde_json::Value,
        /// How many tasks (pipeline tasks and finally tasks) the run has.
        tasks: usize,
        /// A PipelineRun's tasks and their dependencies (empty for a TaskRun).
        graph: Vec<GraphNode>,
        at: DateTime<Utc>,
    },
    TaskRunStarted {
        id: Uuid,
        run_id: Uuid,
        name: String,
        pipeline_task: Option<String>,
        task: Option<String>,
        matrix_index: Option<usize>,
        attempt: u32,
        finally: bool,
        params: serde_json::Value,
        steps: Vec<StepInfo>,
        /// Set when the TaskRun deploys (it is recorded as a deployment).
        deployment: Option<DeploymentMark>,
        at: DateTime<Utc>,
    },
    StepStarted {
        task_run: Uuid,
        index: usize,
        at: DateTime<Utc>,
    },
    Output {
        task_run: Uuid,
        index: usize,
        stream: Stream,
        at: DateTime<Utc>,
        line: Vec<u8>,
    },
    StepFinished {
        task_run: Uuid,
        index: usize,
        outcome: StepOutcome,
    },
    TaskRunFinished {
        id: Uuid,
        status: Status,
        reason: String,
        message: Option<String>,
        results: serde_json::Value,
        at: DateTime<Utc>,
    },
    /// A pipeline task that never ran (its `when` was false, the run was stopping, ...).
    TaskSkipped {
        id: Uuid,
        run_id: Uuid,
        pipeline_task: String,
        finally: bool,
        reason: String,
        at: DateTime<Utc>,
    },
    RunFinished {
        id: Uuid,
        status: Status,
        reason: String,
        message: Option<String>,
        results: serde_json::Value,
        at: DateTime<Utc>,
    },
}

/// Something that follows a run's events. Called from the engine's tasks: keep it quick
/// (hand slow work to a channel).
pub trait Observer: Send + Sync {
    fn on_event(&self, event: &ExecEvent);
}

/// Sends each event to several observers, in order.
#[derive(Default, Clone)]
pub struct Observers(pub Vec<std::sync::Arc<dyn Observer>>);

impl Observers {
    pub fn emit(&self, event: ExecEvent) {
        for o in &self.0 {
            o.on_event(&event);
        }
    }
}
