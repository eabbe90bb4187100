//! The server: its parts, the router, and serving until shutdown.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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
use crate::{rest, sse, webhook};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub logs: LogStore,
    pub hub: Arc<Hub>,
    pub queue: Arc<Queue>,
    pub settings: Arc<Settings>,
    pub runner_name: String,
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
    let (recorder, recording) = Recorder::start(
        Some(parts.store.clone()),
        parts.logs.clone(),
        RecordContext {
            runner: parts.runner.name().to_owned(),
            source: Default::default(),
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
        },
        settings.clone(),
    );
    let state = AppState {
        store: parts.store.clone(),
        logs: parts.logs,
        hub,
        queue: queue.clone(),
        settings: settings.clone(),
        runner_name: parts.runner.name().to_owned(),
    };
    let dispatcher = tokio::spawn(queue.clone().dispatch());
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    tracing::info!("shutting down: no new runs start; waiting for running ones");
    queue.stop(settings.drain).await;
    dispatcher.abort();
    parts.runner.close().await;
    recorder.close();
    match recording.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!("{e}"),
        Err(e) => tracing::error!("the recorder stopped: {e}"),
    }
    served.map_err(ServerError::Serve)
}

/// Every route.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/runs", get(rest::list_runs).post(rest::start_run))
        .route("/runs/{run}", get(rest::get_run))
        .route("/runs/{run}/cancel", post(rest::cancel_run))
        .route(
            "/runs/{run}/taskruns/{task_run}/steps/{index}/log",
            get(rest::step_log),
        )
        .route(
            "/runs/{run}/taskruns/{task_run}/steps/{index}/log/stream",
            get(sse::step_log_stream),
        )
        .route("/deliveries", get(rest::list_deliveries))
        .fallback(rest::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/hooks/{forge}", post(webhook::receive))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .nest("/api/v1", api)
        .merge(crate::web::routes())
        .with_state(state)
}

/// Lets a request through when it bears a known token (`Authorization: Bearer TOKEN`); a
/// read-only token only for GET and HEAD.
async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
        return rest::error(
            StatusCode::UNAUTHORIZED,
            "this API needs a token: Authorization: Bearer TOKEN (make one with `runnel token create`)",
        );
    };
    match state.store.find_token(&token_hash(token)).await {
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
