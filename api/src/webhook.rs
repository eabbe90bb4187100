//! `POST /hooks/{github,gitlab,gitea,forgejo}`: verify, record, queue, answer. Nothing slow
//! happens here: the repository is fetched and the run started by the queue, later.
//!
//! | what came                                   | answer | recorded as |
//! |---------------------------------------------|--------|-------------|
//! | a body over the limit                       | 413    | rejected    |
//! | no event header, malformed JSON, no repo    | 400    | rejected    |
//! | a repository with no secret configured      | 401    | rejected    |
//! | a missing or wrong signature                | 401    | rejected    |
//! | ping                                        | 200    | ignored     |
//! | an event no trigger takes, a deletion, ...  | 202    | ignored     |
//! | params that cannot be bound from it         | 422    | rejected    |
//! | the same delivery id, or the same change    | 200    | duplicate   |
//! | anything else                               | 202    | queued      |

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use runnel_engine::store::{
    DeliveryRecord, Enqueue, Enqueued, Outcome, QueuedRun, Source, new_id, now,
};
use serde::Serialize;
use uuid::Uuid;

use crate::config::parse_forge;
use crate::hooks::{self, EventKind, Forge, HookEvent, Reading};
use crate::queue::{Request, queued_record};
use crate::server::AppState;
use crate::triggers::{self, Match};

/// The JSON answer to a delivery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HookAnswer {
    /// Our id of the delivery (`GET /api/v1/deliveries` lists it).
    pub delivery: Uuid,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/hooks/{forge}", tag = "webhooks", params(("forge" = String, Path, description = "github, gitlab, gitea or forgejo")), request_body(content = Object, description = "The forge's payload, signed (X-Hub-Signature-256, X-Gitlab-Token, X-Gitea-Signature)", content_type = "application/json"), responses((status = 202, description = "Queued, or ignored (see outcome and reason)", body = HookAnswer), (status = 200, description = "A ping, or a duplicate of a delivery received before", body = HookAnswer), (status = 400, description = "No event header, malformed JSON, no repository", body = HookAnswer), (status = 401, description = "No secret configured, or a missing or wrong signature", body = HookAnswer), (status = 413, description = "The body is over the limit", body = HookAnswer), (status = 422, description = "Params cannot be bound from the payload", body = HookAnswer)), security(()))]
pub async fn receive(
    State(state): State<AppState>,
    Path(forge_name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(forge) = parse_forge(&forge_name) else {
        return (
            StatusCode::NOT_FOUND,
            format!(
                "no webhook endpoint for `{forge_name}`: use github, gitlab, gitea or forgejo\n"
            ),
        )
            .into_response();
    };
    let mut delivery = DeliveryRecord {
        id: new_id(),
        forge: forge.as_str().to_owned(),
        delivery_id: hooks::delivery_id(forge, &headers),
        event: hooks::event_name(forge, &headers).unwrap_or_default(),
        repo: None,
        git_ref: None,
        sha: None,
        content_key: None,
        received_at: now(),
        outcome: Outcome::Rejected,
        status_code: 0,
        reason: None,
        run_id: None,
    };
    match handle(&state, forge, &headers, body, &mut delivery).await {
        Ok(answer) => answer,
        Err((status, reason)) => {
            delivery.outcome = Outcome::Rejected;
            finish(&state, delivery, status, Some(reason)).await
        }
    }
}

type Refusal = (StatusCode, String);

async fn handle(
    state: &AppState,
    forge: Forge,
    headers: &HeaderMap,
    body: Body,
    delivery: &mut DeliveryRecord,
) -> Result<Response, Refusal> {
    let limit = state.settings.body_limit;
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the limit of {limit} bytes"),
        )
    })?;
    if delivery.event.is_empty() {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("no {} header", hooks::event_header(forge)),
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
    })?;
    let repo_name = hooks::repository(forge, &json).ok_or_else(|| {
        (
            StatusCode::BAD_REQUEST,
            "the payload names no repository".to_owned(),
        )
    })?;
    delivery.repo = Some(repo_name.clone());
    let repo = state.settings.repo(forge, &repo_name).ok_or_else(|| {
        (
            StatusCode::UNAUTHORIZED,
            format!(
                "no secret is configured for {} repository {repo_name}",
                forge.as_str()
            ),
        )
    })?;
    let Some(secret) = &repo.secret else {
        return Err((
            StatusCode::UNAUTHORIZED,
            format!("no secret is configured for repository {repo_name}"),
        ));
    };
    hooks::verify(forge, secret, headers, &body)
        .map_err(|e| (StatusCode::UNAUTHORIZED, e.to_string()))?;
    let event = match hooks::read(forge, headers, &json) {
        Err(e) => return Err((StatusCode::BAD_REQUEST, e.to_string())),
        Ok(Reading::Ping) => {
            delivery.outcome = Outcome::Ignored;
            return Ok(finish(state, delivery.clone(), StatusCode::OK, Some("ping".into())).await);
        }
        Ok(Reading::Ignored { reason, .. }) => {
            delivery.outcome = Outcome::Ignored;
            return Ok(finish(state, delivery.clone(), StatusCode::ACCEPTED, Some(reason)).await);
        }
        Ok(Reading::Run(event)) => event,
    };
    delivery.git_ref = Some(event.git_ref.clone());
    delivery.sha = Some(event.sha.clone());
    if let Some(action) = &event.action {
        delivery.event = format!("{}.{action}", delivery.event);
    }
    delivery.content_key = Some(format!(
        "{}:{}:{}:{}:{}",
        forge.as_str(),
        event.repo,
        delivery.event,
        event.sha,
        event.git_ref
    ));

    // The first trigger that takes the event.
    let mut reasons = Vec::new();
    let mut chosen = None;
    for t in &repo.triggers {
        match t.matches(&event) {
            Ok(Match::Yes) => {
                chosen = Some(t);
                break;
            }
            Ok(Match::No(reason)) => reasons.push(reason),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    let Some(trigger) = chosen else {
        delivery.outcome = Outcome::Ignored;
        let reason = format!("no trigger takes it: {}", reasons.join("; "));
        return Ok(finish(state, delivery.clone(), StatusCode::ACCEPTED, Some(reason)).await);
    };
    let params = triggers::bind_all(&trigger.params, &event, headers, &json)
        .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;

    let pipeline = trigger
        .pipeline
        .clone()
        .unwrap_or_else(|| ".tekton".to_owned());
    let short = event.repo.rsplit('/').next().unwrap_or(&event.repo);
    let sha7: String = event.sha.chars().take(7).collect();
    let mut run = queued_record(
        format!("{short}-{}-{sha7}", event.kind.as_str().replace('_', "-")),
        pipeline.clone(),
        &params,
        &state.runner_name,
    );
    run.source = Source {
        repo: Some(event.repo.clone()),
        branch: event.branch.clone(),
        commit: Some(event.sha.clone()),
    };
    let branch_key = branch_key(&event);
    let request = Request::Repo {
        forge: forge.as_str().to_owned(),
        repo: event.repo.clone(),
        clone_url: repo
            .clone_url
            .clone()
            .unwrap_or_else(|| event.clone_url.clone()),
        sha: event.sha.clone(),
        git_ref: event.git_ref.clone(),
        pipeline,
        params,
    };
    let queued = QueuedRun {
        run: run.clone(),
        repo: Some(event.repo.clone()),
        branch: Some(branch_key.clone()),
        request: serde_json::to_value(&request).map_err(|e| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot save the run's request: {e}"),
            )
        })?,
    };
    delivery.outcome = Outcome::Queued;
    delivery.status_code = StatusCode::ACCEPTED.as_u16();
    delivery.run_id = Some(run.id);
    let item = Enqueue {
        run: run.clone(),
        queued,
        delivery: Some(delivery.clone()),
    };
    match state.ingest.enqueue(item).await {
        Ok(Enqueued::Queued) => {
            state.queue.wake();
            state.queue.report(
                &run,
                &request,
                crate::status::CommitState::Pending,
                format!("{} is queued", run.name),
            );
            if repo.cancel_superseded && event.kind != EventKind::Tag {
                match state
                    .queue
                    .cancel_superseded(run.id, &event.repo, &branch_key)
                    .await
                {
                    Ok(ids) if !ids.is_empty() => {
                        tracing::info!(run = %run.id, "superseded runs {ids:?}");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("cannot cancel superseded runs: {e}"),
                }
            }
            Ok(answer(
                StatusCode::ACCEPTED,
                HookAnswer {
                    delivery: delivery.id,
                    outcome: Outcome::Queued,
                    run: Some(run.id),
                    reason: None,
                },
            ))
        }
        Ok(Enqueued::Duplicate(first)) => Ok(answer(
            StatusCode::OK,
            HookAnswer {
                delivery: delivery.id,
                outcome: Outcome::Duplicate,
                run: first,
                reason: Some("this delivery, or the same change, was received before".into()),
            },
        )),
        Err(e) => {
            tracing::error!("cannot queue a run: {e}");
            Err((
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot record the delivery: {e}"),
            ))
        }
    }
}

/// What runs of the same repository supersede each other by: the branch pushed to, or the
/// pull request.
fn branch_key(event: &HookEvent) -> String {
    match (event.kind, event.pull_request) {
        (EventKind::PullRequest, Some(n)) => format!("pull/{n}"),
        _ => event.git_ref.clone(),
    }
}

/// Records a delivery that queued nothing and answers it.
async fn finish(
    state: &AppState,
    mut delivery: DeliveryRecord,
    status: StatusCode,
    reason: Option<String>,
) -> Response {
    delivery.status_code = status.as_u16();
    delivery.reason = reason.clone();
    if let Err(e) = state.store.save_delivery(&delivery).await {
        tracing::error!("cannot record delivery {}: {e}", delivery.id);
    }
    answer(
        status,
        HookAnswer {
            delivery: delivery.id,
            outcome: delivery.outcome,
            run: None,
            reason,
        },
    )
}

fn answer(status: StatusCode, body: HookAnswer) -> Response {
    (status, Json(body)).into_response()
}
