//! The recorder: an [`Observer`] that turns a run's events into run records (the
//! [`Store`]) and step logs (the [`LogStore`]). Events are handed over a channel to one
//! background task, so the engine never waits on a database or a disk; that task keeps each
//! unfinished record in memory and saves the whole of it on every change, and flushes open logs about
//! once a second so that readers see lines while a step still runs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use runnel_runner::{StepStatus, Stream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::events::{ExecEvent, Observer};
use crate::logs::{LogError, LogStore, LogStream, LogWriter};
use crate::store::{
    DeploymentOrigin, DeploymentRecord, RunRecord, Source, Status, StepRecord, Store, StoreError,
    TaskRunRecord, owner_of_this_process,
};

/// What the recorder could not save (the run itself went on).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("recording the run failed: {0}")]
    Store(#[from] StoreError),
    #[error("storing a step's log failed: {0}")]
    Log(#[from] LogError),
}

/// Facts about runs the events do not carry.
#[derive(Debug, Clone, Default)]
pub struct RecordContext {
    pub runner: String,
    pub source: Source,
    /// Where each deployment goes once it is saved finished (the server finds the commits
    /// it shipped).
    pub finished_deployments: Option<mpsc::UnboundedSender<DeploymentRecord>>,
}

/// Sends events to the background task.
pub struct Recorder {
    tx: Mutex<Option<mpsc::UnboundedSender<ExecEvent>>>,
}

impl Observer for Recorder {
    fn on_event(&self, event: &ExecEvent) {
        if let Ok(guard) = self.tx.lock()
            && let Some(tx) = guard.as_ref()
        {
            let _ = tx.send(event.clone());
        }
    }
}

impl Recorder {
    /// Starts the background task. Call [`Recorder::close`] after the last run, then await
    /// the handle: it ends once everything is saved, with the first error met, if any.
    pub fn start(
        store: Option<Store>,
        logs: LogStore,
        ctx: RecordContext,
    ) -> (Recorder, JoinHandle<Result<(), RecordError>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = tokio::spawn(run(store, logs, ctx, rx));
        (
            Recorder {
                tx: Mutex::new(Some(tx)),
            },
            handle,
        )
    }

    /// No more events: the background task drains what it has and ends.
    pub fn close(&self) {
        if let Ok(mut guard) = self.tx.lock() {
            guard.take();
        }
    }
}

/// The key of a step's log in the log store.
pub fn step_log_key(run: Uuid, task_run: Uuid, index: usize, name: &str) -> String {
    format!("runs/{run}/{task_run}/{index}-{name}")
}

/// A step's ending as its record keeps it: status and reason.
pub fn step_status(status: StepStatus) -> (Status, &'static str) {
    match status {
        StepStatus::Succeeded => (Status::Succeeded, "Completed"),
        StepStatus::Failed => (Status::Failed, "Error"),
        StepStatus::TimedOut => (Status::Failed, "TimeoutExceeded"),
        StepStatus::Cancelled => (Status::Cancelled, "Cancelled"),
        StepStatus::Skipped => (Status::Skipped, "Skipped"),
        StepStatus::Error => (Status::Failed, "StartError"),
    }
}

struct State {
    store: Option<Store>,
    logs: LogStore,
    ctx: RecordContext,
    owner: String,
    runs: HashMap<Uuid, RunRecord>,
    task_runs: HashMap<Uuid, TaskRunRecord>,
    steps: HashMap<(Uuid, usize), StepRecord>,
    writers: HashMap<(Uuid, usize), LogWriter>,
    /// The deployments of running runs, by run and TaskRun name (the attempts of a TaskRun
    /// are one deployment).
    deployments: HashMap<(Uuid, String), DeploymentRecord>,
    /// The TaskRun attempts that deploy, and their deployment's key.
    deploying: HashMap<Uuid, (Uuid, String)>,
    first_error: Option<RecordError>,
}

impl State {
    fn keep<T, E: Into<RecordError>>(&mut self, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                if self.first_error.is_none() {
                    self.first_error = Some(e.into());
                }
                None
            }
        }
    }

    async fn save_run(&mut self, id: Uuid) {
        if let (Some(store), Some(r)) = (&self.store, self.runs.get(&id)) {
            let res = store.save_run(r).await;
            self.keep(res);
        }
    }

    async fn save_task_run(&mut self, id: Uuid) {
        if let (Some(store), Some(r)) = (&self.store, self.task_runs.get(&id)) {
            let res = store.save_task_run(r).await;
            self.keep(res);
        }
    }

    async fn save_deployment(&mut self, key: &(Uuid, String)) {
        if let (Some(store), Some(d)) = (&self.store, self.deployments.get(key)) {
            let res = store.save_deployment(d).await;
            self.keep(res);
        }
    }

    async fn save_step(&mut self, key: (Uuid, usize)) {
        if let (Some(store), Some(r)) = (&self.store, self.steps.get(&key)) {
            let res = store.save_step(r).await;
            self.keep(res);
        }
    }

    async fn handle(&mut self, event: ExecEvent) {
        match event {
            ExecEvent::RunStarted {
                id,
                name,
                kind,
                target,
                params,
                graph,
                at,
                ..
            } => {
                // A run the server queued is already recorded: it keeps when it was
                // queued and what it was queued for.
                let mut queued_at = at;
                let mut source = self.ctx.source.clone();
                if let Some(store) = &self.store {
                    let earlier = store.run_by_id(id).await;
                    if let Some(Some(earlier)) = self.keep(earlier) {
                        queued_at = earlier.queued_at;
                        source = earlier.source;
                    }
                }
                self.runs.insert(
                    id,
                    RunRecord {
                        id,
                        name,
                        kind,
                        target,
                        params,
                        status: Status::Running,
                        reason: "Running".to_owned(),
                        message: None,
                        queued_at,
                        started_at: Some(at),
                        finished_at: None,
                        results: serde_json::Value::Object(Default::default()),
                        source,
                        runner: self.ctx.runner.clone(),
                        owner: Some(self.owner.clone()),
                        log_prefix: format!("runs/{id}"),
                    },
                );
                self.save_run(id).await;
                if !graph.is_empty()
                    && let Some(store) = &self.store
                {
                    let graph = serde_json::to_value(&graph).unwrap_or_default();
                    let res = store.save_run_graph(id, &graph).await;
                    self.keep(res);
                }
            }
            ExecEvent::TaskRunStarted {
                id,
                run_id,
                name,
                pipeline_task,
                task,
                matrix_index,
                attempt,
                finally,
                params,
                steps,
                deployment,
                at,
            } => {
                if let Some(mark) = deployment {
                    let key = (run_id, name.clone());
                    let run = self.runs.get(&run_id);
                    let record =
                        self.deployments
                            .entry(key.clone())
                            .or_insert_with(|| DeploymentRecord {
                                id: Uuid::now_v7(),
                                service: mark
                                    .service
                                    .clone()
                                    .or_else(|| run.and_then(|r| r.source.repo.clone()))
                                    .or_else(|| run.map(|r| r.target.clone()))
                                    .unwrap_or_default(),
                                environment: mark.environment.clone(),
                                commit: mark
                                    .commit
                                    .clone()
                                    .or_else(|| run.and_then(|r| r.source.commit.clone())),
                                status: Status::Running,
                                kind: mark.kind,
                                started_at: Some(at),
                                finished_at: None,
                                run_id: Some(run_id),
                                task_run: Some(name.clone()),
                                origin: DeploymentOrigin::Task,
                            });
                    record.status = Status::Running;
                    record.finished_at = None;
                    self.deploying.insert(id, key.clone());
                    self.save_deployment(&key).await;
                }
                self.task_runs.insert(
                    id,
                    TaskRunRecord {
                        id,
                        run_id,
                        name,
                        pipeline_task,
                        task,
                        matrix_index: matrix_index.map(|i| i as i32),
                        attempt: attempt as i32,
                        finally,
                        params,
                        status: Status::Running,
                        reason: "Running".to_owned(),
                        message: None,
                        queued_at: at,
                        started_at: Some(at),
                        finished_at: None,
                        results: serde_json::Value::Object(Default::default()),
                    },
                );
                self.save_task_run(id).await;
                for (index, s) in steps.into_iter().enumerate() {
                    let key = step_log_key(run_id, id, index, &s.name);
                    self.steps.insert(
                        (id, index),
                        StepRecord {
                            id: Uuid::now_v7(),
                            task_run_id: id,
                            index: index as i32,
                            name: s.name,
                            image: s.image,
                            status: Status::Queued,
                            reason: "Pending".to_owned(),
                            message: None,
                            exit_code: None,
                            started_at: None,
                            finished_at: None,
                            log: Some(key),
                        },
                    );
                    self.save_step((id, index)).await;
                }
            }
            ExecEvent::StepStarted {
                task_run,
                index,
                at,
            } => {
                let key = (task_run, index);
                if let Some(s) = self.steps.get_mut(&key) {
                    s.status = Status::Running;
                    s.reason = "Running".to_owned();
                    s.started_at = Some(at);
                }
                self.save_step(key).await;
            }
            ExecEvent::Output {
                task_run,
                index,
                stream,
                at,
                line,
            } => {
                let key = (task_run, index);
                if !self.writers.contains_key(&key)
                    && let Some(log) = self.steps.get(&key).and_then(|s| s.log.clone())
                {
                    let w = self.logs.writer(&log);
                    if let Some(w) = self.keep(w) {
                        self.writers.insert(key, w);
                    }
                }
                if let Some(w) = self.writers.get_mut(&key) {
                    let stream = match stream {
                        Stream::Stdout => LogStream::Stdout,
                        Stream::Stderr => LogStream::Stderr,
                    };
                    let res = w.line(at, stream, &line).await;
                    self.keep(res);
                }
            }
            ExecEvent::StepFinished {
                task_run,
                index,
                outcome,
            } => {
                let key = (task_run, index);
                if let Some(w) = self.writers.remove(&key) {
                    let res = w.finish().await;
                    self.keep(res);
                }
                if let Some(s) = self.steps.get_mut(&key) {
                    let (status, reason) = step_status(outcome.status);
                    s.status = status;
                    s.reason = reason.to_owned();
                    s.message = outcome.message;
                    s.exit_code = outcome.exit_code;
                    s.started_at = outcome.started.map(Into::into).or(s.started_at);
                    s.finished_at = Some(outcome.finished.into());
                }
                self.save_step(key).await;
            }
            ExecEvent::TaskRunFinished {
                id,
                status,
                reason,
                message,
                results,
                at,
            } => {
                if let Some(t) = self.task_runs.get_mut(&id) {
                    t.status = status;
                    t.reason = reason;
                    t.message = message;
                    t.results = results;
                    t.finished_at = Some(at);
                }
                self.save_task_run(id).await;
                self.task_runs.remove(&id);
                if let Some(key) = self.deploying.remove(&id)
                    && let Some(d) = self.deployments.get_mut(&key)
                {
                    d.status = status;
                    d.finished_at = Some(at);
                    self.save_deployment(&key).await;
                    if let (Some(tx), Some(d)) =
                        (&self.ctx.finished_deployments, self.deployments.get(&key))
                    {
                        let _ = tx.send(d.clone());
                    }
                }
                // A TaskRun's steps are keyed (id, 0..n). Steps that never reported (the
                // TaskRun failed before they could run) end Skipped; then all are dropped from
                // memory, since nothing more comes for them.
                for index in 0.. {
                    let key = (id, index);
                    let Some(s) = self.steps.get_mut(&key) else {
                        break;
                    };
                    if !s.status.is_final() {
                        s.status = Status::Skipped;
                        s.reason = "Skipped".to_owned();
                        s.finished_at = Some(at);
                        self.save_step(key).await;
                    }
                    self.steps.remove(&key);
                }
            }
            ExecEvent::TaskSkipped {
                id,
                run_id,
                pipeline_task,
                finally,
                reason,
                at,
            } => {
                let run_name = self
                    .runs
                    .get(&run_id)
                    .map(|r| r.name.clone())
                    .unwrap_or_default();
                self.task_runs.insert(
                    id,
                    TaskRunRecord {
                        id,
                        run_id,
                        name: format!("{run_name}-{pipeline_task}"),
                        pipeline_task: Some(pipeline_task),
                        task: None,
                        matrix_index: None,
                        attempt: 0,
                        finally,
                        params: serde_json::Value::Object(Default::default()),
                        status: Status::Skipped,
                        reason,
                        message: None,
                        queued_at: at,
                        started_at: None,
                        finished_at: Some(at),
                        results: serde_json::Value::Object(Default::default()),
                    },
                );
                self.save_task_run(id).await;
                self.task_runs.remove(&id);
            }
            ExecEvent::RunFinished {
                id,
                status,
                reason,
                message,
                results,
                at,
            } => {
                if let Some(r) = self.runs.get_mut(&id) {
                    r.status = status;
                    r.reason = reason;
                    r.message = message;
                    r.results = results;
                    r.finished_at = Some(at);
                    r.owner = None;
                }
                self.save_run(id).await;
                self.runs.remove(&id);
                self.deployments.retain(|(run, _), _| *run != id);
            }
        }
    }
}

async fn run(
    store: Option<Store>,
    logs: LogStore,
    ctx: RecordContext,
    mut rx: mpsc::UnboundedReceiver<ExecEvent>,
) -> Result<(), RecordError> {
    let mut state = State {
        store,
        logs,
        ctx,
        owner: owner_of_this_process(),
        runs: HashMap::new(),
        task_runs: HashMap::new(),
        steps: HashMap::new(),
        writers: HashMap::new(),
        deployments: HashMap::new(),
        deploying: HashMap::new(),
        first_error: None,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => state.handle(ev).await,
                None => break,
            },
            _ = tick.tick() => {
                let mut errors = Vec::new();
                for w in state.writers.values_mut() {
                    if let Err(e) = w.flush().await {
                        errors.push(e);
                    }
                }
                for e in errors {
                    state.keep::<(), _>(Err(e));
                }
            }
        }
    }
    let writers: Vec<LogWriter> = state.writers.drain().map(|(_, w)| w).collect();
    for w in writers {
        let res = w.finish().await;
        state.keep(res);
    }
    match state.first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
