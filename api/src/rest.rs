//! The REST API under `/api/v1` (JSON): runs, their TaskRuns, steps and logs, starting and
//! cancelling runs, and the webhook deliveries.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use runnel_engine::store::{
    DeliveryRecord, Enqueued, QueuedRun, RunFilter, RunRecord, Status, StepRecord, StoreError,
    TaskRunRecord,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::config::parse_forge;
use crate::queue::{CancelMode, Cancelled, Request, queued_record};
use crate::server::AppState;

/// An error answer: `{"error": "..."}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

pub fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(ErrorBody {
            error: message.to_owned(),
        }),
    )
        .into_response()
}

fn store_error(e: &StoreError) -> Response {
    tracing::error!("{e}");
    error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
}

pub async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such API endpoint")
}

/// The filters of `GET /api/v1/runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub status: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunRecord>,
    pub limit: u32,
    pub offset: u32,
}

#[utoipa::path(get, path = "/runs", tag = "runs", params(RunQuery), responses((status = 200, description = "Runs, newest first", body = RunList), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_runs(State(state): State<AppState>, Query(q): Query<RunQuery>) -> Response {
    let status = match q.status.as_deref().map(str::parse::<Status>) {
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        Some(Ok(s)) => Some(s),
        None => None,
    };
    let filter = RunFilter {
        limit: q.limit.unwrap_or(50).clamp(1, 500),
        offset: q.offset.unwrap_or(0),
        status,
        repo: q.repo,
        branch: q.branch,
        since: q.since,
        until: q.until,
    };
    match state.store.list_runs(&filter).await {
        Ok(runs) => Json(RunList {
            runs,
            limit: filter.limit,
            offset: filter.offset,
        })
        .into_response(),
        Err(e) => store_error(&e),
    }
}

/// A TaskRun attempt with its steps.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskRunDetail {
    #[serde(flatten)]
    pub task_run: TaskRunRecord,
    pub steps: Vec<StepRecord>,
}

/// A run with its TaskRuns and their steps.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: RunRecord,
    /// A PipelineRun's tasks and what each runs after: `[{"name", "after", "finally"}]`.
    #[schema(value_type = Option<Vec<runnel_engine::exec::events::GraphNode>>)]
    pub graph: Option<serde_json::Value>,
    pub task_runs: Vec<TaskRunDetail>,
}

async fn find_run(state: &AppState, key: &str) -> Result<RunRecord, Response> {
    match state.store.get_run(key).await {
        Ok(Some(run)) => Ok(run),
        Ok(None) => Err(error(StatusCode::NOT_FOUND, &format!("no run `{key}`"))),
        Err(e @ StoreError::AmbiguousId { .. }) => {
            Err(error(StatusCode::BAD_REQUEST, &e.to_string()))
        }
        Err(e) => Err(store_error(&e)),
    }
}

#[utoipa::path(get, path = "/runs/{run}", tag = "runs", params(("run" = String, Path, description = "A run id, id prefix or name")), responses((status = 200, body = RunDetail), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_run(State(state): State<AppState>, Path(key): Path<String>) -> Response {
    let run = match find_run(&state, &key).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let task_runs = match state.store.task_runs(run.id).await {
        Ok(t) => t,
        Err(e) => return store_error(&e),
    };
    let mut details = Vec::with_capacity(task_runs.len());
    for t in task_runs {
        let steps = match state.store.steps(t.id).await {
            Ok(s) => s,
            Err(e) => return store_error(&e),
        };
        details.push(TaskRunDetail { task_run: t, steps });
    }
    let graph = match state.store.run_graph(run.id).await {
        Ok(g) => g,
        Err(e) => return store_error(&e),
    };
    Json(RunDetail {
        run,
        graph,
        task_runs: details,
    })
    .into_response()
}

/// The body of `POST /api/v1/runs`: a pipeline of the server's by name, or a configured
/// repository's pipeline at a commit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// A pipeline file's name in the server's pipeline directories (`hello` for
    /// `pipelines/hello.yaml`); with `repo`, the pipeline path in the repository
    /// (default `.tekton`).
    pub pipeline: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// A configured repository (`owner/name`).
    pub repo: Option<String>,
    /// Its forge, when the name is configured for several.
    pub forge: Option<String>,
    /// The commit (with `repo`).
    pub sha: Option<String>,
    /// The ref the commit is on (default `refs/heads/main`), fetched when the server
    /// refuses to fetch a bare commit.
    pub git_ref: Option<String>,
}

/// What `POST /api/v1/runs` and a webhook made.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Started {
    pub run: Uuid,
    pub name: String,
}

#[utoipa::path(post, path = "/runs", tag = "runs", request_body = StartRun, responses((status = 201, description = "Queued", body = Started), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn start_run(State(state): State<AppState>, Json(body): Json<StartRun>) -> Response {
    let params: Vec<(String, String)> = body.params.into_iter().collect();
    let (name, target, request, source, repo_key) = match (&body.repo, &body.pipeline) {
        (Some(repo_name), pipeline) => {
            let repo = state.settings.repos.iter().find(|r| {
                r.name == *repo_name
                    && body
                        .forge
                        .as_deref()
                        .is_none_or(|f| parse_forge(f) == Some(r.forge))
            });
            let Some(repo) = repo else {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("the repository `{repo_name}` is not configured"),
                );
            };
            let Some(clone_url) = &repo.clone_url else {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("the repository `{repo_name}` has no clone_url configured"),
                );
            };
            let Some(sha) = &body.sha else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "a run of a repository needs its `sha`",
                );
            };
            let pipeline = pipeline.clone().unwrap_or_else(|| ".tekton".to_owned());
            let git_ref = body
                .git_ref
                .clone()
                .unwrap_or_else(|| "refs/heads/main".to_owned());
            let short = repo_name.rsplit('/').next().unwrap_or(repo_name);
            let sha7: String = sha.chars().take(7).collect();
            (
                format!("{short}-api-{sha7}"),
                pipeline.clone(),
                Request::Repo {
                    forge: repo.forge.as_str().to_owned(),
                    repo: repo.name.clone(),
                    clone_url: clone_url.clone(),
                    sha: sha.clone(),
                    git_ref: git_ref.clone(),
                    pipeline,
                    params: params.clone(),
                },
                runnel_engine::store::Source {
                    repo: Some(repo.name.clone()),
                    branch: git_ref.strip_prefix("refs/heads/").map(str::to_owned),
                    commit: Some(sha.clone()),
                },
                Some((repo.name.clone(), git_ref)),
            )
        }
        (None, Some(pipeline)) => (
            format!("{pipeline}-run-{}", short_suffix()),
            pipeline.clone(),
            Request::Named {
                pipeline: pipeline.clone(),
                params: params.clone(),
            },
            Default::default(),
            None,
        ),
        (None, None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "give a `pipeline` (a name in the server's pipelines) or a `repo` and `sha`",
            );
        }
    };
    let mut run = queued_record(name, target, &params, &state.runner_name);
    run.source = source;
    let request = match serde_json::to_value(&request) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let queued = QueuedRun {
        run: run.clone(),
        repo: repo_key.as_ref().map(|(r, _)| r.clone()),
        branch: repo_key.map(|(_, b)| b),
        request,
    };
    match state.store.enqueue(&run, &queued, None).await {
        Ok(Enqueued::Queued | Enqueued::Duplicate(_)) => {
            state.queue.wake();
            (
                StatusCode::CREATED,
                Json(Started {
                    run: run.id,
                    name: run.name,
                }),
            )
                .into_response()
        }
        Err(e) => store_error(&e),
    }
}

/// Five characters to tell runs of the same pipeline apart (the end of a new uuid v7,
/// which is random).
fn short_suffix() -> String {
    let id = runnel_engine::store::new_id().simple().to_string();
    id[id.len() - 5..].to_owned()
}

/// `?mode=`: `Cancelled` (default) or `CancelledRunFinally`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CancelQuery {
    pub mode: Option<CancelMode>,
}

/// What `POST /api/v1/runs/{run}/cancel` did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CancelAnswer {
    pub run: Uuid,
    /// `queued` (it will not start), `running` (it is being stopped).
    pub was: String,
}

#[utoipa::path(post, path = "/runs/{run}/cancel", tag = "runs", params(("run" = String, Path, description = "A run id, id prefix or name"), CancelQuery), responses((status = 200, description = "It was queued and will not start", body = CancelAnswer), (status = 202, description = "It is running and is being stopped", body = CancelAnswer), (status = 409, description = "Nothing to cancel", body = ErrorBody)), security(("bearer" = [])))]
pub async fn cancel_run(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<CancelQuery>,
) -> Response {
    let run = match find_run(&state, &key).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match state
        .queue
        .cancel(run.id, q.mode.unwrap_or(CancelMode::Cancelled))
        .await
    {
        Ok(Cancelled::Queued) => Json(CancelAnswer {
            run: run.id,
            was: "queued".into(),
        })
        .into_response(),
        Ok(Cancelled::Running) => (
            StatusCode::ACCEPTED,
            Json(CancelAnswer {
                run: run.id,
                was: "running".into(),
            }),
        )
            .into_response(),
        Ok(Cancelled::NotRunning) => error(
            StatusCode::CONFLICT,
            &format!(
                "run {} is {} ({}): there is nothing to cancel",
                run.id,
                run.status.as_str(),
                run.reason
            ),
        ),
        Err(e) => store_error(&e),
    }
}

/// The step a log path names, checked to belong to the run.
pub async fn find_step(
    state: &AppState,
    run: &str,
    task_run: Uuid,
    index: usize,
) -> Result<(RunRecord, StepRecord), Response> {
    let run = find_run(state, run).await?;
    let task_runs = state
        .store
        .task_runs(run.id)
        .await
        .map_err(|e| store_error(&e))?;
    if !task_runs.iter().any(|t| t.id == task_run) {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("run {} has no TaskRun {task_run}", run.id),
        ));
    }
    let steps = state
        .store
        .steps(task_run)
        .await
        .map_err(|e| store_error(&e))?;
    match steps.into_iter().find(|s| s.index as usize == index) {
        Some(step) => Ok((run, step)),
        None => Err(error(
            StatusCode::NOT_FOUND,
            &format!("TaskRun {task_run} has no step {index}"),
        )),
    }
}

/// A step's stored log, whole or the byte range a `Range: bytes=A-B` header asks for. Each
/// line is `TIME STREAM TEXT` (RFC 3339 time, `out` or `err`).
#[utoipa::path(get, path = "/runs/{run}/taskruns/{task_run}/steps/{index}/log", tag = "logs", params(("run" = String, Path), ("task_run" = Uuid, Path), ("index" = usize, Path, description = "The step's position, from 0"), ("Range" = Option<String>, Header, description = "bytes=A-B")), responses((status = 200, description = "The stored log: lines `TIME STREAM TEXT`", content_type = "text/plain", body = String), (status = 206, description = "The range asked for", content_type = "text/plain", body = String), (status = 416, description = "The range is outside the log"), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn step_log(
    State(state): State<AppState>,
    Path((run, task_run, index)): Path<(String, Uuid, usize)>,
    headers: HeaderMap,
) -> Response {
    let (_, step) = match find_step(&state, &run, task_run, index).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let Some(key) = step.log else {
        return (StatusCode::OK, "").into_response();
    };
    let size = match state.logs.exists(&key).await {
        Ok(true) => match state.logs.size(&key).await {
            Ok(s) => s,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        },
        Ok(false) => 0,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, size));
    let text_plain = HeaderValue::from_static("text/plain; charset=utf-8");
    match range {
        None => match state.logs.read_range(&key, 0..size).await {
            Ok(bytes) => (
                [
                    (header::CONTENT_TYPE, text_plain),
                    (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
                ],
                bytes,
            )
                .into_response(),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        },
        Some(None) => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{size}"))],
        )
            .into_response(),
        Some(Some((start, end))) => match state.logs.read_range(&key, start..end).await {
            Ok(bytes) => (
                StatusCode::PARTIAL_CONTENT,
                [
                    (header::CONTENT_TYPE, text_plain),
                    (
                        header::CONTENT_RANGE,
                        HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1))
                            .unwrap_or(HeaderValue::from_static("bytes */*")),
                    ),
                ],
                bytes,
            )
                .into_response(),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        },
    }
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` → the half-open range it asks for within `size`;
/// `None` when it is not satisfiable (or not one range of bytes).
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size)
        }
        (a, "") => (a.parse().ok()?, size),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.saturating_add(1).min(size),
        ),
    };
    (start < end && start < size).then_some((start, end))
}

/// `?limit=&offset=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryRecord>,
}

#[utoipa::path(get, path = "/deliveries", tag = "webhooks", params(Page), responses((status = 200, description = "Webhook deliveries, newest first", body = DeliveryList)), security(("bearer" = [])))]
pub async fn list_deliveries(State(state): State<AppState>, Query(p): Query<Page>) -> Response {
    match state
        .store
        .list_deliveries(p.limit.unwrap_or(50).clamp(1, 500), p.offset.unwrap_or(0))
        .await
    {
        Ok(deliveries) => Json(DeliveryList { deliveries }).into_response(),
        Err(e) => store_error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 100)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-2", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("lines=0-1", 100), None);
    }
}
