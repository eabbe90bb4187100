//! Command-line interface: argument parsing and one module per command.

pub mod config;
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
    /// List recent runs.
    Runs(runs::RunsArgs),
    /// Show a run with its tasks and steps.
    Describe(runs::DescribeArgs),
    /// Print the stored logs of a run.
    Logs(runs::LogsArgs),
    /// Serve webhooks, the run queue, the API and live logs.
    Serve(serve::Args),
    /// Make, list and revoke the API's tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

/// Runs the parsed command; the exit code follows the command's contract.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Runs(args) => runs::runs(&args),
        Command::Describe(args) => runs::describe(&args),
        Command::Logs(args) => runs::logs(&args),
        Command::Serve(args) => serve::serve_command(&args),
        Command::Token(cmd) => token::token_command(&cmd),
    }
}
