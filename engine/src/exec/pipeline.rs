//! The PipelineRun scheduler: an explicit event loop over the pipeline's DAG. A task starts
//! as soon as its own dependencies are done (never level by level), under the engine's
//! concurrency limit; `when`, skipping, stopping on failure, `finally`, timeouts and
//! cancellation follow Tekton's PipelineRun reconciler (`pipelinerunstate.go` and
//! `pipelinerunresolution.go` in tektoncd/pipeline), and so do the status, reason and
//! message strings.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::join_all;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::events::ExecEvent;
use super::matrix;
use super::scope::{Scope, substitute_value, to_json};
use super::taskrun::{self, BoundWorkspace, TaskEnd, TaskInstance, go_duration};
use super::{RunControl, RunEnd, Shared, TaskSummary};
use crate::model::pipeline::{PipelineSpec, PipelineTask, WhenExpression};
use crate::model::task::TaskSpec;
use crate::store::Status;
use crate::subst::{Value, substitute, substitute_list};
use crate::validate::dag::{Via, dependencies, param_strings, referencing_strings};
use crate::vars::{self, Var};

/// Why a pipeline task never ran; the text is Tekton's `SkippingReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    When,
    ParentTasks,
    Stopping,
    GracefullyCancelled,
    Cancelled,
    MissingResults,
    PipelineTimedOut,
    TasksTimedOut,
    FinallyTimedOut,
    EmptyMatrix,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::When => "When Expressions evaluated to false",
            Skip::ParentTasks => "Parent Tasks were skipped",
            Skip::Stopping => "PipelineRun was stopping",
            Skip::GracefullyCancelled => "PipelineRun was gracefully cancelled",
            // Tekton creates nothing more for a cancelled run; runnel records why.
            Skip::Cancelled => "PipelineRun was cancelled",
            Skip::MissingResults => "Results were missing",
            Skip::PipelineTimedOut => "PipelineRun timeout has been reached",
            Skip::TasksTimedOut => "PipelineRun Tasks timeout has been reached",
            Skip::FinallyTimedOut => "PipelineRun Finally timeout has been reached",
            Skip::EmptyMatrix => "Matrix Parameters have an empty array",
        }
    }

    fn is_timeout(self) -> bool {
        matches!(
            self,
            Skip::PipelineTimedOut | Skip::TasksTimedOut | Skip::FinallyTimedOut
        )
    }
}

/// The Task a pipeline task runs.
#[derive(Debug, Clone)]
pub struct ResolvedTask {
    pub spec: Arc<TaskSpec>,
    /// The StepActions its steps reference.
    pub step_actions: super::taskrun::StepActions,
    /// The Task's name (None for an embedded `taskSpec`).
    pub name: Option<String>,
    pub embedded: bool,
    /// The annotations its TaskRuns carry: the Task's, or the embedded spec's `metadata`.
    pub annotations: BTreeMap<String, String>,
}

/// Where a PipelineRun workspace lives on the host.
#[derive(Debug, Clone)]
pub enum WorkspaceSource {
    /// One directory shared by every task bound to it.
    Dir {
        host: PathBuf,
        claim: String,
        volume: String,
    },
    /// `emptyDir`: a fresh directory for each TaskRun, as a pod's emptyDir is.
    EmptyDir,
}

/// Creates a workspace directory (and its parents).
pub fn make_dir(path: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(path)
        .map_err(|e| format!("cannot create workspace directory {}: {e}", path.display()))
}

impl WorkspaceSource {
    /// A host directory for workspace `name` (as `-w` and bare runs give), created if missing.
    pub fn host_dir(host: PathBuf, name: &str) -> Result<WorkspaceSource, String> {
        make_dir(&host)?;
        Ok(WorkspaceSource::Dir {
            host,
            claim: String::new(),
            volume: format!("ws-{name}"),
        })
    }

    /// How a TaskRun sees this source as its workspace `name`: the directory (under
    /// `sub_path`), or for an emptyDir the fresh directory `fresh` (named after `source`, the
    /// run's name for the workspace).
    pub fn bind(
        &self,
        name: &str,
        source: &str,
        sub_path: Option<&str>,
        fresh: impl FnOnce() -> PathBuf,
    ) -> Result<BoundWorkspace, String> {
        let (host, claim, volume) = match self {
            WorkspaceSource::Dir {
                host,
                claim,
                volume,
            } => {
                let host = match sub_path.filter(|s| !s.is_empty()) {
                    Some(sp) => host.join(sp),
                    None => host.clone(),
                };
                (host, claim.clone(), volume.clone())
            }
            WorkspaceSource::EmptyDir => (fresh(), String::new(), format!("ws-{source}")),
        };
        make_dir(&host)?;
        Ok(BoundWorkspace {
            name: name.to_owned(),
            host: Some(host),
            claim,
            volume,
        })
    }
}

/// The PipelineRun-level timeouts (`None` = no limit).
#[derive(Debug, Clone, Copy, Default)]
pub struct Timeouts {
    pub pipeline: Option<Duration>,
    pub tasks: Option<Duration>,
    pub finally: Option<Duration>,
}

/// A PipelineRun ready to execute: every task resolved, params and workspaces bound.
#[derive(Debug, Clone)]
pub struct PipelinePlan {
    pub run_id: Uuid,
    pub name: String,
    pub pipeline_name: String,
    pub spec: PipelineSpec,
    /// By pipeline task name.
    pub tasks: HashMap<String, ResolvedTask>,
    /// The pipeline's params, defaults applied.
    pub params: Vec<(String, Value)>,
    pub workspaces: HashMap<String, WorkspaceSource>,
    pub timeouts: Timeouts,
}

#[derive(Debug, Clone)]
enum State {
    Pending,
    Running,
    Done {
        end: TaskEnd,
        /// Cancelled because a PipelineRun timeout was reached: counts as a failure.
        for_timeout: bool,
    },
    Skipped(Skip),
}

struct Node<'a> {
    task: &'a PipelineTask,
    finally: bool,
    /// Indexes of the DAG tasks this one waits for.
    deps: Vec<usize>,
    /// `(task index, result name)` of every result this task reads.
    reads: Vec<(usize, String)>,
    state: State,
    /// Whether its skip was reported.
    reported: bool,
}

impl Node<'_> {
    fn continues_on_error(&self) -> bool {
        self.task
            .on_error
            .as_ref()
            .is_some_and(|e| e.value == "continue")
    }
}

fn when_allows(when: &[WhenExpression], scope: &Scope) -> Result<bool, String> {
    for w in when {
        if w.cel.is_some() {
            return Err("CEL `when` expressions are not supported by runnel".to_owned());
        }
        let input = w
            .input
            .as_ref()
            .map(|i| substitute(i, scope))
            .unwrap_or_default();
        let values: Vec<String> = w.values.iter().map(|v| v.value.clone()).collect();
        let values = substitute_list(&values, scope);
        let contains = values.contains(&input);
        let holds = match w.operator.as_ref().map(|o| o.as_str()) {
            Some("notin") => !contains,
            _ => contains,
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The end of one pipeline task: one TaskRun, or a matrix of them.
struct PtEnd {
    end: TaskEnd,
    matrix_len: Option<usize>,
}

async fn run_pipeline_task(
    shared: Arc<Shared>,
    instances: Vec<TaskInstance>,
    matrixed: bool,
    token: CancellationToken,
) -> PtEnd {
    if !matrixed {
        let inst = &instances[0];
        let end = taskrun::run(&shared, inst, &token).await;
        return PtEnd {
            end,
            matrix_len: None,
        };
    }
    let n = instances.len();
    let ends = join_all(
        instances
            .iter()
            .map(|inst| taskrun::run(&shared, inst, &token)),
    )
    .await;
    // Results of a matrixed task are aggregated into arrays, in the order of the
    // combinations (Tekton only aggregates string results).
    let mut results: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for end in &ends {
        for (k, v) in &end.results {
            if let Value::String(s) = v {
                results.entry(k.clone()).or_default().push(s.clone());
            }
        }
    }
    let status = if ends.iter().any(|e| e.status == Status::Failed) {
        Status::Failed
    } else if ends.iter().any(|e| e.status == Status::Cancelled) {
        Status::Cancelled
    } else {
        Status::Succeeded
    };
    let worst = ends.iter().find(|e| e.status == status);
    let end = TaskEnd {
        status,
        reason: worst.map_or_else(|| "Succeeded".to_owned(), |e| e.reason.clone()),
        message: worst.and_then(|e| e.message.clone()),
        results: results
            .into_iter()
            .map(|(k, v)| (k, Value::Array(v)))
            .collect(),
        retries_used: ends.iter().map(|e| e.retries_used).max().unwrap_or(0),
        started: ends.iter().filter_map(|e| e.started).min(),
        finished: ends
            .iter()
            .map(|e| e.finished)
            .max()
            .unwrap_or_else(Utc::now),
    };
    PtEnd {
        end,
        matrix_len: Some(n),
    }
}

/// Per-task results and matrix sizes, kept apart from the scope so that each task's scope
/// holds only what it may read.
#[derive(Default)]
struct Produced {
    results: BTreeMap<String, Value>,
    matrix_len: Option<usize>,
}

/// Where started pipeline tasks go: the join set, which task each spawned future is, and the
/// token their cancellation hangs from (the DAG's or `finally`'s).
struct Running<'r> {
    set: &'r mut JoinSet<PtEnd>,
    spawned: &'r mut HashMap<tokio::task::Id, usize>,
    token: &'r CancellationToken,
}

/// The scheduler's bookkeeping: which tasks wait for which, and which are ready to decide.
struct Graph<'a> {
    nodes: Vec<Node<'a>>,
    dag_len: usize,
    /// The tasks waiting for each task.
    dependents: Vec<Vec<usize>>,
    /// How many of its dependencies each task still waits for.
    waiting: Vec<usize>,
    /// DAG tasks whose dependencies are all done, in the order they became so.
    ready: std::collections::VecDeque<usize>,
    dag_done: usize,
    done: usize,
    produced: Vec<Produced>,
    /// Each task's resolved Task, until it is decided: its TaskRuns own it from then on and
    /// drop it when they end, so a large run does not hold every Task to its end.
    resolved: Vec<Option<ResolvedTask>>,
}

impl<'a> Graph<'a> {
    /// Records that task `i` reached a final state (done or skipped) and wakes its dependents.
    fn settle(&mut self, i: usize, shared: &Shared, run_id: Uuid) {
        if let State::Skipped(s) = self.nodes[i].state
            && !self.nodes[i].reported
        {
            self.nodes[i].reported = true;
            shared.observers.emit(ExecEvent::TaskSkipped {
                id: Uuid::now_v7(),
                run_id,
                pipeline_task: self.nodes[i].task.name.value.clone(),
                finally: self.nodes[i].finally,
                reason: s.as_str().to_owned(),
                at: Utc::now(),
            });
        }
        self.done += 1;
        if i < self.dag_len {
            self.dag_done += 1;
        }
        for k in 0..self.dependents[i].len() {
            let d = self.dependents[i][k];
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 {
                self.ready.push_back(d);
            }
        }
    }

    /// Decides task `i` (`when`, skipped parents, missing results) and starts its TaskRuns,
    /// or settles it as skipped or failed. Returns whether it failed without starting.
    fn launch(
        &mut self,
        i: usize,
        base: &Arc<Scope>,
        shared: &Arc<Shared>,
        plan: &PipelinePlan,
        running: &mut Running<'_>,
    ) -> bool {
        let task_scope = self.scope_for(i, base);
        let resolved = self.resolved[i].take();
        let failed = match decide(&self.nodes, i, &task_scope) {
            Decision::Skip(s) => {
                self.nodes[i].state = State::Skipped(s);
                false
            }
            Decision::Fail(message) => {
                self.nodes[i].state = State::Done {
                    end: TaskEnd::invalid("InvalidTaskResultReference", message),
                    for_timeout: false,
                };
                true
            }
            Decision::Run => {
                let finally = self.nodes[i].finally;
                match instances(
                    shared,
                    plan,
                    self.nodes[i].task,
                    resolved,
                    finally,
                    task_scope,
                ) {
                    Ok((insts, matrixed)) => {
                        self.nodes[i].state = State::Running;
                        let token = running.token.child_token();
                        let handle = running.set.spawn(run_pipeline_task(
                            shared.clone(),
                            insts,
                            matrixed,
                            token,
                        ));
                        running.spawned.insert(handle.id(), i);
                        return false;
                    }
                    Err(e) => {
                        self.nodes[i].state = State::Done {
                            end: TaskEnd::invalid("TaskRunValidationFailed", e),
                            for_timeout: false,
                        };
                        true
                    }
                }
            }
        };
        self.settle(i, shared, plan.run_id);
        failed
    }

    /// What task `i` may read: the pipeline's scope and its dependencies' results (a
    /// finally task may read every DAG task's).
    fn scope_for(&self, i: usize, base: &Arc<Scope>) -> Scope {
        let mut scope = Scope::child_of(base.clone());
        let from: Vec<usize> = if self.nodes[i].finally {
            (0..self.dag_len).collect()
        } else {
            self.nodes[i].deps.clone()
        };
        for j in from {
            let name = &self.nodes[j].task.name.value;
            let p = &self.produced[j];
            for (k, v) in &p.results {
                scope.set_task_result(name, k, v.clone());
                if let (Some(_), Value::Array(a)) = (p.matrix_len, v) {
                    scope.set_matrix_length(name, Some(k), a.len());
                }
            }
            if let Some(n) = p.matrix_len {
                scope.set_matrix_length(name, None, n);
            }
        }
        scope
    }
}

/// Runs a PipelineRun to its end.
pub async fn run(shared: Arc<Shared>, mut plan: PipelinePlan, control: RunControl) -> RunEnd {
    let started = Instant::now();
    let mut by_name = std::mem::take(&mut plan.tasks);
    let dag_len = plan.spec.tasks.len();
    let all: Vec<&PipelineTask> = plan
        .spec
        .tasks
        .iter()
        .chain(plan.spec.finally.iter())
        .map(|t| &t.value)
        .collect();
    let index: HashMap<&str, usize> = all
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let deps = dependencies(&plan.spec.tasks, &|s, _, _| s.span);
    let mut nodes: Vec<Node> = all
        .iter()
        .enumerate()
        .map(|(i, t)| Node {
            task: t,
            finally: i >= dag_len,
            deps: Vec::new(),
            reads: Vec::new(),
            state: State::Pending,
            reported: false,
        })
        .collect();
    for d in &deps {
        if let (Some(&a), Some(&b)) = (index.get(d.task), index.get(d.on.as_str()))
            && !nodes[a].deps.contains(&b)
            && (d.via == Via::RunAfter || d.via == Via::Result)
        {
            nodes[a].deps.push(b);
        }
    }
    for (i, t) in all.iter().enumerate() {
        for s in referencing_strings(t) {
            for r in vars::scan(&s) {
                if let Var::PipelineTaskResult { task, name, .. } = r.var
                    && let Some(&j) = index.get(task)
                {
                    nodes[i].reads.push((j, name.to_owned()));
                }
            }
        }
    }
    let mut dependents = vec![Vec::new(); nodes.len()];
    let mut waiting = vec![0; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        waiting[i] = n.deps.len();
        for &d in &n.deps {
            dependents[d].push(i);
        }
    }
    let ready = (0..dag_len).filter(|&i| waiting[i] == 0).collect();
    // A name given twice (which validation reports) finds the same Task each time; `index`
    // holds its last place.
    let resolved = all
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let name = t.name.as_str();
            if index.get(name) == Some(&i) {
                by_name.remove(name)
            } else {
                by_name.get(name).cloned()
            }
        })
        .collect();
    drop(by_name);
    let mut g = Graph {
        resolved,
        produced: (0..nodes.len()).map(|_| Produced::default()).collect(),
        nodes,
        dag_len,
        dependents,
        waiting,
        ready,
        dag_done: 0,
        done: 0,
    };

    // The pipeline-level scope: params and context. Results live in `g.produced`.
    let mut scope = Scope::new();
    for (k, v) in &plan.params {
        scope.set_param(k, v.clone());
    }
    scope.set_context("pipelineRun.name", &plan.name);
    scope.set_context("pipelineRun.uid", plan.run_id.to_string());
    scope.set_context("pipelineRun.namespace", &shared.config.namespace);
    scope.set_context("pipeline.name", &plan.pipeline_name);
    // Shared by every task's scope rather than copied into each.
    let mut scope = Arc::new(scope);

    let run_token = CancellationToken::new();
    let dag_token = run_token.child_token();
    let finally_token = run_token.child_token();
    let pipeline_deadline = plan.timeouts.pipeline.map(|d| started + d);
    let tasks_deadline = plan.timeouts.tasks.map(|d| started + d);
    let mut finally_deadline: Option<Instant> = None;
    let mut finally_started = false;
    let mut stop = Stop::default();
    let mut blocked = false;
    let mut set: JoinSet<PtEnd> = JoinSet::new();
    let mut spawned: HashMap<tokio::task::Id, usize> = HashMap::new();

    loop {
        // Once the run stops scheduling, every DAG task not started yet is skipped.
        let dag_blocker = stop.dag_blocker();
        if let Some(skip) = dag_blocker
            && !blocked
        {
            blocked = true;
            for i in 0..dag_len {
                if matches!(g.nodes[i].state, State::Pending) {
                    g.nodes[i].state = State::Skipped(skip);
                    g.settle(i, &shared, plan.run_id);
                }
            }
        }
        // Decide each task whose dependencies are all done.
        while let Some(i) = g.ready.pop_front() {
            if !matches!(g.nodes[i].state, State::Pending) {
                continue;
            }
            let mut running = Running {
                set: &mut set,
                spawned: &mut spawned,
                token: &dag_token,
            };
            if g.launch(i, &scope, &shared, &plan, &mut running) {
                stop.stopping |= !g.nodes[i].continues_on_error();
            }
            if stop.stopping {
                break;
            }
        }
        if stop.stopping && !blocked {
            continue;
        }
        // The DAG is done: expose statuses and start `finally`.
        if g.dag_done == dag_len && !finally_started {
            finally_started = true;
            if reads_statuses(&plan.spec) {
                set_statuses(Arc::make_mut(&mut scope), &g.nodes[..dag_len]);
            }
            finally_deadline = plan.timeouts.finally.map(|d| Instant::now() + d);
            for i in dag_len..g.nodes.len() {
                let skip = stop.finally_blocker();
                if let Some(s) = skip {
                    g.nodes[i].state = State::Skipped(s);
                    g.settle(i, &shared, plan.run_id);
                    continue;
                }
                let mut running = Running {
                    set: &mut set,
                    spawned: &mut spawned,
                    token: &finally_token,
                };
                g.launch(i, &scope, &shared, &plan, &mut running);
            }
            continue;
        }
        if g.done == g.nodes.len() {
            break;
        }

        tokio::select! {
            joined = set.join_next_with_id() => {
                let Some(joined) = joined else {
                    // Nothing runs, yet tasks are pending: nothing can ever start them.
                    for i in 0..g.nodes.len() {
                        if matches!(g.nodes[i].state, State::Pending) {
                            g.nodes[i].state = State::Skipped(Skip::ParentTasks);
                            g.settle(i, &shared, plan.run_id);
                        }
                    }
                    continue;
                };
                let (i, mut pt) = match joined {
                    Ok((id, pt)) => (spawned.remove(&id), pt),
                    Err(e) => {
                        // A panic in a task's future: record it rather than lose the run.
                        let i = spawned.remove(&e.id());
                        (i, PtEnd {
                            end: TaskEnd::invalid("Failed", format!("internal error: {e}")),
                            matrix_len: None,
                        })
                    }
                };
                let Some(i) = i else { continue };
                // The results live on in `produced` only: a task's summary does not need them.
                g.produced[i] = Produced {
                    results: std::mem::take(&mut pt.end.results),
                    matrix_len: pt.matrix_len,
                };
                let for_timeout = pt.end.status == Status::Cancelled
                    && (stop.pipeline_timed_out
                        || (!g.nodes[i].finally && stop.tasks_timed_out)
                        || (g.nodes[i].finally && stop.finally_timed_out));
                let failed = pt.end.status != Status::Succeeded;
                // Cancelled while still waiting for a slot: it never started, so Tekton would
                // not have created it; it is skipped for the reason the run stopped.
                let never_started = pt.end.status == Status::Cancelled && pt.end.started.is_none();
                g.nodes[i].state = if never_started {
                    State::Skipped(if g.nodes[i].finally {
                        stop.finally_blocker().unwrap_or(Skip::FinallyTimedOut)
                    } else {
                        stop.dag_blocker().unwrap_or(Skip::GracefullyCancelled)
                    })
                } else {
                    State::Done { end: pt.end, for_timeout }
                };
                let failed = failed && !never_started;
                if failed && i < dag_len && !g.nodes[i].continues_on_error() {
                    stop.stopping = true;
                }
                g.settle(i, &shared, plan.run_id);
            }
            () = control.graceful.cancelled(), if !stop.graceful && !stop.hard => {
                stop.graceful = true;
                dag_token.cancel();
            }
            () = control.hard.cancelled(), if !stop.hard => {
                stop.hard = true;
                run_token.cancel();
            }
            () = until(tasks_deadline), if !stop.tasks_timed_out && !finally_started => {
                stop.tasks_timed_out = true;
                dag_token.cancel();
            }
            () = until(finally_deadline), if finally_started && !stop.finally_timed_out => {
                stop.finally_timed_out = true;
                finally_token.cancel();
            }
            () = until(pipeline_deadline), if !stop.pipeline_timed_out => {
                stop.pipeline_timed_out = true;
                run_token.cancel();
            }
        }
    }

    let nodes = g.nodes;
    let mut final_scope = Scope::child_of(scope);
    for (j, p) in g.produced.iter().enumerate() {
        for (k, v) in &p.results {
            final_scope.set_task_result(&nodes[j].task.name.value, k, v.clone());
        }
    }
    finish(&shared, &plan, &nodes, &final_scope, stop)
}

/// Why a run stops scheduling, as it learns it.
#[derive(Debug, Clone, Copy, Default)]
struct Stop {
    /// A DAG task failed without `onError: continue`.
    stopping: bool,
    graceful: bool,
    hard: bool,
    pipeline_timed_out: bool,
    tasks_timed_out: bool,
    finally_timed_out: bool,
}

impl Stop {
    /// Why `finally` tasks not started yet are skipped, if they are.
    fn finally_blocker(self) -> Option<Skip> {
        if self.pipeline_timed_out {
            Some(Skip::PipelineTimedOut)
        } else if self.hard {
            Some(Skip::Cancelled)
        } else {
            None
        }
    }

    /// Why DAG tasks not started yet are skipped, if they are (Tekton's order).
    fn dag_blocker(self) -> Option<Skip> {
        self.finally_blocker().or(if self.tasks_timed_out {
            Some(Skip::TasksTimedOut)
        } else if self.graceful {
            Some(Skip::GracefullyCancelled)
        } else if self.stopping {
            Some(Skip::Stopping)
        } else {
            None
        })
    }
}

enum Decision {
    Run,
    Skip(Skip),
    Fail(String),
}

/// Tekton's skip rules for a task whose dependencies are done (`skip()` and
/// `IsFinallySkipped()` in pipelinerunresolution.go), in Tekton's order.
fn decide(nodes: &[Node], i: usize, scope: &Scope) -> Decision {
    let n = &nodes[i];
    // A DAG task's own `when` comes first; a finally task's after its missing results.
    if !n.finally {
        match when_allows(&n.task.when, scope) {
            Ok(true) => {}
            Ok(false) => return Decision::Skip(Skip::When),
            Err(e) => return Decision::Fail(e),
        }
    }
    // A parent skipped for any reason but its own `when` skips this task too.
    if !n.finally
        && n.deps
            .iter()
            .any(|&d| matches!(nodes[d].state, State::Skipped(s) if s != Skip::When))
    {
        return Decision::Skip(Skip::ParentTasks);
    }
    // Results this task reads that do not exist.
    for (j, name) in &n.reads {
        if scope
            .task_result(&nodes[*j].task.name.value, name)
            .is_some()
        {
            continue;
        }
        // A producer that failed (under onError: continue) without writing it fails a
        // consumer that does not continue on error (CheckMissingResultReferences).
        let producer_skipped = matches!(nodes[*j].state, State::Skipped(_));
        if n.finally || producer_skipped || n.continues_on_error() {
            return Decision::Skip(Skip::MissingResults);
        }
        return Decision::Fail(format!(
            "invalid result reference in pipeline task \"{}\": task \"{}\" did not produce result \"{name}\"",
            n.task.name.value, nodes[*j].task.name.value
        ));
    }
    if n.finally {
        match when_allows(&n.task.when, scope) {
            Ok(true) => {}
            Ok(false) => return Decision::Skip(Skip::When),
            Err(e) => return Decision::Fail(e),
        }
    }
    if let Some(m) = n.task.matrix.as_ref() {
        for p in &m.params {
            if let Value::Array(a) = substitute_value(&p.value, scope)
                && a.is_empty()
            {
                return Decision::Skip(Skip::EmptyMatrix);
            }
        }
    }
    Decision::Run
}

/// Whether anything can read what [`set_statuses`] sets: `finally` tasks, or a pipeline
/// result that names a status. Without either, a large DAG skips writing them all.
fn reads_statuses(spec: &PipelineSpec) -> bool {
    !spec.finally.is_empty()
        || spec.results.iter().any(|r| {
            param_strings(&r.value).iter().any(|s| {
                vars::scan(s)
                    .iter()
                    .any(|v| matches!(v.var, Var::PipelineTaskStatus { .. } | Var::AggregateStatus))
            })
        })
}

/// `$(tasks.NAME.status)`, `$(tasks.NAME.reason)` and `$(tasks.status)` for `finally`.
fn set_statuses(scope: &mut Scope, dag: &[Node]) {
    let mut aggregate = "Succeeded";
    for n in dag {
        let name = &n.task.name.value;
        let (status, reason) = match &n.state {
            State::Done { end, .. } if end.status == Status::Succeeded => {
                ("Succeeded", end.reason.as_str())
            }
            State::Done { end, .. } => ("Failed", end.reason.as_str()),
            _ => ("None", ""),
        };
        scope.set_task_status(name, "status", status);
        scope.set_task_status(name, "reason", reason);
        if status == "Failed" {
            aggregate = "Failed";
        } else if matches!(n.state, State::Skipped(_)) && aggregate != "Failed" {
            aggregate = "Completed";
        }
    }
    scope.set_aggregate_status(aggregate);
}

/// The TaskRuns of a pipeline task: one, or one per matrix combination. They take over the
/// resolved Task and the task's scope.
fn instances(
    shared: &Shared,
    plan: &PipelinePlan,
    task: &PipelineTask,
    resolved: Option<ResolvedTask>,
    finally: bool,
    mut scope: Scope,
) -> Result<(Vec<TaskInstance>, bool), String> {
    let name = task.name.as_str();
    let resolved =
        resolved.ok_or_else(|| format!("pipeline task `{name}` has no resolved Task"))?;
    let retries = task.retries.as_ref().map_or(0, |r| r.value.max(0) as u32);
    scope.set_context("pipelineTask.retries", retries.to_string());
    let outer = scope;
    let scope = &outer;
    let params: Vec<(String, Value)> = task
        .params
        .iter()
        .map(|p| (p.name.value.clone(), substitute_value(&p.value, scope)))
        .collect();
    let timeout = match &task.timeout {
        Some(t) => {
            let d = crate::duration::parse(t).map_err(|e| format!("timeout of `{name}`: {e}"))?;
            (!d.is_zero()).then_some(d)
        }
        None => shared.config.default_timeout,
    };
    let mut spec = resolved.spec.clone();
    if resolved.embedded && (!plan.workspaces.is_empty() || !task.workspaces.is_empty()) {
        propagate_workspaces(Arc::make_mut(&mut spec), task, plan);
    }
    let mut workspaces = Vec::new();
    for decl in &spec.workspaces {
        let dname = decl.name.as_str();
        let binding = task.workspaces.iter().find(|b| b.name.as_str() == dname);
        let (pipeline_ws, sub_path) = match binding {
            Some(b) => (
                b.workspace
                    .as_ref()
                    .map_or(dname, |w| w.as_str())
                    .to_owned(),
                b.sub_path.as_ref().map(|s| substitute(s, scope)),
            ),
            // An embedded spec sees the pipeline's workspaces of the same name.
            None if resolved.embedded && plan.workspaces.contains_key(dname) => {
                (dname.to_owned(), None)
            }
            None => {
                workspaces.push(BoundWorkspace::unbound(dname));
                continue;
            }
        };
        let bound = match plan.workspaces.get(&pipeline_ws) {
            Some(source) => source.bind(dname, &pipeline_ws, sub_path.as_deref(), || {
                shared
                    .config
                    .work_dir
                    .join(plan.run_id.to_string())
                    .join("emptydir")
                    .join(format!("{name}-{pipeline_ws}-{}", Uuid::now_v7().simple()))
            })?,
            // Bound to a pipeline workspace the run left unbound (an optional one).
            None => BoundWorkspace::unbound(dname),
        };
        workspaces.push(bound);
    }
    let combos = task.matrix.as_ref().map(|m| matrix::fan_out(m, scope));
    let base = TaskInstance {
        step_actions: resolved.step_actions,
        run_id: plan.run_id,
        pipeline_task: Some(name.to_owned()),
        finally,
        name: format!("{}-{name}", plan.name),
        task_name: resolved.name,
        annotations: resolved.annotations.clone(),
        spec,
        embedded: resolved.embedded,
        params,
        workspaces,
        timeout,
        retries,
        matrix_index: None,
        failure_ignored: task
            .on_error
            .as_ref()
            .is_some_and(|e| e.value == "continue"),
        outer,
    };
    let Some(combos) = combos else {
        return Ok((vec![base], false));
    };
    let out = combos
        .into_iter()
        .enumerate()
        .map(|(k, combo)| {
            let mut inst = base.clone();
            inst.name = format!("{}-{k}", base.name);
            inst.matrix_index = Some(k);
            for (pname, value) in combo {
                inst.params.retain(|(n, _)| *n != pname);
                inst.params.push((pname, Value::String(value)));
            }
            inst
        })
        .collect();
    Ok((out, true))
}

/// Tekton propagates workspaces into an embedded `taskSpec`: a workspace it uses
/// (`$(workspaces.NAME...)`) or the pipeline task binds, without declaring it, is declared
/// for it when the pipeline task binds it or the pipeline has one of that name.
fn propagate_workspaces(spec: &mut TaskSpec, task: &PipelineTask, plan: &PipelinePlan) {
    let text = serde_json::to_string(&*spec).unwrap_or_default();
    let mut wanted: Vec<String> = vars::scan(&text)
        .into_iter()
        .filter_map(|r| match r.var {
            Var::Workspace { name, .. } => Some(name.to_owned()),
            _ => None,
        })
        .collect();
    wanted.extend(task.workspaces.iter().map(|b| b.name.value.clone()));
    for name in wanted {
        let bound = task.workspaces.iter().any(|b| b.name.value == name)
            || plan.workspaces.contains_key(&name);
        if bound && spec.workspace(&name).is_none() {
            spec.workspaces
                .push(crate::model::workspace::WorkspaceDeclaration {
                    name: crate::Spanned::new(crate::Span::default(), name),
                    ..Default::default()
                });
        }
    }
}

fn finish(shared: &Shared, plan: &PipelinePlan, nodes: &[Node], scope: &Scope, o: Stop) -> RunEnd {
    let (mut succeeded, mut failed, mut cancelled, mut ignored, mut skipped, mut skipped_timeout) =
        (0, 0, 0, 0, 0, 0);
    let mut summaries = Vec::new();
    for n in nodes {
        let name = n.task.name.value.clone();
        match &n.state {
            State::Done { end, for_timeout } => {
                match end.status {
                    Status::Succeeded => succeeded += 1,
                    _ if *for_timeout => failed += 1,
                    Status::Cancelled => cancelled += 1,
                    _ if n.continues_on_error() => ignored += 1,
                    _ => failed += 1,
                }
                summaries.push(TaskSummary {
                    name,
                    finally: n.finally,
                    status: end.status,
                    reason: end.reason.clone(),
                    message: end.message.clone(),
                    duration: end
                        .started
                        .map(|s| (end.finished - s).to_std().unwrap_or_default()),
                    retries: end.retries_used,
                });
            }
            State::Skipped(s) => {
                skipped += 1;
                if s.is_timeout() {
                    skipped_timeout += 1;
                }
                summaries.push(TaskSummary {
                    name,
                    finally: n.finally,
                    status: Status::Skipped,
                    reason: s.as_str().to_owned(),
                    message: None,
                    duration: None,
                    retries: 0,
                });
            }
            State::Pending | State::Running => {}
        }
    }
    let completed = succeeded + failed + cancelled + ignored;
    let mut message = if ignored > 0 {
        format!(
            "Tasks Completed: {completed} (Failed: {} (Ignored: {ignored}), Cancelled {cancelled}), Skipped: {skipped}",
            failed + ignored
        )
    } else {
        format!(
            "Tasks Completed: {completed} (Failed: {failed}, Cancelled {cancelled}), Skipped: {skipped}"
        )
    };
    let (status, reason) = if o.pipeline_timed_out {
        message = format!(
            "PipelineRun \"{}\" failed to finish within \"{}\"",
            plan.name,
            plan.timeouts.pipeline.map(go_duration).unwrap_or_default()
        );
        (Status::Failed, "PipelineRunTimeout")
    } else if o.tasks_timed_out {
        message = format!(
            "PipelineRun \"{}\" failed due to tasks failed to finish within \"{}\"",
            plan.name,
            plan.timeouts.tasks.map(go_duration).unwrap_or_default()
        );
        (Status::Failed, "PipelineRunTimeout")
    } else if o.hard {
        message = format!("PipelineRun \"{}\" was cancelled", plan.name);
        (Status::Cancelled, "Cancelled")
    } else if failed > 0 || skipped_timeout > 0 {
        (Status::Failed, "Failed")
    } else if o.graceful {
        message = format!("PipelineRun \"{}\" was cancelled", plan.name);
        (Status::Cancelled, "Cancelled")
    } else if cancelled > 0 {
        (Status::Cancelled, "Cancelled")
    } else if skipped > 0 {
        (Status::Succeeded, "Completed")
    } else {
        (Status::Succeeded, "Succeeded")
    };

    // Pipeline results: those whose every reference resolved.
    let mut results = BTreeMap::new();
    for r in &plan.spec.results {
        let v = substitute_value(&r.value, scope);
        let unresolved = match &v {
            Value::String(s) => has_task_refs(s),
            Value::Array(a) => a.iter().any(|s| has_task_refs(s)),
            Value::Object(o) => o.values().any(|s| has_task_refs(s)),
        };
        if !unresolved {
            results.insert(r.name.value.clone(), v);
        }
    }
    let results_json = serde_json::Value::Object(
        results
            .iter()
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect(),
    );
    shared.observers.emit(ExecEvent::RunFinished {
        id: plan.run_id,
        status,
        reason: reason.to_owned(),
        message: Some(message.clone()),
        results: results_json,
        at: Utc::now(),
    });
    RunEnd {
        id: plan.run_id,
        name: plan.name.clone(),
        status,
        reason: reason.to_owned(),
        message: Some(message),
        results,
        tasks: summaries,
    }
}

fn has_task_refs(s: &str) -> bool {
    vars::scan(s)
        .iter()
        .any(|r| matches!(r.var, Var::PipelineTaskResult { .. }))
}

/// The tasks of a pipeline and what each runs after, as the scheduler orders them
/// (`runAfter` and result references); finally tasks after all.
pub fn graph(spec: &PipelineSpec) -> Vec<super::events::GraphNode> {
    let deps = dependencies(&spec.tasks, &|s, _, _| s.span);
    let mut nodes: Vec<super::events::GraphNode> = spec
        .tasks
        .iter()
        .map(|t| super::events::GraphNode {
            name: t.name.to_string(),
            after: Vec::new(),
            finally: false,
        })
        .collect();
    for d in &deps {
        if (d.via == Via::RunAfter || d.via == Via::Result)
            && let Some(n) = nodes.iter_mut().find(|n| n.name == d.task)
            && !n.after.contains(&d.on)
        {
            n.after.push(d.on.clone());
        }
    }
    nodes.extend(spec.finally.iter().map(|t| super::events::GraphNode {
        name: t.name.to_string(),
        after: Vec::new(),
        finally: true,
    }));
    nodes
}
