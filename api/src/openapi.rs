//! The API's OpenAPI document, generated from the handlers' annotations. The router serves
//! exactly the routes documented here: [`api_routes`] and [`public_routes`] give both. The
//! checked-in copy is `schemas/openapi.json` (a test fails when it drifts; regenerate with
//! `RUNNEL_UPDATE_SCHEMAS=1 cargo test --test schemas`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::server::AppState;
use crate::{dora, rest, sse, webhook};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "runnel",
        description = "runnel's server: git webhooks queue Tekton pipeline runs; the API lists, starts and cancels runs and serves their logs, whole, by byte range or live (server-sent events). Every /api/v1 call needs `Authorization: Bearer TOKEN` (`runnel token create`)."
    ),
    modifiers(&Bearer),
    tags(
        (name = "runs", description = "PipelineRuns and TaskRuns: list, inspect, start, cancel"),
        (name = "logs", description = "Step logs"),
        (name = "webhooks", description = "Forge webhooks and their deliveries"),
        (name = "dora", description = "DORA metrics, and the deployments and incidents they come from"),
        (name = "health", description = "Liveness")
    )
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The routes under `/api/v1` (they need a token).
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rest::list_runs, rest::start_run))
        .routes(routes!(rest::get_run))
        .routes(routes!(rest::cancel_run))
        .routes(routes!(rest::step_log))
        .routes(routes!(sse::step_log_stream))
        .routes(routes!(rest::list_deliveries))
        .routes(routes!(dora::metrics))
        .routes(routes!(dora::list_deployments, dora::create_deployment))
        .routes(routes!(dora::list_incidents, dora::create_incident))
        .routes(routes!(dora::resolve_incident))
}

/// The routes that need no token: webhooks (they are signed) and `/healthz`.
pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(webhook::receive))
}

/// Whether the server is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "ok", content_type = "text/plain", body = String)), security(()))]
pub async fn health() -> &'static str {
    "ok\n"
}

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(public_routes())
        .nest("/api/v1", api_routes())
        .split_for_parts();
    doc
}
