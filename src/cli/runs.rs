//! Reading the records back: `runnel runs` (recent runs), `runnel describe RUN` (a run with
//! its tasks and steps) and `runnel logs RUN` (the stored output of its steps). RUN is a run's
//! id, a unique prefix of it, or its name.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Local, Utc};
use futures::StreamExt;
use runnel_engine::logs::parse_line;
use runnel_engine::store::{RunFilter, RunRecord, Status, Store};

use super::state;

#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// How many runs to list, newest first.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: u32,
    /// Only runs with this status (Running, Succeeded, Failed, Cancelled, ...).
    #[arg(long)]
    pub status: Option<String>,
    #[command(flatten)]
    pub state: state::StateDir,
}

#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The run: its id, a unique prefix of the id, or its name.
    pub run: String,
    #[command(flatten)]
    pub state: state::StateDir,
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
    #[command(flatten)]
    pub state: state::StateDir,
}

fn block_on<F: std::future::Future<Output = Result<ExitCode>>>(f: F) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
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
            ExitCode::from(2)
        }
    }
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

async fn find(store: &Store, key: &str) -> Result<RunRecord> {
    store
        .get_run(key)
        .await?
        .ok_or_else(|| anyhow!("no run with id, id prefix or name `{key}` (see `runnel runs`)"))
}

pub fn runs(args: &RunsArgs) -> ExitCode {
    block_on(async {
        let store = state::open_store(&args.state.dir).await?;
        let status = match &args.status {
            Some(s) => Some(s.parse::<Status>().map_err(|e| anyhow!("--status: {e}"))?),
            None => None,
        };
        let runs = store
            .list_runs(&RunFilter {
                limit: args.limit,
                status,
                ..RunFilter::default()
            })
            .await?;
        let mut rows = vec![
            [
                "ID", "NAME", "KIND", "STATUS", "REASON", "STARTED", "DURATION",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for r in &runs {
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
        print!("{}", table(&rows));
        Ok(ExitCode::SUCCESS)
    })
}

pub fn describe(args: &DescribeArgs) -> ExitCode {
    block_on(async {
        let store = state::open_store(&args.state.dir).await?;
        let run = find(&store, &args.run).await?;
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
        for t in store.task_runs(run.id).await? {
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
            for s in store.steps(t.id).await? {
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
        print!("{out}");
        Ok(ExitCode::SUCCESS)
    })
}

pub fn logs(args: &LogsArgs) -> ExitCode {
    block_on(async {
        let store = state::open_store(&args.state.dir).await?;
        let logs = state::open_logs(&args.state.dir)?;
        let run = find(&store, &args.run).await?;
        let mut out = std::io::stdout().lock();
        let mut printed_any = false;
        for t in store.task_runs(run.id).await? {
            let label = t.pipeline_task.clone().unwrap_or_else(|| t.name.clone());
            let label = match t.matrix_index {
                Some(i) => format!("{label}-{i}"),
                None => label,
            };
            if let Some(want) = &args.task
                && *want != label
                && *want != t.name
                && t.pipeline_task.as_deref() != Some(want)
            {
                continue;
            }
            for s in store.steps(t.id).await? {
                if args.step.as_ref().is_some_and(|want| *want != s.name) {
                    continue;
                }
                let Some(key) = &s.log else { continue };
                if !logs.exists(key).await.unwrap_or(false) {
                    continue;
                }
                let mut stream = logs.stream(key);
                let mut rest: Vec<u8> = Vec::new();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.with_context(|| format!("cannot read the log {key}"))?;
                    rest.extend_from_slice(&chunk);
                    let mut start = 0;
                    while let Some(nl) = rest[start..].iter().position(|b| *b == b'\n') {
                        let line = &rest[start..start + nl];
                        print_line(&mut out, &label, &s.name, line, args.timestamps);
                        printed_any = true;
                        start += nl + 1;
                    }
                    rest.drain(..start);
                }
                if !rest.is_empty() {
                    print_line(&mut out, &label, &s.name, &rest, args.timestamps);
                    printed_any = true;
                }
            }
        }
        if !printed_any {
            eprintln!("no logs matched");
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_line(out: &mut impl Write, task: &str, step: &str, raw: &[u8], timestamps: bool) {
    let _ = match parse_line(raw) {
        Some(l) if timestamps => writeln!(
            out,
            "[{task}/{step}] {} {}",
            l.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            String::from_utf8_lossy(l.text)
        ),
        Some(l) => writeln!(out, "[{task}/{step}] {}", String::from_utf8_lossy(l.text)),
        None => writeln!(out, "[{task}/{step}] {}", String::from_utf8_lossy(raw)),
    };
}
