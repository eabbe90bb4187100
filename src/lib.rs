//! The `runnel` binary's library half: command-line commands and how they print. Kept as a
//! library so integration tests can render diagnostics exactly as the CLI does.

pub mod catalog_docs;
pub mod cli;
pub mod report;
