//! The web pages, rendered on the server (no build step: the stylesheet and one small
//! script are built into the binary). A browser signs in with an API token, kept in a
//! cookie; pages follow runs live over server-sent events.
//!
//! - `session` — `/login`, `/logout`, and [`session::Viewer`], which every page requires.
//! - `runs` — `/runs`, the list; `run` — `/runs/{run}`, one run with its DAG (`dag`) and
//!   its steps' logs (`log`: windows of a log, its live tail, its download).
//! - `dora` — `/dora`, the DORA metrics of a service and environment, with trend charts.
//! - `events` — `/events`, run events as SSE; `ansi` — colours in logs; `html` — escaping
//!   and the page shell; `assets` — `/assets/style.css`, `/assets/app.js`.

mod ansi;
mod assets;
mod dag;
mod dora;
mod events;
mod html;
mod log;
mod run;
mod runs;
mod session;

use axum::Router;
use axum::routing::get;

use crate::server::AppState;

pub use session::session_token;

/// The pages' routes.
pub fn routes() -> Router<AppState> {
    let step = "/runs/{run}/taskruns/{task_run}/steps/{index}/log";
    Router::new()
        .route("/", get(runs::home))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", get(session::logout).post(session::logout))
        .route("/assets/{name}", get(assets::asset))
        .route("/events", get(events::events))
        .route("/runs", get(runs::list))
        .route("/dora", get(dora::page))
        .route("/runs/{run}", get(run::page))
        .route("/runs/{run}/state", get(run::run_state))
        .route("/runs/{run}/dag", get(run::dag))
        .route("/runs/{run}/taskruns/{task_run}", get(run::task_run))
        .route(&format!("{step}/window"), get(log::window))
        .route(&format!("{step}/live"), get(log::live))
        .route(&format!("{step}/download"), get(log::download))
}
