//! Execution: turning loaded documents into runs ([`prepare`]) and running them on a
//! [`Runner`] ([`Engine::execute`]). A PipelineRun (or a bare Pipeline) goes through the
//! [`pipeline`] scheduler; a TaskRun (or a bare Task) runs directly through [`taskrun`].
//! Everything that happens is reported as [`events::ExecEvent`]s to observers, which is how
//! runs are recorded and printed.

pub mod events;
pub mod matrix;
pub mod pipeline;
pub mod prepare;
pub mod record;
pub mod scope;
mod step_when;
pub mod taskrun;
pub mod volumes;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use runnel_runner::Runner;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::Status;
use crate::subst::Value;
use events::{ExecEvent, Observers};
use scope::to_json;

pub use prepare::{Body, Prepared, Refusal, RunOptions, prepare};

/// How the engine runs things.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How many TaskRuns may run at once.
    pub max_parallel: usize,
    /// How long a step may take to stop after SIGTERM before it is killed.
    pub grace: Duration,
    /// The largest result a step may write, in bytes (Tekton's default is 4 KiB per
    /// result in the termination message; runnel reads files and allows 1 MiB).
    pub result_limit: usize,
    /// Where per-run directories (results, scripts, workspaces) go.
    pub work_dir: PathBuf,
    /// Where `persistentVolumeClaim` workspaces live, one directory per claim.
    pub volumes_dir: PathBuf,
    /// The timeout of a TaskRun, and of a PipelineRun, when none is given (Tekton's
    /// `default-timeout-minutes`, 60).
    pub default_timeout: Option<Duration>,
    /// What `$(context.*.namespace)` says.
    pub namespace: String,
    /// The ConfigMaps and Secrets that `configMap`, `secret` and `projected` volumes
    /// mount (the documents given to runnel).
    pub objects: Arc<volumes::Objects>,
}

impl EngineConfig {
    /// The defaults, with run directories under `state_dir` (usually `.runnel`; made
    /// absolute, since steps run in other directories).
    pub fn new(state_dir: &std::path::Path) -> Self {
        let state_dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_owned());
        EngineConfig {
            max_parallel: std::thread::available_parallelism().map_or(2, |n| n.get()),
            grace: Duration::from_secs(10),
            result_limit: 1024 * 1024,
            work_dir: state_dir.join("runs"),
            volumes_dir: state_dir.join("volumes"),
            default_timeout: Some(Duration::from_secs(3600)),
            namespace: "default".to_owned(),
            objects: Arc::default(),
        }
    }
}

/// What the scheduler and TaskRuns share.
pub struct Shared {
    pub runner: Arc<dyn Runner>,
    pub observers: Observers,
    pub config: EngineConfig,
    /// One permit per TaskRun that may run at once.
    pub slots: Arc<Semaphore>,
}

/// How a run is stopped from outside: `graceful` cancels running tasks and still runs
/// `finally` (Tekton's `CancelledRunFinally`); `hard` cancels everything (`Cancelled`).
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    pub graceful: CancellationToken,
    pub hard: CancellationToken,
}

/// One task's line in a run's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSummary {
    pub name: String,
    pub finally: bool,
    pub status: Status,
    pub reason: String,
    pub message: Option<String>,
    pub duration: Option<Duration>,
    pub retries: u32,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    pub id: Uuid,
    pub name: String,
    pub status: Status,
    pub reason: String,
    pub message: Option<String>,
    pub results: BTreeMap<String, Value>,
    pub tasks: Vec<TaskSummary>,
}

impl RunEnd {
    /// Tekton's `Succeeded` condition is true (reason Succeeded or Completed).
    pub fn succeeded(&self) -> bool {
        self.status == Status::Succeeded
    }
}

/// Runs prepared runs on one runner.
pub struct Engine {
    shared: Arc<Shared>,
}

impl Engine {
    pub fn new(runner: Arc<dyn Runner>, observers: Observers, config: EngineConfig) -> Self {
        let slots = Arc::new(Semaphore::new(config.max_parallel.max(1)));
        Engine {
            shared: Arc::new(Shared {
                runner,
                observers,
                config,
                slots,
            }),
        }
    }

    /// Runs one prepared run to its end, reporting every step of it to the observers.
    pub async fn execute(&self, prepared: Prepared, control: RunControl) -> RunEnd {
        let shared = &self.shared;
        let (tasks, graph) = match &prepared.body {
            Ok(Body::Pipeline(p)) => (
                p.spec.tasks.len() + p.spec.finally.len(),
                pipeline::graph(&p.spec),
            ),
            _ => (1, Vec::new()),
        };
        shared.observers.emit(ExecEvent::RunStarted {
            id: prepared.id,
            name: prepared.name.clone(),
            kind: prepared.kind,
            target: prepared.target.clone(),
            params: prepared.params.clone(),
            tasks,
            graph,
            at: Utc::now(),
        });
        match prepared.body {
            Err(refusal) => {
                let message = Some(refusal.message.clone());
                shared.observers.emit(ExecEvent::RunFinished {
                    id: prepared.id,
                    status: Status::Failed,
                    reason: refusal.reason.to_owned(),
                    message: message.clone(),
                    results: serde_json::Value::Object(Default::default()),
                    at: Utc::now(),
                });
                RunEnd {
                    id: prepared.id,
                    name: prepared.name,
                    status: Status::Failed,
                    reason: refusal.reason.to_owned(),
                    message,
                    results: BTreeMap::new(),
                    tasks: Vec::new(),
                }
            }
            Ok(Body::Pipeline(plan)) => pipeline::run(shared.clone(), *plan, control).await,
            Ok(Body::Task(inst)) => {
                let token = CancellationToken::new();
                let watch = {
                    let token = token.clone();
                    let control = control.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = control.graceful.cancelled() => {}
                            () = control.hard.cancelled() => {}
                        }
                        token.cancel();
                    })
                };
                let end = taskrun::run(shared, &inst, &token).await;
                watch.abort();
                let results_json = serde_json::Value::Object(
                    end.results
                        .iter()
                        .map(|(k, v)| (k.clone(), to_json(v)))
                        .collect(),
                );
                shared.observers.emit(ExecEvent::RunFinished {
                    id: prepared.id,
                    status: end.status,
                    reason: end.reason.clone(),
                    message: end.message.clone(),
                    results: results_json,
                    at: Utc::now(),
                });
                RunEnd {
                    id: prepared.id,
                    name: prepared.name,
                    status: end.status,
                    reason: end.reason.clone(),
                    message: end.message.clone(),
                    results: end.results.clone(),
                    tasks: vec![TaskSummary {
                        name: inst.name.clone(),
                        finally: false,
                        status: end.status,
                        reason: end.reason,
                        message: end.message,
                        duration: end
                            .started
                            .map(|s| (end.finished - s).to_std().unwrap_or_default()),
                        retries: end.retries_used,
                    }],
                }
            }
        }
    }
}
