//! `runnel serve`: the server (webhooks, run queue, API, live logs), on the same records,
//! logs and runners as `runnel run`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use runnel_api::config::Settings;
use runnel_api::server::{ServerParts, serve};
use runnel_engine::exec::EngineConfig;
use runnel_runner::Runner;
use runnel_runner::local::LocalRunner;

use super::config::{Config, ConfigArg};
use super::run::{RunnerKind, configured_runner, make_runner_of};
use super::state;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on (default: the config file's `server.listen`, else
    /// 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR", env = "RUNNEL_LISTEN")]
    pub listen: Option<String>,
    /// Where steps run (default: the config file's `runner`, else Docker when its socket
    /// answers, else local).
    #[arg(long, value_enum)]
    pub runner: Option<RunnerKind>,
    #[command(flatten)]
    pub state: state::StateDir,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub fn serve_command(args: &Args) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUNNEL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    super::block_on(super::Runtime::Threads, 2, async {
        run(args).await?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn run(args: &Args) -> Result<()> {
    let config = Config::load(&args.config)?;
    let mut settings = Settings::new(&config.server, &config.repos)
        .context("the config file's server settings are not valid")?;
    if let Some(listen) = &args.listen {
        settings.listen = listen.clone();
    }
    let runner: Arc<dyn Runner> = match args
        .runner
        .map_or_else(|| configured_runner(&config), |k| Ok(Some(k)))?
    {
        Some(kind) => make_runner_of(kind, &config).await?,
        None => match make_runner_of(RunnerKind::Docker, &config).await {
            Ok(r) => r,
            Err(e) => {
                tracing::info!("no Docker engine ({e:#}): steps run as local processes");
                Arc::new(LocalRunner::default())
            }
        },
    };
    let store = state::open_store(&args.state.dir).await?;
    let logs = state::open_logs(&args.state.dir)?;
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the address listened on")?;
    tracing::info!(
        "runnel serving on http://{addr} ({} runner, {} database, {} repositories)",
        runner.name(),
        store.backend(),
        settings.repos.len()
    );
    let state_dir = std::path::absolute(&args.state.dir).unwrap_or_else(|_| args.state.dir.clone());
    let parts = ServerParts {
        store: store.clone(),
        logs,
        runner,
        settings,
        engine: EngineConfig::new(&state_dir),
        state_dir,
    };
    serve(parts, listener, shutdown_signal()).await?;
    store.close().await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    match &mut term {
        Some(t) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = t.recv() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
