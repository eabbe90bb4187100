//! The run queue: runs are saved `Queued` (by a webhook or the API) and started here, oldest
//! first, under a limit on runs at once in all and per repository. A run's [`Request`] says
//! what it runs: a repository's pipeline at a commit (pipelines-as-code: its `.tekton/` read
//! from a mirror at exactly that commit, its `taskRef`s resolved from there and from the
//! server's shared catalog), or a pipeline of the server's own.
//!
//! Queued runs live in the store, so a server that restarts picks them up. A run starts by
//! being claimed in the store (`Queued` → `Running`, owned by this process): a run cancelled
//! meanwhile is not claimed, and a run whose server dies while it runs is failed by the
//! next one (`EngineRestarted`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runnel_engine::exec::events::{Observer, Observers};
use runnel_engine::exec::record::Recorder;
use runnel_engine::exec::{Engine, EngineConfig, Prepared, Refusal, RunControl, RunOptions};
use runnel_engine::load::Loaded;
use runnel_engine::resolve::Catalog;
use runnel_engine::store::{QueuedRun, RunKind, RunRecord, Status, Store, StoreError};
use runnel_runner::Runner;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::config::{Settings, parse_forge};
use crate::git::Mirrors;
use crate::status::{CommitState, StatusReporter, StatusUpdate};

/// What a queued run runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    /// A repository's pipeline at a commit (pipelines-as-code).
    Repo {
        forge: String,
        repo: String,
        clone_url: String,
        sha: String,
        git_ref: String,
        /// The pipeline file or directory in the repository (`.tekton/` by default).
        pipeline: String,
        params: Vec<(String, String)>,
    },
    /// A Pipeline (or Task, PipelineRun, TaskRun) of the server's own: by name from its
    /// pipeline directories.
    Named {
        pipeline: String,
        params: Vec<(String, String)>,
    },
}

/// How a run is cancelled from the API, as Tekton's `spec.status` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CancelMode {
    /// Stop everything; `finally` does not run (Tekton `Cancelled`).
    Cancelled,
    /// Stop the running tasks, then run `finally` (Tekton `CancelledRunFinally`).
    CancelledRunFinally,
}

/// What cancelling found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// It was queued and will not start.
    Queued,
    /// It is running here and is being stopped.
    Running,
    /// Not queued and not running here (finished, or unknown).
    NotRunning,
}

struct Running {
    repo: Option<String>,
    branch: Option<String>,
    control: RunControl,
}

/// What running a run needs.
pub struct Parts {
    pub store: Store,
    pub runner: Arc<dyn Runner>,
    pub recorder: Arc<Recorder>,
    pub live: Arc<dyn Observer>,
    pub engine: EngineConfig,
    pub mirrors: Mirrors,
    /// Where checkouts of repositories' pipelines go, one directory per run.
    pub checkouts: PathBuf,
    /// Reports runs of repositories with a forge token as commit statuses.
    pub reporter: Option<StatusReporter>,
}

/// The queue and its dispatcher.
pub struct Queue {
    parts: Parts,
    settings: Arc<Settings>,
    owner: String,
    wake: Notify,
    running: Mutex<HashMap<Uuid, Running>>,
    /// No more runs start once this is cancelled.
    stopping: CancellationToken,
    tasks: TaskTracker,
}

impl Queue {
    pub fn new(parts: Parts, settings: Arc<Settings>) -> Arc<Queue> {
        Arc::new(Queue {
            parts,
            settings,
            owner: runnel_engine::store::owner_of_this_process(),
            wake: Notify::new(),
            running: Mutex::default(),
            stopping: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }

    /// The repository mirrors the queue fetches pipelines from.
    pub fn mirrors(&self) -> &Mirrors {
        &self.parts.mirrors
    }

    /// A run was queued, or a slot freed: look at the queue now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// How many runs are running here.
    pub fn running(&self) -> usize {
        self.running.lock().map_or(0, |r| r.len())
    }

    /// Starts queued runs as slots free up, until [`Queue::stop`].
    pub async fn dispatch(self: Arc<Self>) {
        loop {
            if let Err(e) = self.start_what_fits().await {
                tracing::warn!("the run queue cannot be read: {e}");
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
                () = self.stopping.cancelled() => return,
            }
        }
    }

    async fn start_what_fits(self: &Arc<Self>) -> Result<(), StoreError> {
        if self.stopping.is_cancelled() || self.running() >= self.settings.max_runs {
            return Ok(());
        }
        for q in self.parts.store.queued_runs().await? {
            if self.stopping.is_cancelled() {
                break;
            }
            {
                let Ok(running) = self.running.lock() else {
                    break;
                };
                if running.len() >= self.settings.max_runs {
                    break;
                }
                if running.contains_key(&q.run.id) {
                    continue;
                }
                let same_repo = running
                    .values()
                    .filter(|r| r.repo.is_some() && r.repo == q.repo)
                    .count();
                if q.repo.is_some() && same_repo >= self.settings.max_runs_per_repo {
                    continue;
                }
            }
            if !self.parts.store.claim_run(q.run.id, &self.owner).await? {
                continue;
            }
            let control = RunControl::default();
            if let Ok(mut running) = self.running.lock() {
                running.insert(
                    q.run.id,
                    Running {
                        repo: q.repo.clone(),
                        branch: q.branch.clone(),
                        control: control.clone(),
                    },
                );
            }
            let queue = self.clone();
            self.tasks.spawn(async move {
                let id = q.run.id;
                queue.execute(q, control).await;
                if let Ok(mut running) = queue.running.lock() {
                    running.remove(&id);
                }
                queue.wake();
            });
        }
        Ok(())
    }

    /// Cancels a queued or running run.
    pub async fn cancel(&self, id: Uuid, mode: CancelMode) -> Result<Cancelled, StoreError> {
        if let Some(control) = self
            .running
            .lock()
            .ok()
            .and_then(|r| r.get(&id).map(|r| r.control.clone()))
        {
            match mode {
                CancelMode::Cancelled => control.hard.cancel(),
                CancelMode::CancelledRunFinally => control.graceful.cancel(),
            }
            return Ok(Cancelled::Running);
        }
        if self
            .parts
            .store
            .cancel_queued(id, "cancelled before it started")
            .await?
        {
            return Ok(Cancelled::Queued);
        }
        Ok(Cancelled::NotRunning)
    }

    /// Cancels the runs of the same repository and branch (or pull request) queued or
    /// running before `newer`.
    pub async fn cancel_superseded(
        &self,
        newer: Uuid,
        repo: &str,
        branch: &str,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut cancelled = Vec::new();
        for q in self.parts.store.queued_runs().await? {
            if q.run.id < newer
                && q.repo.as_deref() == Some(repo)
                && q.branch.as_deref() == Some(branch)
                && self
                    .parts
                    .store
                    .cancel_queued(q.run.id, &format!("superseded by run {newer}"))
                    .await?
            {
                cancelled.push(q.run.id);
            }
        }
        if let Ok(running) = self.running.lock() {
            for (id, r) in running.iter() {
                if *id < newer
                    && r.repo.as_deref() == Some(repo)
                    && r.branch.as_deref() == Some(branch)
                {
                    r.control.graceful.cancel();
                    cancelled.push(*id);
                }
            }
        }
        Ok(cancelled)
    }

    /// Stops starting runs, lets the running ones finish for up to `drain`, then cancels
    /// them (`finally` still runs) and waits for them to end. Queued runs stay queued for
    /// the next start.
    pub async fn stop(&self, drain: Duration) {
        self.stopping.cancel();
        self.tasks.close();
        if tokio::time::timeout(drain, self.tasks.wait()).await.is_ok() {
            return;
        }
        tracing::warn!(
            "{} run(s) still running after {}s: cancelling them",
            self.running(),
            drain.as_secs()
        );
        if let Ok(running) = self.running.lock() {
            for r in running.values() {
                r.control.graceful.cancel();
            }
        }
        if tokio::time::timeout(drain, self.tasks.wait())
            .await
            .is_err()
            && let Ok(running) = self.running.lock()
        {
            for r in running.values() {
                r.control.hard.cancel();
            }
        }
        self.tasks.wait().await;
    }

    /// Reports a repository run's state as a commit status, when its repository has a
    /// forge token; in the background (a slow forge never holds a run or a webhook up).
    pub fn report(
        &self,
        run: &RunRecord,
        request: &Request,
        state: CommitState,
        description: String,
    ) {
        let Request::Repo {
            forge,
            repo,
            sha,
            git_ref,
            pipeline,
            ..
        } = request
        else {
            return;
        };
        let (Some(reporter), Some(forge)) = (self.parts.reporter.clone(), parse_forge(forge))
        else {
            return;
        };
        let Some(target) = self
            .settings
            .repo(forge, repo)
            .and_then(|r| r.status.clone())
        else {
            return;
        };
        let target_url = self
            .settings
            .public_url
            .as_ref()
            .map(|u| format!("{u}/runs/{}", run.id));
        let context = status_context(pipeline);
        let (repo, sha, git_ref) = (repo.clone(), sha.clone(), git_ref.clone());
        let short_ref = git_ref
            .strip_prefix("refs/heads/")
            .or_else(|| git_ref.strip_prefix("refs/tags/"))
            .map(str::to_owned);
        tokio::spawn(async move {
            let update = StatusUpdate {
                repo: &repo,
                sha: &sha,
                state,
                description: &description,
                target_url: target_url.as_deref(),
                git_ref: short_ref.as_deref(),
                context: &context,
            };
            if let Err(e) = reporter.report(forge, &target, &update).await {
                tracing::warn!("cannot report the commit status of {repo}@{sha}: {e}");
            }
        });
    }

    /// Runs one claimed run to its end. Whatever fails on the way is recorded on the run.
    async fn execute(&self, q: QueuedRun, control: RunControl) {
        let request: Result<Request, _> = serde_json::from_value(q.request.clone());
        if let Ok(r) = &request {
            self.report(
                &q.run,
                r,
                CommitState::Running,
                format!("{} is running", q.run.name),
            );
        }
        let dir = self.parts.checkouts.join(q.run.id.to_string());
        let (prepared, objects) = match &request {
            Ok(request) => self.prepare(&q.run, request, &dir).await,
            Err(e) => (
                refused(
                    &q.run,
                    "CouldntGetPipeline",
                    format!("the run's request cannot be read: {e}"),
                ),
                None,
            ),
        };
        let mut config = self.parts.engine.clone();
        if let Some(objects) = objects {
            config.objects = Arc::new(objects);
        }
        let observers = Observers(vec![self.parts.recorder.clone(), self.parts.live.clone()]);
        let engine = Engine::new(self.parts.runner.clone(), observers, config);
        let end = engine.execute(prepared, control).await;
        if let Ok(r) = &request {
            let state = match (end.status, end.reason.as_str()) {
                (Status::Succeeded, _) => CommitState::Success,
                (Status::Cancelled, _) => CommitState::Cancelled,
                (_, "CouldntGetPipeline" | "PipelineValidationFailed") => CommitState::Error,
                _ => CommitState::Failure,
            };
            let description = match &end.message {
                Some(m) => format!("{}: {m}", end.reason),
                None => format!("{} {}", end.name, end.reason),
            };
            self.report(&q.run, r, state, description);
        }
        tracing::info!(run = %q.run.id, status = end.status.as_str(), reason = %end.reason, "run finished");
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove the checkout {}: {e}", dir.display());
        }
    }

    /// Reads what the run runs and prepares it; a problem becomes a refused run, recorded
    /// Failed with Tekton's reason.
    async fn prepare(
        &self,
        run: &RunRecord,
        request: &Request,
        dir: &Path,
    ) -> (Prepared, Option<runnel_engine::exec::volumes::Objects>) {
        let (files, catalog_dirs, params) = match request {
            Request::Repo {
                clone_url,
                sha,
                git_ref,
                pipeline,
                params,
                ..
            } => {
                let mirrors = &self.parts.mirrors;
                if let Err(e) = mirrors.fetch(clone_url, sha, Some(git_ref)).await {
                    return (
                        refused(
                            run,
                            "CouldntGetPipeline",
                            format!("cannot fetch {sha}: {e}"),
                        ),
                        None,
                    );
                }
                let pipeline = pipeline.trim_matches('/');
                let tekton = dir.join(".tekton");
                // Files keep their paths in the repository, under `dir`.
                let wanted = if pipeline.starts_with(".tekton") {
                    ".tekton"
                } else {
                    pipeline
                };
                let extracted = mirrors.extract(clone_url, sha, wanted, dir).await;
                if let Err(e) = extracted {
                    return (
                        refused(
                            run,
                            "CouldntGetPipeline",
                            format!("cannot read {pipeline} at {sha}: {e}"),
                        ),
                        None,
                    );
                }
                let mut catalog_dirs = Vec::new();
                if tekton.is_dir() {
                    catalog_dirs.push(tekton);
                }
                catalog_dirs.extend(self.settings.tasks.iter().cloned());
                (vec![dir.join(pipeline)], catalog_dirs, params.clone())
            }
            Request::Named { pipeline, params } => {
                match find_named(&self.settings.pipelines, pipeline) {
                    Some(file) => (vec![file], self.settings.tasks.clone(), params.clone()),
                    None => {
                        return (
                            refused(
                                run,
                                "CouldntGetPipeline",
                                format!(
                                    "no pipeline `{pipeline}` in {}",
                                    list_dirs(&self.settings.pipelines)
                                ),
                            ),
                            None,
                        );
                    }
                }
            }
        };
        let loaded = match Loaded::from_paths(&files) {
            Ok(l) => l,
            Err(e) => {
                return (refused(run, "CouldntGetPipeline", e.to_string()), None);
            }
        };
        let diags = runnel_engine::validate::validate(&loaded);
        if diags.has_errors() {
            let errors: Vec<String> = diags
                .iter()
                .filter(|d| d.is_error())
                .take(20)
                .map(|d| {
                    let path = loaded.sources.path(d.span.file);
                    let path = path.strip_prefix(dir).unwrap_or(path);
                    format!(
                        "{}:{}:{}: {}",
                        path.display(),
                        d.span.line,
                        d.span.col,
                        d.message
                    )
                })
                .collect();
            return (
                refused(run, "PipelineValidationFailed", errors.join("\n")),
                None,
            );
        }
        let mut catalog = Catalog::new();
        catalog.add_loaded(&loaded, "the run's files");
        for d in &catalog_dirs {
            if let Err(e) = catalog.add_dir(d) {
                tracing::warn!("catalog {}: {e}", d.display());
            }
        }
        let opts = RunOptions {
            params,
            workspaces: Vec::new(),
            target: None,
            run_id: Some(run.id),
            run_name: Some(run.name.clone()),
        };
        let objects = runnel_engine::exec::volumes::Objects::from_loaded(&loaded);
        match runnel_engine::exec::prepare(&loaded, &catalog, &opts, &self.parts.engine) {
            Ok(mut prepared) if prepared.len() == 1 => (prepared.remove(0), Some(objects)),
            Ok(prepared) => (
                refused(
                    run,
                    "CouldntGetPipeline",
                    format!(
                        "the files hold {} runs ({}); point the trigger's `pipeline` at one file",
                        prepared.len(),
                        prepared
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                None,
            ),
            Err(e) => (refused(run, "CouldntGetPipeline", e.to_string()), None),
        }
    }
}

/// The status's name on the forge: `runnel`, or `runnel/NAME` for a pipeline file other
/// than `.tekton/`.
fn status_context(pipeline: &str) -> String {
    let p = pipeline.trim_matches('/');
    let p = p.strip_prefix(".tekton").unwrap_or(p).trim_matches('/');
    let p = p
        .strip_suffix(".yaml")
        .or_else(|| p.strip_suffix(".yml"))
        .unwrap_or(p);
    if p.is_empty() {
        "runnel".to_owned()
    } else {
        format!("runnel/{p}")
    }
}

/// A run that cannot start, recorded Failed with `reason`.
fn refused(run: &RunRecord, reason: &'static str, message: String) -> Prepared {
    Prepared {
        id: run.id,
        name: run.name.clone(),
        kind: run.kind,
        target: run.target.clone(),
        params: run.params.clone(),
        body: Err(Refusal { reason, message }),
    }
}

/// The file of the server's pipeline directories that holds `name`: `NAME.yaml`/`.yml`
/// there, or a file whose document is named so.
fn find_named(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return None;
    }
    for d in dirs {
        for ext in ["yaml", "yml"] {
            let f = d.join(format!("{name}.{ext}"));
            if f.is_file() {
                return Some(f);
            }
        }
    }
    None
}

fn list_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A new queued run's record.
pub fn queued_record(
    name: String,
    target: String,
    params: &[(String, String)],
    runner: &str,
) -> RunRecord {
    let id = runnel_engine::store::new_id();
    RunRecord {
        id,
        name,
        kind: RunKind::PipelineRun,
        target,
        params: serde_json::Value::Object(
            params
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        ),
        status: Status::Queued,
        reason: "Queued".to_owned(),
        message: None,
        queued_at: runnel_engine::store::now(),
        started_at: None,
        finished_at: None,
        results: serde_json::Value::Object(Default::default()),
        source: Default::default(),
        runner: runner.to_owned(),
        owner: None,
        log_prefix: format!("runs/{id}"),
    }
}
