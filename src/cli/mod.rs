//! Command-line interface: argument parsing and one module per command.

pub mod config;
pub mod init;
pub mod metrics;
pub mod remote;
pub mod run;
pub mod runs;
pub mod serve;
pub mod state;
pub mod token;
pub mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// runnel: run real Tekton pipelines locally or on a server.
#[derive(Debug, Parser)]
#[command(name = "runnel", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check Tekton YAML files and directories; print every problem with file:line:col.
    Validate(validate::Args),
    /// Run a PipelineRun, TaskRun, Pipeline or Task here, with live output and records.
    Run(run::Args),
    /// Write .tekton/pipeline.yaml, the golden-path pipeline over the shared task catalog.
    Init(init::Args),
    /// List recent runs (here, or on the server --server/RUNNEL_SERVER names).
    Runs(runs::RunsArgs),
    /// Show a run with its tasks and steps.
    Describe(runs::DescribeArgs),
    /// Print the logs of a run; with -f, follow it live on a server.
    Logs(runs::LogsArgs),
    /// Start a pipeline on a server (`--server URL` or RUNNEL_SERVER, token in RUNNEL_TOKEN).
    Start(runs::StartArgs),
    /// Cancel a queued or running run on a server.
    Cancel(runs::CancelArgs),
    /// Serve webhooks, the run queue, the API and live logs.
    Serve(serve::Args),
    /// Make, list and revoke the API's tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Delivery metrics from the run records (here, or on a server).
    #[command(subcommand)]
    Metrics(metrics::MetricsCommand),
}

/// Runs the parsed command; the exit code follows the command's contract.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Init(args) => init::run(&args),
        Command::Runs(args) => runs::runs(&args),
        Command::Describe(args) => runs::describe(&args),
        Command::Logs(args) => runs::logs(&args),
        Command::Start(args) => runs::start(&args),
        Command::Cancel(args) => runs::cancel(&args),
        Command::Serve(args) => serve::serve_command(&args),
        Command::Token(cmd) => token::token_command(&cmd),
        Command::Metrics(cmd) => metrics::metrics_command(&cmd),
    }
}

/// The async runtime a command runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Runtime {
    /// One thread: commands that wait on a database or a server.
    OneThread,
    /// A thread per CPU: commands that run pipelines or serve.
    Threads,
}

/// Runs a command's future to its end on a new runtime. An error is printed, and the exit
/// code is `error_code`.
pub(crate) fn block_on<F>(runtime: Runtime, error_code: u8, f: F) -> ExitCode
where
    F: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    let built = match runtime {
        Runtime::OneThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Runtime::Threads => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let rt = match built {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(f) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(error_code)
        }
    }
}
