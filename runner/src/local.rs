//! The local backend: each step is a host process.

/// Runs steps as host processes.
#[derive(Debug, Default)]
pub struct LocalRunner;
