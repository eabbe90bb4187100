//! runnel's server: webhooks, the run queue, the REST API with live logs, and web pages.

pub mod git;
pub mod hooks;
pub mod triggers;
