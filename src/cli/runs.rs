//! The runs' records, here or on a server: `runnel runs` (recent runs), `runnel describe RUN`
//! (a run with its tasks and steps) and `runnel logs RUN` (its steps' output; `-f` follows a
//! run live on a server) read the local run database, or a server's API when `--server`
//! (`RUNNEL_SERVER`) names one, and print the same either way. `runnel start` and
//! `runnel cancel` start and cancel runs on a server. RUN is a run's id, a unique prefix of
//! it, or its name.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Local, Utc};
use futures::StreamExt;
use runnel_api::rest::TaskRunDetail;
use runnel_engine::logs::parse_line;
use runnel_engine::store::{RunFilter, RunRecord, Status, Store, TaskRunRecord};
use uuid::Uuid;

use super::remote::{
    self, Cancel, Client, LiveLine, RemoteError, ServerArgs, StartRequest, StepEnd,
};
use super::state;

/// How often `logs -f` asks a server how a run is doing.
const POLL: Duration = Duration::from_millis(500);
/// How long `logs -f` waits, once the run is final, for the stream of a step whose record
/// never became final (its stream would not end).
const FINAL_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// How many runs to list, newest first.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: u32,
    /// Only runs with this status (Running, Succeeded, Failed, Cancelled, ...).
    #[arg(long)]
    pub status: Option<String>,
    /// Only runs of this repository (as the records name it, e.g. `acme/shop`).
    #[arg(long, value_name = "REPO")]
    pub repo: Option<String>,
    /// Only runs of this branch.
    #[arg(long)]
    pub branch: Option<String>,
    #[command(flatten)]
    pub state: state::StateDir,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The run: its id, a unique prefix of the id, or its name.
    pub run: String,
    #[command(flatten)]
    pub state: state::StateDir,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The run: its id, a unique prefix of the id, or its name.
    pub run: String,
    /// Only this pipeline task (or TaskRun name).
    #[arg(long)]
    pub task: Option<String>,
    /// Only this step.
    #[arg(long)]
    pub step: Option<String>,
    /// Print each line's timestamp.
    #[arg(long, short = 't')]
    pub timestamps: bool,
    /// Follow the run live until it ends (needs a server).
    #[arg(long, short = 'f')]
    pub follow: bool,
    #[command(flatten)]
    pub state: state::StateDir,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// The pipeline: a file's name in the server's pipeline directories (`hello` for
    /// pipelines/hello.yaml); with --repo, its path in the repository (default .tekton).
    #[arg(required_unless_present = "repo")]
    pub pipeline: Option<String>,
    /// A param value, NAME=VALUE (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE", value_parser = super::run::parse_pair)]
    pub params: Vec<(String, String)>,
    /// Run a repository the server is configured for (`[[repos]]`), at --sha.
    #[arg(long, value_name = "OWNER/NAME", requires = "sha")]
    pub repo: Option<String>,
    /// The commit to run (with --repo).
    #[arg(long, requires = "repo")]
    pub sha: Option<String>,
    /// The ref the commit is on (with --repo; default refs/heads/main; a bare name is a
    /// branch).
    #[arg(long = "ref", value_name = "REF", requires = "repo")]
    pub git_ref: Option<String>,
    /// The repository's forge, when the server has the name for several (github, gitlab,
    /// gitea).
    #[arg(long, requires = "repo")]
    pub forge: Option<String>,
    /// Follow the run's logs until it ends; exit 0 only if it Succeeded.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Print each line's timestamp (with --follow).
    #[arg(long, short = 't')]
    pub timestamps: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// The run: its id, a unique prefix of the id, or its name.
    pub run: String,
    /// Stop the running tasks but still run the pipeline's `finally` tasks (Tekton's
    /// CancelledRunFinally).
    #[arg(long)]
    pub finally: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

fn block_on<F: std::future::Future<Output = Result<ExitCode>>>(f: F) -> ExitCode {
    super::block_on(super::Runtime::OneThread, 2, f)
}

fn local(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| {
            t.with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

fn took(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> String {
    match (start, end) {
        (Some(s), Some(e)) => {
            let ms = (e - s).num_milliseconds().max(0);
            if ms >= 60_000 {
                format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
            } else {
                format!("{:.1}s", ms as f64 / 1000.0)
            }
        }
        (Some(_), None) => "running".to_owned(),
        _ => "-".to_owned(),
    }
}

fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, cell)| format!("{cell:<w$}", w = widths[c]))
            .collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    }
    s
}

/// `runnel runs`' table.
fn runs_table(runs: &[RunRecord]) -> String {
    let mut rows = vec![
        [
            "ID", "NAME", "KIND", "STATUS", "REASON", "STARTED", "DURATION",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in runs {
        rows.push(vec![
            r.id.to_string()[..13].to_owned(),
            r.name.clone(),
            r.kind.as_str().to_owned(),
            r.status.as_str().to_owned(),
            r.reason.clone(),
            local(r.started_at),
            took(r.started_at, r.finished_at),
        ]);
    }
    table(&rows)
}

/// `runnel describe`'s text: the run, then each TaskRun attempt with its steps.
fn describe_text(run: &RunRecord, task_runs: &[TaskRunDetail]) -> String {
    let mut out = String::new();
    out.push_str(&format!("Name:      {}\n", run.name));
    out.push_str(&format!("Id:        {}\n", run.id));
    out.push_str(&format!(
        "Kind:      {} of {}\n",
        run.kind.as_str(),
        run.target
    ));
    out.push_str(&format!(
        "Status:    {} ({})\n",
        run.status.as_str(),
        run.reason
    ));
    if let Some(m) = &run.message {
        out.push_str(&format!("Message:   {m}\n"));
    }
    out.push_str(&format!("Runner:    {}\n", run.runner));
    if let Some(commit) = &run.source.commit {
        out.push_str(&format!(
            "Source:    {} {} {commit}\n",
            run.source.repo.as_deref().unwrap_or("-"),
            run.source.branch.as_deref().unwrap_or("-"),
        ));
    }
    out.push_str(&format!(
        "Started:   {}   Duration: {}\n",
        local(run.started_at),
        took(run.started_at, run.finished_at)
    ));
    if let Some(o) = run.params.as_object().filter(|o| !o.is_empty()) {
        out.push_str("Params:\n");
        for (k, v) in o {
            out.push_str(&format!("  {k} = {v}\n"));
        }
    }
    if let Some(o) = run.results.as_object().filter(|o| !o.is_empty()) {
        out.push_str("Results:\n");
        for (k, v) in o {
            out.push_str(&format!("  {k} = {v}\n"));
        }
    }
    out.push_str("\nTaskRuns:\n");
    for TaskRunDetail { task_run: t, steps } in task_runs {
        let label = t.pipeline_task.clone().unwrap_or_else(|| t.name.clone());
        let matrix = t.matrix_index.map(|i| format!("[{i}]")).unwrap_or_default();
        let attempt = if t.attempt > 0 {
            format!(" (retry {})", t.attempt)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {label}{matrix}{attempt}{}  {} ({})  {}\n",
            if t.finally { " (finally)" } else { "" },
            t.status.as_str(),
            t.reason,
            took(t.started_at, t.finished_at)
        ));
        if let Some(m) = &t.message {
            out.push_str(&format!("    {m}\n"));
        }
        for s in steps {
            let code = s
                .exit_code
                .map(|c| format!(" exit {c}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "    step {}  {} ({}){code}  {}\n",
                s.name,
                s.status.as_str(),
                s.reason,
                took(s.started_at, s.finished_at)
            ));
        }
    }
    out
}

/// How a TaskRun's lines are prefixed: its pipeline task (or its name), `-N` for a matrix
/// instance.
fn task_label(t: &TaskRunRecord) -> String {
    let label = t.pipeline_task.clone().unwrap_or_else(|| t.name.clone());
    match t.matrix_index {
        Some(i) => format!("{label}-{i}"),
        None => label,
    }
}

/// `--task` and `--step` of `runnel logs`.
struct LogFilter<'a> {
    task: Option<&'a str>,
    step: Option<&'a str>,
}

impl LogFilter<'_> {
    fn task(&self, t: &TaskRunRecord, label: &str) -> bool {
        self.task.is_none_or(|want| {
            want == label || want == t.name || t.pipeline_task.as_deref() == Some(want)
        })
    }

    fn step(&self, name: &str) -> bool {
        self.step.is_none_or(|want| want == name)
    }
}

/// Prints a step's stored log (`TIME STREAM TEXT` lines) as `[task/step] TEXT`, fed in
/// pieces cut anywhere.
struct LogPrinter<'a> {
    task: &'a str,
    step: &'a str,
    timestamps: bool,
    rest: Vec<u8>,
    printed: bool,
}

impl<'a> LogPrinter<'a> {
    fn new(task: &'a str, step: &'a str, timestamps: bool) -> Self {
        LogPrinter {
            task,
            step,
            timestamps,
            rest: Vec::new(),
            printed: false,
        }
    }

    fn feed(&mut self, out: &mut impl Write, chunk: &[u8]) {
        self.rest.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(nl) = self.rest[start..].iter().position(|b| *b == b'\n') {
            print_line(
                out,
                self.task,
                self.step,
                &self.rest[start..start + nl],
                self.timestamps,
            );
            self.printed = true;
            start += nl + 1;
        }
        self.rest.drain(..start);
    }

    /// Prints what is left (a last line without a newline); whether anything was printed.
    fn finish(mut self, out: &mut impl Write) -> bool {
        if !self.rest.is_empty() {
            print_line(out, self.task, self.step, &self.rest, self.timestamps);
            self.printed = true;
        }
        self.printed
    }
}

fn print_line(out: &mut impl Write, task: &str, step: &str, raw: &[u8], timestamps: bool) {
    match parse_line(raw) {
        Some(l) => write_line(
            out,
            task,
            step,
            Some(l.at),
            &String::from_utf8_lossy(l.text),
            timestamps,
        ),
        None => write_line(out, task, step, None, &String::from_utf8_lossy(raw), false),
    }
}

/// `[task/step] TEXT`, with the time first when asked for (and known).
fn write_line(
    out: &mut impl Write,
    task: &str,
    step: &str,
    at: Option<DateTime<Utc>>,
    text: &str,
    timestamps: bool,
) {
    let _ = match at {
        Some(at) if timestamps => writeln!(
            out,
            "[{task}/{step}] {} {text}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
        _ => writeln!(out, "[{task}/{step}] {text}"),
    };
}

fn status_filter(status: Option<&str>) -> Result<Option<Status>> {
    status
        .map(|s| s.parse::<Status>().map_err(|e| anyhow!("--status: {e}")))
        .transpose()
}

async fn find(store: &Store, key: &str) -> Result<RunRecord> {
    store
        .get_run(key)
        .await?
        .ok_or_else(|| anyhow!("no run with id, id prefix or name `{key}` (see `runnel runs`)"))
}

pub fn runs(args: &RunsArgs) -> ExitCode {
    block_on(async {
        let status = status_filter(args.status.as_deref())?;
        let runs = match args.server.client()? {
            Some(client) => {
                client
                    .runs(&remote::RunQuery {
                        limit: args.limit,
                        status: status.map(Status::as_str),
                        repo: args.repo.as_deref(),
                        branch: args.branch.as_deref(),
                    })
                    .await?
                    .runs
            }
            None => {
                let store = state::open_store(&args.state.dir).await?;
                store
                    .list_runs(&RunFilter {
                        limit: args.limit,
                        status,
                        repo: args.repo.clone(),
                        branch: args.branch.clone(),
                        ..RunFilter::default()
                    })
                    .await?
            }
        };
        print!("{}", runs_table(&runs));
        Ok(ExitCode::SUCCESS)
    })
}

pub fn describe(args: &DescribeArgs) -> ExitCode {
    block_on(async {
        let (run, task_runs) = match args.server.client()? {
            Some(client) => {
                let detail = client.run(&args.run).await?;
                (detail.run, detail.task_runs)
            }
            None => {
                let store = state::open_store(&args.state.dir).await?;
                let run = find(&store, &args.run).await?;
                let mut details = Vec::new();
                for task_run in store.task_runs(run.id).await? {
                    let steps = store.steps(task_run.id).await?;
                    details.push(TaskRunDetail { task_run, steps });
                }
                (run, details)
            }
        };
        print!("{}", describe_text(&run, &task_runs));
        Ok(ExitCode::SUCCESS)
    })
}

pub fn logs(args: &LogsArgs) -> ExitCode {
    block_on(async {
        let filter = LogFilter {
            task: args.task.as_deref(),
            step: args.step.as_deref(),
        };
        let printed_any = match args.server.client()? {
            Some(client) if args.follow => {
                let (_, printed) = follow(&client, &args.run, &filter, args.timestamps).await?;
                printed
            }
            Some(client) => remote_logs(&client, &args.run, &filter, args.timestamps).await?,
            None if args.follow => {
                return Err(anyhow!(
                    "`runnel logs -f` follows a run on a server: give its URL with --server URL or RUNNEL_SERVER (a local `runnel run` prints its output live itself)"
                ));
            }
            None => local_logs(&args.state.dir, &args.run, &filter, args.timestamps).await?,
        };
        if !printed_any {
            eprintln!("no logs matched");
        }
        Ok(ExitCode::SUCCESS)
    })
}

async fn local_logs(
    dir: &std::path::Path,
    key: &str,
    filter: &LogFilter<'_>,
    timestamps: bool,
) -> Result<bool> {
    let store = state::open_store(dir).await?;
    let logs = state::open_logs(dir)?;
    let run = find(&store, key).await?;
    let mut out = std::io::stdout().lock();
    let mut printed_any = false;
    for t in store.task_runs(run.id).await? {
        let label = task_label(&t);
        if !filter.task(&t, &label) {
            continue;
        }
        for s in store.steps(t.id).await? {
            if !filter.step(&s.name) {
                continue;
            }
            let Some(key) = &s.log else { continue };
            if !logs.exists(key).await.unwrap_or(false) {
                continue;
            }
            let mut stream = logs.stream(key);
            let mut printer = LogPrinter::new(&label, &s.name, timestamps);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.with_context(|| format!("cannot read the log {key}"))?;
                printer.feed(&mut out, &chunk);
            }
            printed_any |= printer.finish(&mut out);
        }
    }
    Ok(printed_any)
}

/// Every stored step log of a run on a server.
async fn remote_logs(
    client: &Client,
    key: &str,
    filter: &LogFilter<'_>,
    timestamps: bool,
) -> Result<bool> {
    let detail = client.run(key).await?;
    let mut out = std::io::stdout().lock();
    let mut printed_any = false;
    for TaskRunDetail { task_run: t, steps } in &detail.task_runs {
        let label = task_label(t);
        if !filter.task(t, &label) {
            continue;
        }
        for s in steps {
            if !filter.step(&s.name) || s.log.is_none() {
                continue;
            }
            let mut log = client.step_log(detail.run.id, t.id, s.index).await?;
            let mut printer = LogPrinter::new(&label, &s.name, timestamps);
            while let Some(chunk) = log.chunk().await? {
                printer.feed(&mut out, &chunk);
            }
            printed_any |= printer.finish(&mut out);
        }
    }
    Ok(printed_any)
}

/// One TaskRun of a run being followed: its steps' logs, one step after the other (as they
/// run), printed as `[task/step] line`.
struct TaskFollow {
    client: Client,
    run: Uuid,
    task_run: Uuid,
    label: String,
    step: Option<String>,
    timestamps: bool,
    printed: Arc<AtomicBool>,
}

impl TaskFollow {
    /// Follows `steps` (index, name), then any step of the TaskRun recorded since.
    async fn follow(self, mut steps: Vec<(i32, String)>) {
        let mut done: HashSet<i32> = HashSet::new();
        loop {
            for (index, name) in steps {
                done.insert(index);
                let printed = self.printed.clone();
                let ended = self
                    .client
                    .follow_step(self.run, self.task_run, index, |line: LiveLine| {
                        let mut out = std::io::stdout().lock();
                        let (label, timestamps) = (&self.label, self.timestamps);
                        write_line(&mut out, label, &name, line.at, &line.text, timestamps);
                        printed.store(true, Ordering::Relaxed);
                    })
                    .await;
                self.report_end(&name, ended);
            }
            // A TaskRun's steps are recorded one by one when it starts: look for the ones a
            // poll may have been too early to see.
            steps = match self.client.run_with_retries(&self.run.to_string()).await {
                Ok(detail) => detail
                    .task_runs
                    .into_iter()
                    .filter(|d| d.task_run.id == self.task_run)
                    .flat_map(|d| d.steps)
                    .filter(|s| !done.contains(&s.index) && self.wanted(&s.name))
                    .map(|s| (s.index, s.name))
                    .collect(),
                Err(e) => {
                    eprintln!("warning: cannot follow the task {}: {e}", self.label);
                    return;
                }
            };
            if steps.is_empty() {
                return;
            }
        }
    }

    fn wanted(&self, step: &str) -> bool {
        self.step.as_deref().is_none_or(|want| want == step)
    }

    /// Says how a step ended when it did not succeed (or its log could not be followed).
    fn report_end(&self, step: &str, ended: Result<StepEnd, RemoteError>) {
        match ended {
            Ok(end) if end.status == "Succeeded" || end.status == "Skipped" => {}
            Ok(end) => {
                let code = end
                    .exit_code
                    .map(|c| format!(", exit code {c}"))
                    .unwrap_or_default();
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "[{}/{step}] {} ({}){code}",
                    self.label, end.status, end.reason
                );
                self.printed.store(true, Ordering::Relaxed);
            }
            Err(e) => eprintln!(
                "warning: cannot follow the log of {}/{step}: {e}",
                self.label
            ),
        }
    }
}

/// Follows a run on a server until it is final: the logs of the TaskRuns and steps the filter
/// takes, each step as soon as it starts, as `[task/step] line`. TaskRuns that run at once
/// print as their lines come; those already over when found print one after the other, in
/// the order they ran. Returns the run's last record and whether anything was printed.
async fn follow(
    client: &Client,
    key: &str,
    filter: &LogFilter<'_>,
    timestamps: bool,
) -> Result<(RunRecord, bool)> {
    let mut detail = client.run(key).await?;
    // From now on by id: names are not unique.
    let id = detail.run.id;
    let printed = Arc::new(AtomicBool::new(false));
    let mut seen: HashSet<Uuid> = HashSet::new();
    let mut live: HashMap<Uuid, tokio::task::JoinHandle<()>> = HashMap::new();
    // TaskRuns found over are followed in turn by one task, in the order found.
    let (over_tx, mut over_rx) =
        tokio::sync::mpsc::unbounded_channel::<(TaskFollow, Vec<(i32, String)>)>();
    let mut over_tx = Some(over_tx);
    let over = tokio::spawn(async move {
        while let Some((task, steps)) = over_rx.recv().await {
            task.follow(steps).await;
        }
    });
    let mut final_since: Option<Instant> = None;
    loop {
        for TaskRunDetail { task_run: t, steps } in &detail.task_runs {
            let label = task_label(t);
            // A TaskRun is followed once it has steps (a skipped task has none).
            if steps.is_empty() || !filter.task(t, &label) || !seen.insert(t.id) {
                continue;
            }
            let is_over = t.status.is_final() && steps.iter().all(|s| s.status.is_final());
            let steps: Vec<(i32, String)> = steps
                .iter()
                .filter(|s| filter.step(&s.name))
                .map(|s| (s.index, s.name.clone()))
                .collect();
            let task = TaskFollow {
                client: client.clone(),
                run: id,
                task_run: t.id,
                label,
                step: filter.step.map(str::to_owned),
                timestamps,
                printed: printed.clone(),
            };
            match &over_tx {
                Some(tx) if is_over => {
                    let _ = tx.send((task, steps));
                }
                _ => {
                    live.insert(t.id, tokio::spawn(task.follow(steps)));
                }
            }
        }
        live.retain(|_, h| !h.is_finished());
        if detail.run.status.is_final() {
            // Every TaskRun is known: the queue of those over closes.
            over_tx = None;
            let since = *final_since.get_or_insert_with(Instant::now);
            if live.is_empty() && over.is_finished() {
                break;
            }
            if since.elapsed() > FINAL_GRACE {
                // The run is over; a TaskRun whose steps' records never became final has
                // nothing more to say (its streams would wait for ever).
                for (t, handle) in &live {
                    let stuck = detail
                        .task_runs
                        .iter()
                        .filter(|d| d.task_run.id == *t)
                        .flat_map(|d| &d.steps)
                        .any(|s| !s.status.is_final());
                    if stuck {
                        handle.abort();
                    }
                }
            }
        }
        tokio::time::sleep(POLL).await;
        detail = client.run_with_retries(&id.to_string()).await?;
    }
    Ok((detail.run, printed.load(Ordering::Relaxed)))
}

pub fn start(args: &StartArgs) -> ExitCode {
    block_on(async {
        let client = args.server.require("start")?;
        let git_ref = args.git_ref.as_ref().map(|r| {
            if r.starts_with("refs/") {
                r.clone()
            } else {
                format!("refs/heads/{r}")
            }
        });
        let request = StartRequest {
            pipeline: args.pipeline.clone(),
            params: args.params.iter().cloned().collect::<BTreeMap<_, _>>(),
            repo: args.repo.clone(),
            forge: args.forge.clone(),
            sha: args.sha.clone(),
            git_ref,
        };
        let started = client.start(&request).await?;
        println!("Run started: {} ({})", started.name, started.run);
        if !args.follow {
            eprintln!("follow it with: runnel logs {} -f", started.run);
            return Ok(ExitCode::SUCCESS);
        }
        let filter = LogFilter {
            task: None,
            step: None,
        };
        let (run, _) = follow(&client, &started.run.to_string(), &filter, args.timestamps).await?;
        let succeeded = run.status == Status::Succeeded;
        let message = run.message.map(|m| format!(" — {m}")).unwrap_or_default();
        println!(
            "{} {}: {} ({}){message}",
            if succeeded { "✔" } else { "✘" },
            run.name,
            run.status.as_str(),
            run.reason
        );
        Ok(if succeeded {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

pub fn cancel(args: &CancelArgs) -> ExitCode {
    block_on(async {
        let client = args.server.require("cancel")?;
        Ok(match client.cancel(&args.run, args.finally).await? {
            Cancel::WasQueued(id) => {
                println!("run {id} was queued: it will not start (Cancelled)");
                ExitCode::SUCCESS
            }
            Cancel::WasRunning(id) => {
                println!(
                    "run {id} is being stopped: its running steps get SIGTERM{}",
                    if args.finally {
                        ", then its finally tasks run"
                    } else {
                        ""
                    }
                );
                ExitCode::SUCCESS
            }
            Cancel::NothingToCancel(message) => {
                eprintln!("{message}");
                ExitCode::from(1)
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_lines_print_with_their_task_and_step_whatever_the_chunks() {
        let log =
            b"2024-05-01T10:00:00.000001Z out hello\n2024-05-01T10:00:01Z err oops\nno newline";
        let want = "[t/s] hello\n[t/s] oops\n[t/s] no newline\n";
        for cut in 0..log.len() {
            let mut out = Vec::new();
            let mut p = LogPrinter::new("t", "s", false);
            p.feed(&mut out, &log[..cut]);
            p.feed(&mut out, &log[cut..]);
            assert!(p.finish(&mut out));
            assert_eq!(String::from_utf8(out).unwrap(), want, "cut at {cut}");
        }
        let mut out = Vec::new();
        let mut p = LogPrinter::new("t", "s", true);
        p.feed(&mut out, &log[..]);
        p.finish(&mut out);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .starts_with("[t/s] 2024-05-01T10:00:00.000Z hello\n"),
        );
    }

    #[test]
    fn params_are_name_value() {
        assert_eq!(
            super::super::run::parse_pair("who=a=b"),
            Ok(("who".to_owned(), "a=b".to_owned()))
        );
        assert!(super::super::run::parse_pair("=x").is_err());
        assert!(super::super::run::parse_pair("who").is_err());
    }
}
