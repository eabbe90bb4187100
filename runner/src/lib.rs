//! The runner boundary: the engine hands a backend one TaskRun attempt at a time, as a
//! [`TaskJob`] whose every `$(…)` is already substituted, and the backend runs its steps in
//! order, reporting each step's start, output lines and end as [`Event`]s. Backends know
//! nothing of Tekton YAML, pipelines, records or logs storage; the engine knows nothing of
//! processes or containers.
//!
//! Backends: [`local`] runs each step as a host process. Docker and Kubernetes come next.

pub mod local;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A boxed future, so that the engine can hold any backend as `dyn Runner`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A place to run TaskRuns.
pub trait Runner: Send + Sync {
    /// The backend's name, as `--runner` spells it (`local`, `docker`).
    fn name(&self) -> &'static str;

    /// The path at which a step sees `host_path`, which a container backend mounts at
    /// `mount_path`. The engine substitutes `$(workspaces.NAME.path)`,
    /// `$(results.NAME.path)` and friends with what this returns; the local backend, which
    /// mounts nothing, answers the host path itself.
    fn path_in_step(&self, host_path: &Path, mount_path: &str) -> String;

    /// Runs the job's steps in order and returns when the last one has ended, the job was
    /// cancelled, or a step failed without `onError: continue`. Every step of the job gets
    /// exactly one [`StepOutcome`] (steps never reached are [`StepStatus::Skipped`]), sent as
    /// [`Event::StepFinished`] after its output and returned in [`TaskOutcome::steps`].
    ///
    /// When `cancel` fires, the running step is asked to stop (SIGTERM or the backend's
    /// equivalent) and forced after [`TaskJob::grace`]; it ends as
    /// [`StepStatus::Cancelled`]. The engine cancels for timeouts and for users alike and
    /// knows which it was.
    fn run_task<'a>(
        &'a self,
        job: TaskJob,
        events: mpsc::Sender<Event>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, TaskOutcome>;

    /// Things the user should be told once, at the end of a run (e.g. the local backend's
    /// list of the images it ignored).
    fn notices(&self) -> Vec<String> {
        Vec::new()
    }
}

/// One attempt of one TaskRun, ready to run.
#[derive(Debug, Clone)]
pub struct TaskJob {
    /// The TaskRun attempt's id (for labels and names of what a backend creates).
    pub id: String,
    /// The TaskRun's name (e.g. `hello-run-greet`).
    pub name: String,
    /// The directories the engine prepared on the host for this attempt.
    pub dirs: TaskDirs,
    /// What a container backend mounts: workspaces and the `/tekton/...` directories.
    pub mounts: Vec<Mount>,
    pub steps: Vec<StepJob>,
    pub sidecars: Vec<StepJob>,
    /// Whether to write each step's exit code to `steps/STEP/exitCode` (the engine asks
    /// when a step reads `$(steps.STEP.exitCode.path)`; most tasks never do).
    pub exit_codes: bool,
    /// How long a step may take to stop after it was asked to, before it is killed.
    pub grace: Duration,
}

/// Host directories of one TaskRun attempt. The engine creates `results` before the job
/// runs; a backend creates the others when it needs them.
#[derive(Debug, Clone)]
pub struct TaskDirs {
    /// Task results: the step writes `results/NAME`, the engine reads it afterwards.
    pub results: PathBuf,
    /// Per-step files: `steps/STEP/exitCode` (written by the backend), step results.
    pub steps: PathBuf,
    /// Scripts are written here by the backend before they run.
    pub scripts: PathBuf,
    /// The default working directory of the steps (an empty directory per attempt).
    pub work: PathBuf,
}

/// A host directory a container backend mounts into every step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host_path: PathBuf,
    pub mount_path: String,
    pub read_only: bool,
}

/// `onError` of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// A failing step fails the task and the steps after it are skipped.
    #[default]
    StopAndFail,
    /// The exit code is recorded and the next step runs.
    Continue,
}

/// One step (or sidecar), every field already substituted.
#[derive(Debug, Clone, Default)]
pub struct StepJob {
    pub name: String,
    pub image: Option<String>,
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// A script: run by its shebang, or by `/bin/sh` with `set -e` prepended when it has
    /// none (as Tekton does).
    pub script: Option<String>,
    /// Environment on top of what the backend provides, in order (a later entry wins).
    pub env: Vec<(String, String)>,
    /// Relative paths are taken from [`TaskDirs::work`].
    pub working_dir: Option<String>,
    pub timeout: Option<Duration>,
    pub on_error: OnError,
    /// `stdoutConfig.path` / `stderrConfig.path`: the stream is also written to this file.
    pub stdout_path: Option<String>,
    pub stderr_path: Option<String>,
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// What a backend reports while a job runs, in order for each step.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    StepStarted {
        step: usize,
        at: SystemTime,
    },
    /// One line of output, without its line terminator (a last line without one is
    /// reported too). Lines are raw bytes: steps may print anything.
    Output {
        step: usize,
        stream: Stream,
        at: SystemTime,
        line: Vec<u8>,
    },
    StepFinished {
        step: usize,
        outcome: StepOutcome,
    },
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepStatus {
    /// Exit code 0.
    Succeeded,
    /// A non-zero exit code (with `onError: continue` the task goes on regardless).
    Failed,
    /// The step's own timeout expired and it was stopped.
    TimedOut,
    /// The job was cancelled while the step ran.
    Cancelled,
    /// Never started: an earlier step failed, or the job was cancelled before.
    Skipped,
    /// Could not be started at all (binary not found, bad working directory, ...).
    Error,
}

impl StepStatus {
    /// Whether the step ran and exited 0.
    pub fn succeeded(self) -> bool {
        self == StepStatus::Succeeded
    }
}

/// The end of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome {
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub started: Option<SystemTime>,
    pub finished: SystemTime,
    /// What went wrong, in words a user can act on (`"sh: not found"`, `"killed by
    /// signal 9"`, `"timed out after 5s"`).
    pub message: Option<String>,
}

/// The end of a job: one outcome per step, in the job's order.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskOutcome {
    pub steps: Vec<StepOutcome>,
}

impl TaskOutcome {
    /// Whether the task succeeded: every step either succeeded or failed (or timed out)
    /// under `onError: continue`; none was cancelled, errored or skipped.
    pub fn succeeded(&self, job_steps: &[StepJob]) -> bool {
        self.steps
            .iter()
            .zip(job_steps)
            .all(|(o, s)| match o.status {
                StepStatus::Succeeded => true,
                StepStatus::Failed | StepStatus::TimedOut => s.on_error == OnError::Continue,
                _ => false,
            })
    }
}
