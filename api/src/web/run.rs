//! `/runs/{run}`: one run — its header, the DAG of its tasks, and each TaskRun with its
//! steps and their logs. The script follows `/events?run=ID` and, after each change, reads
//! `/runs/{run}/state` (the statuses, small JSON) to catch up, `/runs/{run}/dag` (the DAG
//! drawn again) and `/runs/{run}/taskruns/{task_run}` (a TaskRun that started since).

use std::fmt::Write;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use runnel_engine::store::{RunKind, RunRecord, Status, StepRecord, StoreError, TaskRunRecord};
use serde::Serialize;
use uuid::Uuid;

use super::html::{Page, badge, duration_span, error_page, esc, html, status_class, time};
use super::session::Viewer;
use super::{dag, log};
use crate::server::AppState;

/// A TaskRun with at most this many steps shows all their logs at once; with more, only
/// the running and failed ones (the others load when opened).
const OPEN_STEPS: usize = 4;

/// Why a page could not be made.
#[derive(Debug, thiserror::Error)]
enum PageError {
    #[error("no run `{0}`")]
    NoRun(String),
    #[error("run {run} has no TaskRun {task_run}")]
    NoTaskRun { run: Uuid, task_run: Uuid },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PageError {
    fn into_response(self, viewer: &Viewer) -> Response {
        match &self {
            PageError::NoRun(_) | PageError::NoTaskRun { .. } => {
                error_page(StatusCode::NOT_FOUND, Some(viewer), &self.to_string())
            }
            PageError::Store(StoreError::AmbiguousId { .. }) => {
                error_page(StatusCode::BAD_REQUEST, Some(viewer), &self.to_string())
            }
            PageError::Store(e) => {
                tracing::error!(error = %e, "cannot read the run");
                error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some(viewer),
                    "the database is unavailable",
                )
            }
        }
    }
}

async fn find_run(state: &AppState, key: &str) -> Result<RunRecord, PageError> {
    state
        .store
        .get_run(key)
        .await?
        .ok_or_else(|| PageError::NoRun(key.to_owned()))
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> Response {
    match render_page(&state, &key).await {
        Ok((title, body)) => Page {
            title: &title,
            page: "run",
            viewer: Some(&viewer),
            body,
        }
        .response(StatusCode::OK),
        Err(e) => e.into_response(&viewer),
    }
}

async fn render_page(state: &AppState, key: &str) -> Result<(String, String), PageError> {
    let run = find_run(state, key).await?;
    let task_runs = state.store.task_runs(run.id).await?;
    let graph = dag_html(state, &run, &task_runs).await;
    let id = run.id;
    let mut body = format!(
        "<div id=\"run\" data-run=\"{id}\" data-events=\"/events?run={id}\" \
         data-state=\"/runs/{id}/state\" data-dag=\"/runs/{id}/dag\" data-taskruns=\"/runs/{id}/taskruns/\">\
         <h1><span class=\"run-name\">{name}</span> {badge}</h1>",
        name = esc(&run.name),
        badge = badge(Some(run.status)),
    );
    body.push_str(&header(&run));
    let _ = write!(
        body,
        "<section class=\"graph\"><h2>Tasks</h2><div id=\"dag\">{graph}</div></section>\
         <section id=\"taskruns\">"
    );
    for t in &task_runs {
        body.push_str(&task_run_section(state, run.id, t).await?);
    }
    body.push_str("</section></div>");
    Ok((run.name, body))
}

/// The run's facts: what it runs, where from, when, how it ended.
fn header(run: &RunRecord) -> String {
    let mut out = String::from("<dl class=\"meta\">");
    let mut item = |label: &str, value: String, role: &str| {
        let _ = write!(
            out,
            "<div><dt>{label}</dt><dd data-role=\"{role}\">{value}</dd></div>"
        );
    };
    let kind = match run.kind {
        RunKind::PipelineRun => "Pipeline",
        RunKind::TaskRun => "Task",
    };
    item(kind, esc(&run.target), "target");
    if let Some(repo) = &run.source.repo {
        item("Repository", esc(repo), "repo");
    }
    if let Some(branch) = &run.source.branch {
        item("Branch", esc(branch), "branch");
    }
    if let Some(commit) = &run.source.commit {
        item("Commit", format!("<code>{}</code>", esc(commit)), "commit");
    }
    item("Queued", time(Some(run.queued_at)), "queued");
    item("Started", time(run.started_at), "started");
    item("Finished", time(run.finished_at), "finished");
    item(
        "Duration",
        duration_span(run.started_at, run.finished_at),
        "run-duration",
    );
    item("Reason", esc(&run.reason), "reason");
    item("Runner", esc(&run.runner), "runner");
    out.push_str("</dl>");
    if let Some(m) = &run.message {
        let _ = write!(out, "<pre class=\"message\">{}</pre>", esc(m));
    }
    out.push_str(&values("Params", &run.params));
    out.push_str(&values("Results", &run.results));
    out
}

/// A JSON object's entries as a collapsed table (nothing for an empty one).
fn values(title: &str, value: &serde_json::Value) -> String {
    let Some(map) = value.as_object().filter(|m| !m.is_empty()) else {
        return String::new();
    };
    let mut out = format!("<details class=\"values\"><summary>{title}</summary><table>");
    for (k, v) in map {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = write!(
            out,
            "<tr><th>{}</th><td><code>{}</code></td></tr>",
            esc(k),
            esc(&v)
        );
    }
    out.push_str("</table></details>");
    out
}

async fn dag_html(state: &AppState, run: &RunRecord, task_runs: &[TaskRunRecord]) -> String {
    let graph = match dag::pipeline_graph(state, run.id).await {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!(run_id = %run.id, error = %e, "cannot read the run's graph");
            None
        }
    };
    dag::render(graph.as_deref(), task_runs, Utc::now())
}

/// One TaskRun: its heading and its steps, each with its log.
async fn task_run_section(
    state: &AppState,
    run: Uuid,
    t: &TaskRunRecord,
) -> Result<String, PageError> {
    let steps = state.store.steps(t.id).await?;
    let title = t.pipeline_task.as_deref().unwrap_or(&t.name);
    let mut out = format!(
        "<section class=\"taskrun {class}\" id=\"tr-{id}\" data-task-run=\"{id}\">\
         <h3><span class=\"tr-name\">{title}</span> {badge} {duration} <span class=\"muted\">{name}{attempt}{matrix}{finally}</span></h3>",
        class = status_class(Some(t.status)),
        id = t.id,
        title = esc(title),
        badge = badge(Some(t.status)),
        duration = duration_span(t.started_at, t.finished_at),
        name = esc(&t.name),
        attempt = if t.attempt > 0 {
            format!(" · retry {}", t.attempt)
        } else {
            String::new()
        },
        matrix = t
            .matrix_index
            .map_or(String::new(), |m| format!(" · matrix #{m}")),
        finally = if t.finally { " · finally" } else { "" },
    );
    if let Some(m) = &t.message {
        let _ = write!(out, "<pre class=\"message\">{}</pre>", esc(m));
    }
    let few = steps.len() <= OPEN_STEPS;
    for s in &steps {
        out.push_str(&step_html(state, run, s, few).await);
    }
    out.push_str("</section>");
    Ok(out)
}

async fn step_html(state: &AppState, run: Uuid, s: &StepRecord, few: bool) -> String {
    let open = s.status != Status::Skipped
        && (few || matches!(s.status, Status::Running | Status::Failed));
    let mut out = format!(
        "<details class=\"step {class}\" data-index=\"{index}\"{open}><summary>\
         <span class=\"step-name\">{name}</span> {badge} <span class=\"exit\" data-role=\"exit\">{exit}</span> \
         {duration} <span class=\"muted\">{image}</span></summary>",
        class = status_class(Some(s.status)),
        index = s.index,
        open = if open { " open" } else { "" },
        name = esc(&s.name),
        badge = badge(Some(s.status)),
        exit = s.exit_code.map_or(String::new(), |c| format!("exit {c}")),
        duration = duration_span(s.started_at, s.finished_at),
        image = esc(s.image.as_deref().unwrap_or("")),
    );
    if let Some(m) = &s.message {
        let _ = write!(out, "<pre class=\"message\">{}</pre>", esc(m));
    }
    // A closed step's log loads when it is opened.
    let window = match (&s.log, open) {
        (Some(key), true) => match log::tail(&state.logs, key).await {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a step's log");
                let _ = write!(out, "<p class=\"error\">The log is unavailable.</p>");
                None
            }
        },
        _ => None,
    };
    let follow = s.status == Status::Running;
    out.push_str(&log::view(
        run,
        s,
        window.as_ref().unwrap_or(&log::Window::default()),
        follow,
        window.is_none(),
    ));
    out.push_str("</details>");
    out
}

/// `GET /runs/{run}/dag`: the DAG alone.
pub async fn dag(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> Response {
    let result = async {
        let run = find_run(&state, &key).await?;
        let task_runs = state.store.task_runs(run.id).await?;
        Ok::<_, PageError>(dag_html(&state, &run, &task_runs).await)
    }
    .await;
    match result {
        Ok(svg) => html(StatusCode::OK, svg),
        Err(e) => e.into_response(&viewer),
    }
}

/// `GET /runs/{run}/taskruns/{task_run}`: one TaskRun's section.
pub async fn task_run(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((key, task_run)): Path<(String, Uuid)>,
) -> Response {
    let result = async {
        let run = find_run(&state, &key).await?;
        let task_runs = state.store.task_runs(run.id).await?;
        let t = task_runs
            .iter()
            .find(|t| t.id == task_run)
            .ok_or(PageError::NoTaskRun {
                run: run.id,
                task_run,
            })?;
        task_run_section(&state, run.id, t).await
    }
    .await;
    match result {
        Ok(section) => html(StatusCode::OK, section),
        Err(e) => e.into_response(&viewer),
    }
}

/// Where a run is now, for the page to catch up.
#[derive(Debug, Serialize)]
pub struct RunState {
    status: Status,
    reason: String,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    task_runs: Vec<TaskRunState>,
}

#[derive(Debug, Serialize)]
struct TaskRunState {
    id: Uuid,
    status: Status,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    steps: Vec<StepState>,
}

#[derive(Debug, Serialize)]
struct StepState {
    index: i32,
    status: Status,
    exit_code: Option<i32>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

/// `GET /runs/{run}/state`: the statuses of the run, its TaskRuns and their steps.
pub async fn run_state(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> Response {
    let result = async {
        let run = find_run(&state, &key).await?;
        let mut task_runs = Vec::new();
        for t in state.store.task_runs(run.id).await? {
            let steps = state
                .store
                .steps(t.id)
                .await?
                .into_iter()
                .map(|s| StepState {
                    index: s.index,
                    status: s.status,
                    exit_code: s.exit_code,
                    started_at: s.started_at,
                    finished_at: s.finished_at,
                })
                .collect();
            task_runs.push(TaskRunState {
                id: t.id,
                status: t.status,
                started_at: t.started_at,
                finished_at: t.finished_at,
                steps,
            });
        }
        Ok::<_, PageError>(RunState {
            status: run.status,
            reason: run.reason,
            started_at: run.started_at,
            finished_at: run.finished_at,
            task_runs,
        })
    }
    .await;
    match result {
        Ok(s) => Json(s).into_response(),
        Err(e) => e.into_response(&viewer),
    }
}
