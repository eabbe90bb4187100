//! Where the CLI keeps its state: the run database (SQLite under the state directory, or
//! PostgreSQL when `RUNNEL_DATABASE_URL` says so) and the step logs (under the state
//! directory, or the object store `RUNNEL_LOG_STORE` names).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use runnel_engine::logs::LogStore;
use runnel_engine::store::Store;

/// `--state-dir`, shared by every command that reads or writes runs.
#[derive(Debug, clap::Args)]
pub struct StateDir {
    /// Where runnel keeps its database, logs and run directories.
    #[arg(
        long = "state-dir",
        value_name = "DIR",
        env = "RUNNEL_STATE_DIR",
        default_value = ".runnel"
    )]
    pub dir: PathBuf,
}

/// Opens the run database, and marks the runs that a stopped runnel left Running as
/// Failed (`EngineRestarted`), so that no run stays Running for ever.
pub async fn open_store(state_dir: &Path) -> Result<Store> {
    let store = connect(state_dir).await?;
    let orphans = store
        .mark_orphans(runnel_engine::store::owner_is_alive)
        .await
        .context("cannot check for runs left by a stopped runnel")?;
    if !orphans.is_empty() {
        eprintln!(
            "note: {} run(s) left running by a runnel that stopped were marked Failed (EngineRestarted)",
            orphans.len()
        );
    }
    Ok(store)
}

async fn connect(state_dir: &Path) -> Result<Store> {
    match std::env::var("RUNNEL_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Store::open(&url)
            .await
            .context("cannot open the database RUNNEL_DATABASE_URL names"),
        _ => Store::open_sqlite(&state_dir.join("runnel.db"))
            .await
            .with_context(|| format!("cannot open the run database in {}", state_dir.display())),
    }
}

/// Opens the log store.
pub fn open_logs(state_dir: &Path) -> Result<LogStore> {
    match std::env::var("RUNNEL_LOG_STORE") {
        Ok(url) if !url.is_empty() => {
            LogStore::from_url(&url).context("cannot open the log store RUNNEL_LOG_STORE names")
        }
        _ => LogStore::local(&state_dir.join("logs"))
            .with_context(|| format!("cannot open the log directory in {}", state_dir.display())),
    }
}
