//! The `runnel` command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    runnel::cli::run(runnel::cli::Cli::parse())
}
