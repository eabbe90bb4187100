//! `runnel validate PATH...`: load files and directories, run every validation pass, print the
//! diagnostics (human or JSON) and a summary. Exit 0 without errors, 1 with errors, 2 when the
//! paths themselves are wrong.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use runnel_engine::load::Loaded;

use crate::report::{self, Style};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories (searched recursively for *.yaml and *.yml).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// When to use colors in human output.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Print only errors, not warnings.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// rustc-style diagnostics with the source line underlined, and a summary line.
    Human,
    /// A JSON array with one object per diagnostic (file, line, column, severity, code,
    /// message, hint), for editors and CI.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether to color output going to a terminal (`tty`) or not; `NO_COLOR` turns `auto`
    /// off.
    pub fn enabled(self, tty: bool) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => tty && std::env::var_os("NO_COLOR").is_none(),
        }
    }
}

pub fn run(args: &Args) -> ExitCode {
    let loaded = match Loaded::from_paths(&args.paths) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let diags = runnel_engine::validate::validate(&loaded);
    let mut shown = diags.iter().filter(|d| !args.quiet || d.is_error());
    let mut out = std::io::stdout().lock();
    let written = match args.format {
        Format::Json => {
            let items: Vec<_> = shown.map(|d| report::to_json(d, &loaded.sources)).collect();
            serde_json::to_writer_pretty(&mut out, &items)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        }
        Format::Human => {
            let color = args.color.enabled(std::io::stdout().is_terminal());
            let style = if color { Style::Color } else { Style::Plain };
            shown
                .try_for_each(|d| write!(out, "{}", report::render(d, &loaded.sources, style)))
                .and_then(|()| writeln!(out, "{}", report::summary(loaded.sources.len(), &diags)))
        }
    };
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write the report: {e}");
        return ExitCode::from(2);
    }
    if diags.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
