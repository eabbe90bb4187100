//! The runner boundary: the engine hands a backend one TaskRun attempt at a time, as a
//! [`TaskJob`] whose every `$(…)` is already substituted, and the backend runs its steps in
//! order, reporting each step's start, output lines and end as [`Event`]s. Backends know
//! nothing of Tekton YAML, pipelines, records or logs storage; the engine knows nothing of
//! processes or containers.
//!
//! Backends: [`local`] runs each step as a host process; [`docker`] runs each step in a
//! container through the Docker engine. Kubernetes comes next.

pub mod docker;
mod lines;
pub mod local;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
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

    /// Finishes what the backend left in the background (the Docker backend removes
    /// containers off the critical path). Call it before exiting; what a crash leaves is
    /// for the backend's own cleanup.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Things the user should be told once, at the end of a run (e.g. the local backend's
    /// list of the images it ignored).
    fn notices(&self) -> Vec<String> {
        Vec::new()
    }
}

/// One attempt of one TaskRun, ready to run.
#[derive(Debug, Clone)]
pub struct TaskJob {
    /// The id of the run (PipelineRun or TaskRun) the job belongs to, for labels.
    pub run: String,
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
    /// Whether to write each step's exit code to `steps/step-STEP/exitCode` (the engine asks
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
    /// Per-step files, in `steps/step-STEP/` as Tekton lays them out: `exitCode`
    /// (written by the backend) and step results.
    pub steps: PathBuf,
    /// Scripts are written here by the backend before they run.
    pub scripts: PathBuf,
    /// The default working directory of the steps (an empty directory per attempt); a
    /// container backend mounts it at `/workspace`, as Tekton does.
    pub work: PathBuf,
    /// The steps' shared home directory, which a container backend mounts at
    /// `/tekton/home` (the local backend leaves `HOME` as it is).
    pub home: PathBuf,
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
    /// `imagePullPolicy`; `None` leaves the backend's default.
    pub pull_policy: Option<PullPolicy>,
    /// `securityContext.runAsUser` / `runAsGroup`.
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    /// `computeResources.limits`: CPUs (`500m` is 0.5) and memory in bytes.
    pub cpu_limit: Option<f64>,
    pub memory_limit: Option<i64>,
    /// A sidecar's `readinessProbe`: the steps start once it passes.
    pub readiness: Option<Probe>,
    /// `volumeMounts`: host directories a container backend mounts into this step only
    /// (one at the path of a job-wide mount replaces it). The local backend ignores them.
    pub mounts: Vec<Mount>,
    /// Whether the step runs, asked just before it would start (Tekton's step `when`).
    pub guard: Option<StepGuard>,
}

/// A step's condition, decided by its caller just before the step would start, so that it
/// can read what the earlier steps wrote: `Ok(true)` runs the step, `Ok(false)` skips it
/// (the next steps still run), `Err` ends it in error.
#[derive(Clone)]
pub struct StepGuard(pub Arc<dyn Fn() -> Result<bool, String> + Send + Sync>);

impl std::fmt::Debug for StepGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepGuard")
    }
}

/// The message of a step its guard skipped.
pub const GUARD_SKIP: &str = "when expressions evaluated to false";

/// `imagePullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull before every use (once per runner, here).
    Always,
    /// Pull only when the image is not present.
    IfNotPresent,
    /// Never pull: a missing image is an error.
    Never,
}

impl PullPolicy {
    /// `Always`, `IfNotPresent` or `Never`, as Kubernetes spells them.
    pub fn parse(text: &str) -> Option<PullPolicy> {
        match text {
            "Always" => Some(PullPolicy::Always),
            "IfNotPresent" => Some(PullPolicy::IfNotPresent),
            "Never" => Some(PullPolicy::Never),
            _ => None,
        }
    }
}

/// A readiness probe of a sidecar.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub check: ProbeCheck,
    /// Wait this long after the sidecar started before the first check.
    pub initial_delay: Duration,
    /// Between checks.
    pub period: Duration,
    /// How long one check may take.
    pub timeout: Duration,
}

/// What a readiness probe checks.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeCheck {
    /// The command, run in the sidecar, exits 0.
    Exec(Vec<String>),
    /// A TCP connection to the port of the sidecar is accepted.
    Tcp(u16),
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

/// The message of the steps not run because the task was cancelled.
pub(crate) const CANCELLED_SKIP: &str = "not run: the task was cancelled";

/// Why the steps after `step` are not run, given how it ended; `None` if the next one runs.
pub(crate) fn skip_reason(step: &StepJob, outcome: &StepOutcome) -> Option<String> {
    let continues = step.on_error == OnError::Continue;
    match outcome.status {
        StepStatus::Succeeded | StepStatus::Skipped => None,
        StepStatus::Failed | StepStatus::TimedOut if continues => None,
        StepStatus::Failed => Some(format!("not run: step `{}` failed", step.name)),
        StepStatus::TimedOut => Some(format!("not run: step `{}` timed out", step.name)),
        StepStatus::Error => Some(format!(
            "not run: step `{}` could not be started",
            step.name
        )),
        StepStatus::Cancelled => Some(CANCELLED_SKIP.to_string()),
    }
}

/// The outcome of a step that could not be started.
pub(crate) fn error_outcome(message: String) -> StepOutcome {
    StepOutcome {
        status: StepStatus::Error,
        exit_code: None,
        started: None,
        finished: SystemTime::now(),
        message: Some(message),
    }
}

/// The outcome of a step never reached.
pub(crate) fn skipped_outcome(message: String) -> StepOutcome {
    StepOutcome {
        status: StepStatus::Skipped,
        exit_code: None,
        started: None,
        finished: SystemTime::now(),
        message: Some(message),
    }
}

/// Runs the job's steps in order with `run_step` (given each step's index), skipping the rest once one ends the task
/// (or `cancel` fired), and sends each step's [`Event::StepFinished`].
pub(crate) async fn run_steps<F, Fut>(
    job: &TaskJob,
    events: &mpsc::Sender<Event>,
    cancel: &CancellationToken,
    mut run_step: F,
) -> Vec<StepOutcome>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = StepOutcome>,
{
    let mut outcomes = Vec::with_capacity(job.steps.len());
    // Why the remaining steps are not run, once one of them ended the task.
    let mut skip: Option<String> = None;
    for (index, step) in job.steps.iter().enumerate() {
        if skip.is_none() && cancel.is_cancelled() {
            skip = Some(CANCELLED_SKIP.to_string());
        }
        let outcome = match &skip {
            Some(message) => skipped_outcome(message.clone()),
            None => {
                let outcome = match step.guard.as_ref().map(|guard| (guard.0)()) {
                    Some(Ok(false)) => StepOutcome {
                        // As Tekton reports a step its `when` skipped: exit code 0.
                        exit_code: Some(0),
                        ..skipped_outcome(GUARD_SKIP.to_string())
                    },
                    Some(Err(message)) => error_outcome(message),
                    Some(Ok(true)) | None => run_step(index).await,
                };
                skip = skip_reason(step, &outcome);
                outcome
            }
        };
        let finished = Event::StepFinished {
            step: index,
            outcome: outcome.clone(),
        };
        let _ = events.send(finished).await;
        outcomes.push(outcome);
    }
    outcomes
}

/// `NN-NAME`, or `PREFIX-NN-NAME`, with anything but ASCII letters, digits, `.`, `_` and
/// `-` in the name replaced by `_` (a file or container name).
pub(crate) fn file_name(prefix: &str, index: usize, name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{index:02}-{name}")
}

/// A duration as Go (and so Tekton) writes it: `500ms`, `5s`, `1.5s`, `2m0s`, `1h0m0s`.
pub(crate) fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let millis = duration.subsec_millis();
    if secs == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let seconds = if millis == 0 {
        format!("{}s", secs % 60)
    } else {
        let fraction = format!("{millis:03}");
        format!("{}.{}s", secs % 60, fraction.trim_end_matches('0'))
    };
    match (secs / 3600, secs % 3600 / 60) {
        (0, 0) => seconds,
        (0, minutes) => format!("{minutes}m{seconds}"),
        (hours, minutes) => format!("{hours}h{minutes}m{seconds}"),
    }
}

/// Writes `STEPS/step-NAME/exitCode`: the code in decimal, without a newline.
pub(crate) async fn write_exit_code(steps: &Path, name: &str, code: i32) -> Result<(), String> {
    let dir = steps.join(format!("step-{name}"));
    let path = dir.join("exitCode");
    let result = async {
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::write(&path, code.to_string()).await
    }
    .await;
    result.map_err(|e| format!("could not write the exit code to `{}`: {e}", path.display()))
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
                // Skipped by its `when` (exit code 0), not for an earlier failure.
                StepStatus::Skipped => o.exit_code == Some(0),
                _ => false,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(61_250)), "1m1.25s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m0s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn file_names_are_numbered_and_tame() {
        assert_eq!(file_name("", 3, "build"), "03-build");
        assert_eq!(file_name("sidecar-", 0, "a/b c"), "sidecar-00-a_b_c");
        assert_eq!(file_name("", 12, ""), "12-");
    }

    #[test]
    fn skipping_follows_on_error() {
        let mut step = StepJob {
            name: "s".into(),
            ..StepJob::default()
        };
        let outcome = |status| StepOutcome {
            status,
            exit_code: None,
            started: None,
            finished: SystemTime::UNIX_EPOCH,
            message: None,
        };
        assert_eq!(
            skip_reason(&step, &outcome(StepStatus::Failed)).as_deref(),
            Some("not run: step `s` failed")
        );
        step.on_error = OnError::Continue;
        assert_eq!(skip_reason(&step, &outcome(StepStatus::Failed)), None);
        assert_eq!(skip_reason(&step, &outcome(StepStatus::TimedOut)), None);
        assert!(skip_reason(&step, &outcome(StepStatus::Error)).is_some());
        assert_eq!(
            skip_reason(&step, &outcome(StepStatus::Cancelled)).as_deref(),
            Some(CANCELLED_SKIP)
        );
    }
}
