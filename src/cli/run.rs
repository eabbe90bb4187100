//! `runnel run FILE...`: load the files, resolve every `taskRef`, run each PipelineRun and
//! TaskRun they hold (or their one Pipeline, or Task) on the chosen runner, print the output
//! live as `[task/step] line`, record everything, and end with a summary table. Exit 0 only
//! when every run Succeeded (or Completed), 1 when one did not, 2 when nothing could run.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use runnel_engine::exec::events::{ExecEvent, Observer, Observers};
use runnel_engine::exec::record::{RecordContext, Recorder};
use runnel_engine::exec::{Engine, EngineConfig, RunControl, RunEnd, RunOptions, prepare};
use runnel_engine::load::Loaded;
use runnel_engine::resolve::Catalog;
use runnel_engine::store;
use runnel_engine::store::Status;
use runnel_runner::Runner;
use runnel_runner::docker::{DockerRunner, Reaped};
use runnel_runner::local::LocalRunner;

use super::config::{Config, ConfigArg};
use super::state;
use super::validate::Color;
use crate::report::{self, Style};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tekton YAML files or directories: PipelineRuns and TaskRuns run; otherwise the one
    /// Pipeline (or Task) in them runs.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// A param value, NAME=VALUE (arrays: a,b,c; objects: key:value,key:value).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE", value_parser = parse_pair)]
    pub params: Vec<(String, String)>,
    /// A host directory for a workspace, NAME=PATH (created if missing).
    #[arg(short = 'w', long = "workspace", value_name = "NAME=PATH", value_parser = parse_pair)]
    pub workspaces: Vec<(String, String)>,
    /// A catalog directory to resolve taskRefs from (repeatable). Default: ./tasks and the
    /// git repository's .tekton/.
    #[arg(long = "tasks", value_name = "DIR")]
    pub tasks: Vec<PathBuf>,
    /// How many TaskRuns may run at once (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    pub max_parallel: Option<usize>,
    /// Where steps run (default: the config file's `runner`, else local).
    #[arg(long, value_enum)]
    pub runner: Option<RunnerKind>,
    /// Which Pipeline or Task to run when the files hold several.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// The largest result a step may write, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub result_limit: usize,
    /// Seconds a step gets to stop after SIGTERM before it is killed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub grace: u64,
    /// When to use colors.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    #[command(flatten)]
    pub state: state::StateDir,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunnerKind {
    /// Each step is a process on this host; images are ignored.
    Local,
    /// Each step is a container of its image, through the Docker engine.
    Docker,
}

/// The runner the config file names, if any.
pub fn configured_runner(config: &Config) -> Result<Option<RunnerKind>> {
    match config.runner.as_deref() {
        None => Ok(None),
        Some("local") => Ok(Some(RunnerKind::Local)),
        Some("docker") => Ok(Some(RunnerKind::Docker)),
        Some(other) => bail!("the config file's runner must be local or docker, not `{other}`"),
    }
}

/// The runner `--runner` (or else the config file) chooses. The Docker runner first
/// removes what a killed runnel left behind.
async fn make_runner(args: &Args, config: &Config) -> Result<Arc<dyn Runner>> {
    let kind = match args.runner {
        Some(kind) => kind,
        None => configured_runner(config)?.unwrap_or(RunnerKind::Local),
    };
    make_runner_of(kind, config).await
}

/// A runner of this kind. The Docker runner first removes what a killed runnel left
/// behind, and goes on doing so every five minutes.
pub async fn make_runner_of(kind: RunnerKind, config: &Config) -> Result<Arc<dyn Runner>> {
    Ok(match kind {
        RunnerKind::Local => Arc::new(LocalRunner::default()),
        RunnerKind::Docker => {
            let runner =
                DockerRunner::connect(config.docker(store::owner_of_this_process())).await?;
            match runner.reap(&store::owner_is_alive).await {
                Ok(r) if r == Reaped::default() => {}
                Ok(r) => eprintln!(
                    "note: removed {} container(s), {} network(s) and {} volume(s) left by a runnel that stopped",
                    r.containers, r.networks, r.volumes
                ),
                Err(e) => eprintln!("warning: cannot clean up after a stopped runnel: {e}"),
            }
            let runner = Arc::new(runner);
            // A long run also cleans up after runnels killed meanwhile.
            runner.reap_periodically(Duration::from_secs(300), store::owner_is_alive);
            runner
        }
    })
}

pub(crate) fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}

pub fn run(args: &Args) -> ExitCode {
    super::block_on(super::Runtime::Threads, 2, run_async(args))
}

/// The project's `tasks/` and the enclosing git repository's `.tekton/`.
fn default_catalog_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("tasks")];
    if let Ok(cwd) = std::env::current_dir() {
        let mut dir: Option<&Path> = Some(&cwd);
        while let Some(d) = dir {
            if d.join(".git").exists() {
                dirs.push(d.join(".tekton"));
                break;
            }
            dir = d.parent();
        }
    }
    dirs
}

async fn run_async(args: &Args) -> Result<ExitCode> {
    let color = args.color.enabled(std::io::stdout().is_terminal());
    let file_config = Config::load(&args.config)?;
    let loaded = Loaded::from_paths(&args.files).context("cannot read the files")?;
    let diags = runnel_engine::validate::validate(&loaded);
    let style = if color { Style::Color } else { Style::Plain };
    if diags.has_errors() {
        let mut err = std::io::stderr().lock();
        for d in diags.iter().filter(|d| d.is_error()) {
            let _ = write!(err, "{}", report::render(d, &loaded.sources, style));
        }
        let _ = writeln!(err, "{}", report::summary(loaded.sources.len(), &diags));
        return Ok(ExitCode::from(1));
    }

    let mut catalog = Catalog::new();
    let given: Vec<String> = args.files.iter().map(|f| f.display().to_string()).collect();
    catalog.add_loaded(&loaded, format!("the given files ({})", given.join(", ")));
    let dirs = if args.tasks.is_empty() {
        default_catalog_dirs()
    } else {
        args.tasks.clone()
    };
    for dir in &dirs {
        match catalog.add_dir(dir) {
            Ok(d) if d.has_errors() => eprintln!(
                "warning: some files in the catalog {} could not be read ({} errors); run `runnel validate {}`",
                dir.display(),
                d.iter().filter(|d| d.is_error()).count(),
                dir.display()
            ),
            Ok(_) => {}
            Err(e) => eprintln!("warning: {e}"),
        }
    }

    let mut config = EngineConfig::new(&args.state.dir);
    if let Some(n) = args.max_parallel {
        config.max_parallel = n.max(1);
    }
    config.grace = Duration::from_secs(args.grace);
    config.result_limit = args.result_limit;
    config.objects = Arc::new(runnel_engine::exec::volumes::Objects::from_loaded(&loaded));
    let opts = RunOptions {
        params: args.params.clone(),
        workspaces: args
            .workspaces
            .iter()
            .map(|(k, v)| (k.clone(), PathBuf::from(v)))
            .collect(),
        target: args.target.clone(),
        run_id: None,
        run_name: None,
    };
    let prepared = prepare(&loaded, &catalog, &opts, &config)?;

    let runner = make_runner(args, &file_config).await?;
    let store = state::open_store(&args.state.dir).await?;
    let logs = state::open_logs(&args.state.dir)?;
    let (recorder, recording) = Recorder::start(
        Some(store),
        logs,
        RecordContext {
            runner: runner.name().to_owned(),
            source: git_source(args.files.first().map(PathBuf::as_path)),
            finished_deployments: None,
        },
    );
    let recorder = Arc::new(recorder);
    let printer = Arc::new(Printer::new(color));
    let engine = Engine::new(
        runner.clone(),
        Observers(vec![recorder.clone(), printer.clone()]),
        config,
    );

    let control = RunControl::default();
    let signals = tokio::spawn(watch_signals(control.clone()));
    let mut ends: Vec<RunEnd> = Vec::new();
    for p in prepared {
        if control.hard.is_cancelled() {
            break;
        }
        ends.push(engine.execute(p, control.clone()).await);
    }
    signals.abort();
    runner.close().await;
    recorder.close();
    match recording.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("warning: {e}"),
        Err(e) => eprintln!("warning: the recorder stopped: {e}"),
    }
    for n in runner.notices() {
        eprintln!("note: {n}");
    }
    let mut out = std::io::stdout().lock();
    for end in &ends {
        let _ = write!(out, "{}", summary(end, color));
    }
    if ends.is_empty() {
        bail!("nothing ran");
    }
    Ok(if ends.iter().all(RunEnd::succeeded) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The git repository, branch and commit the first file lives in, when it is in one (the
/// records keep them so that runs can be traced to changes).
fn git_source(file: Option<&Path>) -> runnel_engine::store::Source {
    let dir = match file {
        Some(f) if f.is_dir() => f.to_path_buf(),
        Some(f) => f
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        None => PathBuf::from("."),
    };
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    let commit = git(&["rev-parse", "HEAD"]);
    runnel_engine::store::Source {
        repo: commit.as_ref().and_then(|_| {
            git(&["config", "--get", "remote.origin.url"])
                .or_else(|| git(&["rev-parse", "--show-toplevel"]))
        }),
        branch: commit
            .as_ref()
            .and_then(|_| git(&["symbolic-ref", "--short", "-q", "HEAD"])),
        commit,
    }
}

/// Ctrl-C (or SIGTERM) once: cancel gracefully, `finally` still runs. Twice: cancel
/// everything.
async fn watch_signals(control: RunControl) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let next = async |term: &mut Option<tokio::signal::unix::Signal>| match term {
        Some(t) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = t.recv() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    next(&mut term).await;
    eprintln!(
        "\nrunnel: cancelling (running steps get SIGTERM; finally tasks still run); interrupt again to stop everything"
    );
    control.graceful.cancel();
    next(&mut term).await;
    eprintln!("\nrunnel: stopping everything");
    control.hard.cancel();
}

const PALETTE: [&str; 6] = ["36", "33", "35", "32", "34", "31"];

struct TaskLabel {
    label: String,
    /// The pipeline task (or TaskRun) it belongs to, for progress counting.
    task: String,
    steps: Vec<String>,
    color: &'static str,
}

struct PrinterState {
    labels: HashMap<uuid::Uuid, TaskLabel>,
    next_color: usize,
    total: usize,
    /// Pipeline tasks that ended (a TaskRun of theirs finished, or they were skipped).
    finished: std::collections::HashSet<String>,
    running: usize,
}

/// Prints a run's events as they happen: `[task/step] line`, colored per task, and a line
/// when a task starts or ends with the run's progress.
pub struct Printer {
    color: bool,
    state: Mutex<PrinterState>,
}

impl Printer {
    pub fn new(color: bool) -> Self {
        Printer {
            color,
            state: Mutex::new(PrinterState {
                labels: HashMap::new(),
                next_color: 0,
                total: 0,
                finished: std::collections::HashSet::new(),
                running: 0,
            }),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

impl Observer for Printer {
    fn on_event(&self, event: &ExecEvent) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let mut out = std::io::stdout().lock();
        match event {
            ExecEvent::RunStarted {
                name, kind, tasks, ..
            } => {
                st.total = *tasks;
                st.finished.clear();
                st.running = 0;
                let _ = writeln!(out, "{} {} {name}", self.paint("1", "▶"), kind.as_str());
            }
            ExecEvent::TaskRunStarted {
                id,
                name,
                pipeline_task,
                matrix_index,
                attempt,
                steps,
                ..
            } => {
                let mut label = pipeline_task.clone().unwrap_or_else(|| name.clone());
                if let Some(i) = matrix_index {
                    label = format!("{label}-{i}");
                }
                let color = PALETTE[st.next_color % PALETTE.len()];
                st.next_color += 1;
                st.running += 1;
                let retry = if *attempt > 0 {
                    format!(" (retry {attempt})")
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "{} {label} started{retry}   [{}/{} done, {} running]",
                    self.paint(color, "┌"),
                    st.finished.len(),
                    st.total,
                    st.running
                );
                st.labels.insert(
                    *id,
                    TaskLabel {
                        label,
                        task: pipeline_task.clone().unwrap_or_else(|| name.clone()),
                        steps: steps.iter().map(|s| s.name.clone()).collect(),
                        color,
                    },
                );
            }
            ExecEvent::Output {
                task_run,
                index,
                line,
                ..
            } => {
                if let Some(l) = st.labels.get(task_run) {
                    let step = l.steps.get(*index).map_or("?", String::as_str);
                    let prefix = self.paint(l.color, &format!("[{}/{step}]", l.label));
                    let _ = writeln!(out, "{prefix} {}", String::from_utf8_lossy(line));
                }
            }
            ExecEvent::StepFinished {
                task_run,
                index,
                outcome,
            } => {
                if let (Some(l), Some(msg)) = (st.labels.get(task_run), &outcome.message)
                    && !outcome.status.succeeded()
                    && outcome.status != runnel_runner::StepStatus::Skipped
                {
                    let step = l.steps.get(*index).map_or("?", String::as_str);
                    let prefix = self.paint(l.color, &format!("[{}/{step}]", l.label));
                    let _ = writeln!(out, "{prefix} {}", self.paint("31", msg));
                }
            }
            ExecEvent::TaskRunFinished {
                id,
                status,
                reason,
                message,
                ..
            } => {
                let Some(l) = st.labels.get(id) else { return };
                let (label, color, task) = (l.label.clone(), l.color, l.task.clone());
                st.running = st.running.saturating_sub(1);
                st.finished.insert(task);
                let text = match message {
                    Some(m) => format!("{} {reason}: {m}", status.as_str()),
                    None => status.as_str().to_owned(),
                };
                let _ = writeln!(
                    out,
                    "{} {label} {}",
                    self.paint(color, "└"),
                    self.paint(status_color(*status), &text)
                );
            }
            ExecEvent::TaskSkipped {
                pipeline_task,
                reason,
                ..
            } => {
                st.finished.insert(pipeline_task.clone());
                let _ = writeln!(
                    out,
                    "{} {pipeline_task} skipped: {reason}   [{}/{} done, {} running]",
                    self.paint("2", "·"),
                    st.finished.len(),
                    st.total,
                    st.running
                );
            }
            ExecEvent::RunFinished { .. } => {}
            _ => {}
        }
    }
}

fn status_color(s: Status) -> &'static str {
    match s {
        Status::Succeeded => "32",
        Status::Failed => "31",
        Status::Cancelled => "33",
        _ => "2",
    }
}

fn human_duration(d: Option<Duration>) -> String {
    match d {
        None => "-".to_owned(),
        Some(d) if d.as_secs() >= 60 => format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60),
        Some(d) if d.as_millis() < 1000 => format!("{}ms", d.as_millis()),
        Some(d) => format!("{:.1}s", d.as_secs_f64()),
    }
}

/// The table printed at the end of a run.
pub fn summary(end: &RunEnd, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let mut rows = vec![[
        "TASK".to_owned(),
        "STATUS".to_owned(),
        "REASON".to_owned(),
        "DURATION".to_owned(),
        "RETRIES".to_owned(),
    ]];
    for t in &end.tasks {
        let name = if t.finally {
            format!("{} (finally)", t.name)
        } else {
            t.name.clone()
        };
        rows.push([
            name,
            t.status.as_str().to_owned(),
            t.reason.clone(),
            human_duration(t.duration),
            t.retries.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = String::from("\n");
    for (i, r) in rows.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, cell)| format!("{cell:<w$}", w = widths[c]))
            .collect();
        let line = line.join("  ").trim_end().to_owned();
        if i == 0 {
            s.push_str(&paint("1", &line));
        } else {
            s.push_str(&line);
        }
        s.push('\n');
    }
    for (k, v) in &end.results {
        let v = runnel_engine::exec::scope::to_json(v);
        let v = match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        s.push_str(&format!("result {k}: {v}\n"));
    }
    let verdict = format!(
        "{} {}: {} ({})",
        if end.succeeded() { "✔" } else { "✘" },
        end.name,
        end.status.as_str(),
        end.reason
    );
    s.push_str(&paint(status_color(end.status), &verdict));
    if let Some(m) = &end.message {
        s.push_str(&format!(" — {m}"));
    }
    s.push('\n');
    s
}
