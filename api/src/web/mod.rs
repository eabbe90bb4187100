//! Web pages, rendered on the server (being written).

use axum::Router;

use crate::server::AppState;

/// The pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
