//! runnel's server: webhooks from git forges become queued runs; the queue runs them on the
//! engine; the REST API lists and controls them and streams their logs live (SSE).
//!
//! - `hooks` — reading GitHub, GitLab and Gitea webhooks, and their signatures.
//! - `triggers` — which webhooks start which pipeline, with params bound from the payload.
//! - `git` — the mirror cache pipelines-as-code reads `.tekton/` from.
//! - `webhook` — `POST /hooks/{forge}`: verify, record, queue, answer at once; `ingest`
//!   saves the queued runs of concurrent webhooks in one transaction.
//! - `queue` — queued runs started under limits; pipelines-as-code checkouts.
//! - `live` — the hub that hands running steps' lines to live clients.
//! - `rest`, `sse` — the API under `/api/v1`; `auth` — its tokens; `openapi` — its
//!   document, and the routes it documents.
//! - `server` — the router and serving with a graceful shutdown.
//! - `status` — runs' states reported to the forge as commit statuses.
//! - `web` — the web pages.

pub mod auth;
pub mod config;
pub mod deployments;
pub mod dora;
pub mod git;
pub mod hooks;
pub mod ingest;
pub mod live;
pub mod openapi;
pub mod queue;
pub mod rest;
pub mod server;
pub mod sse;
pub mod status;
pub mod triggers;
pub mod web;
pub mod webhook;
