//! The server: its parts, the router, and serving until shutdown.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use runnel_engine::exec::EngineConfig;
use runnel_engine::exec::record::{RecordContext, Recorder};
use runnel_engine::logs::LogStore;
use runnel_engine::store::Store;
use runnel_runner::Runner;
use tokio::net::TcpListener;

use crate::auth::token_hash;
use crate::config::Settings;
use crate::git::Mirrors;
use crate::live::Hub;
use crate::queue::{Parts, Queue};
use crate::rest;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub logs: LogStore,
    pub hub: Arc<Hub>,
    pub queue: Arc<Queue>,
    pub settings: Arc<Settings>,
    pub runner_name: String,
    /// Saves webhooks' runs, many per transaction.
    pub ingest: crate::ingest::Ingest,
    /// Cancelled when the server begins to shut down: open event streams end, so that
    /// the graceful shutdown does not wait for clients that never leave.
    pub closing: tokio_util::sync::CancellationToken,
    /// Deployments whose shipped commits are to be found (`crate::deployments`).
    pub deployments: tokio::sync::mpsc::UnboundedSender<runnel_engine::store::DeploymentRecord>,
}

/// Everything the server is made of.
pub struct ServerParts {
    pub store: Store,
    pub logs: LogStore,
    pub runner: Arc<dyn Runner>,
    pub settings: Settings,
    pub engine: EngineConfig,
    /// Where the server keeps repository mirrors and checkouts.
    pub state_dir: PathBuf,
}

/// What can stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot serve: {0}")]
    Serve(#[source] std::io::Error),
}

/// Serves on `listener` until `shutdown` resolves; then stops taking requests and work,
/// lets running runs finish (for up to the drain time, then cancels them), and saves
/// everything. Queued runs stay queued for the next start.
pub async fn serve(
    parts: ServerParts,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let hub = Arc::new(Hub::new());
    let (deployments, finished_deployments) = tokio::sync::mpsc::unbounded_channel();
    let (recorder, recording) = Recorder::start(
        Some(parts.store.clone()),
        parts.logs.clone(),
        RecordContext {
            runner: parts.runner.name().to_owned(),
            source: Default::default(),
            finished_deployments: Some(deployments.clone()),
        },
    );
    let recorder = Arc::new(recorder);
    let settings = Arc::new(parts.settings);
    let queue = Queue::new(
        Parts {
            store: parts.store.clone(),
            runner: parts.runner.clone(),
            recorder: recorder.clone(),
            live: hub.clone(),
            engine: parts.engine,
            mirrors: Mirrors::new(parts.state_dir.join("mirrors")),
            checkouts: parts.state_dir.join("checkouts"),
            reporter: if settings.repos.iter().any(|r| r.status.is_some()) {
                match crate::status::StatusReporter::new() {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::warn!("commit statuses will not be reported: {e}");
                        None
                    }
                }
            } else {
                None
            },
        },
        settings.clone(),
    );
    let shipping = crate::deployments::spawn(
        finished_deployments,
        parts.store.clone(),
        queue.clone(),
        settings.clone(),
    );
    let state = AppState {
        store: parts.store.clone(),
        logs: parts.logs,
        hub,
        queue: queue.clone(),
        settings: settings.clone(),
        runner_name: parts.runner.name().to_owned(),
        ingest: crate::ingest::Ingest::start(parts.store.clone()),
        closing: tokio_util::sync::CancellationToken::new(),
        deployments,
    };
    let closing = state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.cancel();
    };
    let dispatcher = settings
        .run_queue
        .then(|| tokio::spawn(queue.clone().dispatch()));
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    tracing::info!("shutting down: no new runs start; waiting for running ones");
    queue.stop(settings.drain).await;
    if let Some(d) = dispatcher {
        d.abort();
    }
    parts.runner.close().await;
    recorder.close();
    match recording.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!("{e}"),
        Err(e) => tracing::error!("the recorder stopped: {e}"),
    }
    // The recorder and the API were its last senders: it finishes what it has.
    if let Err(e) = shipping.await {
        tracing::error!("finding deployments' commits stopped: {e}");
    }
    served.map_err(ServerError::Serve)
}

/// Every route.
pub fn router(state: AppState) -> Router {
    let (api, _) = crate::openapi::api_routes().split_for_parts();
    let api = api
        .fallback(rest::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authorize));
    let (hooks, _) = crate::openapi::public_routes().split_for_parts();
    hooks
        .layer(axum::extract::DefaultBodyLimit::disable())
        .nest("/api/v1", api)
        .merge(crate::web::routes())
        .with_state(state)
}

/// Lets a request through when it bears a known token (`Authorization: Bearer TOKEN`); a
/// read-only token only for GET and HEAD. A GET or HEAD may instead bear the web pages'
/// cookie (`runnel_token`): never a write, so that another site cannot make a browser
/// change anything.
async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_owned());
    let token = match bearer {
        Some(t) => Some(t),
        None if matches!(*request.method(), Method::GET | Method::HEAD) => {
            crate::web::session_token(request.headers())
        }
        None => None,
    };
    let Some(token) = token else {
        return rest::error(
            StatusCode::UNAUTHORIZED,
            "this API needs a token: Authorization: Bearer TOKEN (make one with `runnel token create`)",
        );
    };
    match state.store.find_token(&token_hash(&token)).await {
        Ok(Some(t)) => {
            if t.read_only && !matches!(*request.method(), Method::GET | Method::HEAD) {
                return rest::error(
                    StatusCode::FORBIDDEN,
                    &format!("the token `{}` is read-only", t.name),
                );
            }
            next.run(request).await
        }
        Ok(None) => rest::error(StatusCode::UNAUTHORIZED, "unknown token"),
        Err(e) => {
            tracing::error!("{e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable",
            )
                .into_response()
        }
    }
}
