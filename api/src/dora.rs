//! The DORA endpoints under `/api/v1`: the metrics of a window (`runnel_engine::dora`), and
//! deployments and incidents reported from outside (external deployments such as an
//! ArgoCD auto-sync, backfills with explicit times, incidents opened and resolved).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use runnel_engine::dora::{Bucket, DoraReport, report, window};
use runnel_engine::store::{
    CommitRecord, DeploymentKind, DeploymentOrigin, DeploymentRecord, DoraQuery, IncidentRecord,
    Status, StoreError, new_id, now,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::rest::{ErrorBody, error};
use crate::server::AppState;

fn store_error(e: &StoreError) -> Response {
    tracing::error!("{e}");
    error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
}

/// One service and environment (each optional: all of them) over a window.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// The service (the repository, as `owner/name`).
    pub service: Option<String>,
    pub environment: Option<String>,
    /// The window's start (RFC 3339); default: `to` minus `since`.
    pub from: Option<DateTime<Utc>>,
    /// The window's end, excluded (RFC 3339); default: now.
    pub to: Option<DateTime<Utc>>,
    /// The window's length when `from` is not given: `30d` (the default), `12h`, `2w`.
    pub since: Option<String>,
}

impl WindowQuery {
    /// The query, or what is wrong with the window (a 400).
    fn query(&self) -> Result<DoraQuery, String> {
        let (from, to) = window(self.from, self.to, self.since.as_deref(), now())?;
        Ok(DoraQuery {
            service: self.service.clone().filter(|s| !s.is_empty()),
            environment: self.environment.clone().filter(|s| !s.is_empty()),
            from,
            to,
        })
    }
}

/// How the metrics' time series is cut.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BucketQuery {
    /// `day` (the default) or `week` (seven days from the window's start).
    pub bucket: Option<Bucket>,
}

/// The four key metrics (and rework rate) of a window, with tiers and a time series.
#[utoipa::path(get, path = "/metrics/dora", tag = "dora", params(WindowQuery, BucketQuery), responses((status = 200, body = DoraReport), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn metrics(
    State(state): State<AppState>,
    Query(window): Query<WindowQuery>,
    Query(bucket): Query<BucketQuery>,
) -> Response {
    let query = match window.query() {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    match report(&state.store, query, bucket.bucket.unwrap_or_default()).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => store_error(&e),
    }
}

/// A deployment made outside runnel, or one from before it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewDeployment {
    pub service: String,
    pub environment: String,
    /// The commit deployed.
    pub commit: Option<String>,
    /// `Succeeded` (the default) or `Failed`.
    pub status: Option<Status>,
    #[serde(default)]
    pub kind: DeploymentKind,
    pub started_at: Option<DateTime<Utc>>,
    /// Default: now.
    pub finished_at: Option<DateTime<Utc>>,
    /// The commits it shipped. Without them, the server reads them from the service's
    /// repository mirror (`[[repos]]` with that name and a `clone_url`).
    pub commits: Option<Vec<CommitRecord>>,
}

/// Records a deployment.
#[utoipa::path(post, path = "/deployments", tag = "dora", request_body = NewDeployment, responses((status = 201, body = DeploymentRecord), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_deployment(
    State(state): State<AppState>,
    Json(body): Json<NewDeployment>,
) -> Response {
    let status = body.status.unwrap_or(Status::Succeeded);
    if !matches!(status, Status::Succeeded | Status::Failed) {
        return error(
            StatusCode::BAD_REQUEST,
            "a reported deployment's status is Succeeded or Failed",
        );
    }
    if let Some(problem) = blank(&[
        ("service", &body.service),
        ("environment", &body.environment),
    ]) {
        return error(StatusCode::BAD_REQUEST, &problem);
    }
    let finished_at = body.finished_at.unwrap_or_else(now);
    if body.started_at.is_some_and(|s| s > finished_at) {
        return error(StatusCode::BAD_REQUEST, "started_at is after finished_at");
    }
    let deployment = DeploymentRecord {
        id: new_id(),
        service: body.service,
        environment: body.environment,
        commit: body.commit.filter(|c| !c.is_empty()),
        status,
        kind: body.kind,
        started_at: body.started_at,
        finished_at: Some(finished_at),
        run_id: None,
        task_run: None,
        origin: DeploymentOrigin::Api,
    };
    if let Err(e) = state.store.save_deployment(&deployment).await {
        return store_error(&e);
    }
    match &body.commits {
        Some(commits) => {
            if let Err(e) = state.store.record_shipped(&deployment, commits).await {
                return store_error(&e);
            }
        }
        None => {
            let _ = state.deployments.send(deployment.clone());
        }
    }
    (StatusCode::CREATED, Json(deployment)).into_response()
}

/// The deployments of a window, newest first (running ones first).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentList {
    pub deployments: Vec<DeploymentRecord>,
}

/// At most this many.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// 100 by default, 1000 at most.
    pub limit: Option<u32>,
}

/// Lists deployments.
#[utoipa::path(get, path = "/deployments", tag = "dora", params(WindowQuery, LimitQuery), responses((status = 200, body = DeploymentList), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_deployments(
    State(state): State<AppState>,
    Query(window): Query<WindowQuery>,
    Query(limit): Query<LimitQuery>,
) -> Response {
    let query = match window.query() {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let limit = limit.limit.unwrap_or(100).clamp(1, 1000);
    match state.store.list_deployments(&query, limit).await {
        Ok(deployments) => Json(DeploymentList { deployments }).into_response(),
        Err(e) => store_error(&e),
    }
}

/// An incident, opened now or at a given time.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewIncident {
    pub service: String,
    pub environment: String,
    pub title: String,
    /// Default: now.
    pub opened_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The deployment that caused it.
    pub deployment_id: Option<Uuid>,
    /// Or the commit that caused it (the deployment that shipped it is found).
    pub commit: Option<String>,
    /// The deployment that fixed it.
    pub fixed_by: Option<Uuid>,
}

/// Opens (or backfills) an incident.
#[utoipa::path(post, path = "/incidents", tag = "dora", request_body = NewIncident, responses((status = 201, body = IncidentRecord), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_incident(
    State(state): State<AppState>,
    Json(body): Json<NewIncident>,
) -> Response {
    if let Some(problem) = blank(&[
        ("service", &body.service),
        ("environment", &body.environment),
        ("title", &body.title),
    ]) {
        return error(StatusCode::BAD_REQUEST, &problem);
    }
    let incident = IncidentRecord {
        id: new_id(),
        service: body.service,
        environment: body.environment,
        title: body.title,
        opened_at: body.opened_at.unwrap_or_else(now),
        resolved_at: body.resolved_at,
        deployment_id: body.deployment_id,
        commit: body.commit.filter(|c| !c.is_empty()),
        fixed_by: body.fixed_by,
    };
    save_incident(&state, incident, StatusCode::CREATED).await
}

/// An incident's resolution.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Resolution {
    /// Default: now.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The deployment that fixed it.
    pub fixed_by: Option<Uuid>,
}

/// Resolves an incident.
#[utoipa::path(post, path = "/incidents/{id}/resolve", tag = "dora", params(("id" = Uuid, Path, description = "The incident's id")), request_body = Resolution, responses((status = 200, body = IncidentRecord), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn resolve_incident(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(body): Json<Resolution>,
) -> Response {
    let incident = match state.store.incident(id).await {
        Ok(Some(i)) => i,
        Ok(None) => return error(StatusCode::NOT_FOUND, &format!("no incident {id}")),
        Err(e) => return store_error(&e),
    };
    let incident = IncidentRecord {
        resolved_at: Some(body.resolved_at.unwrap_or_else(now)),
        fixed_by: body.fixed_by.or(incident.fixed_by),
        ..incident
    };
    save_incident(&state, incident, StatusCode::OK).await
}

/// Checks an incident's times and the deployments it names, then saves it.
async fn save_incident(state: &AppState, incident: IncidentRecord, status: StatusCode) -> Response {
    if incident.resolved_at.is_some_and(|r| r < incident.opened_at) {
        return error(StatusCode::BAD_REQUEST, "resolved_at is before opened_at");
    }
    for id in [incident.deployment_id, incident.fixed_by]
        .into_iter()
        .flatten()
    {
        match state.store.deployment(id).await {
            Ok(Some(_)) => {}
            Ok(None) => return error(StatusCode::BAD_REQUEST, &format!("no deployment {id}")),
            Err(e) => return store_error(&e),
        }
    }
    match state.store.save_incident(&incident).await {
        Ok(()) => (status, Json(incident)).into_response(),
        Err(e) => store_error(&e),
    }
}

/// The incidents of a window (opened before its end, not resolved before its start),
/// newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    pub incidents: Vec<IncidentRecord>,
}

/// Lists incidents.
#[utoipa::path(get, path = "/incidents", tag = "dora", params(WindowQuery), responses((status = 200, body = IncidentList), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_incidents(
    State(state): State<AppState>,
    Query(window): Query<WindowQuery>,
) -> Response {
    let query = match window.query() {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    match state.store.list_incidents(&query).await {
        Ok(incidents) => Json(IncidentList { incidents }).into_response(),
        Err(e) => store_error(&e),
    }
}

/// Which of these required fields is empty, as a message.
fn blank(fields: &[(&str, &String)]) -> Option<String> {
    fields
        .iter()
        .find(|(_, value)| value.trim().is_empty())
        .map(|(name, _)| format!("`{name}` must not be empty"))
}
