//! Benchmarks of the execution core, each against a baseline measured in the same run:
//!
//! - `fanout`: 1,000 independent no-op tasks (`command: [true]`), `--max-parallel 2`, on the
//!   local runner, against `xargs -P2` running the same 1,000 `true` processes.
//! - `dag`: a 10,000-task DAG on a runner that does nothing: load + validate + prepare +
//!   schedule time, and the process's peak RSS (measured in a child process of its own),
//!   against loading alone.
//! - `diamond`: a diamond whose one branch sleeps; the makespan against the slow path alone.
//!
//! Run: `cargo bench --bench execution` (or `-- fanout|dag|diamond` for one case).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use runnel_engine::exec::events::Observers;
use runnel_engine::exec::{Engine, EngineConfig, RunControl, RunOptions, prepare};
use runnel_engine::load::Loaded;
use runnel_engine::resolve::Catalog;
use runnel_runner::local::LocalRunner;
use runnel_runner::{BoxFuture, Event, Runner, StepOutcome, StepStatus, TaskJob, TaskOutcome};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A runner whose steps succeed at once without running anything.
struct NoopRunner;

impl Runner for NoopRunner {
    fn name(&self) -> &'static str {
        "noop"
    }

    fn path_in_step(&self, host_path: &Path, _mount_path: &str) -> String {
        host_path.display().to_string()
    }

    fn run_task<'a>(
        &'a self,
        job: TaskJob,
        _events: mpsc::Sender<Event>,
        _cancel: CancellationToken,
    ) -> BoxFuture<'a, TaskOutcome> {
        Box::pin(async move {
            let now = SystemTime::now();
            TaskOutcome {
                steps: job
                    .steps
                    .iter()
                    .map(|_| StepOutcome {
                        status: StepStatus::Succeeded,
                        exit_code: Some(0),
                        started: Some(now),
                        finished: now,
                        message: None,
                    })
                    .collect(),
            }
        })
    }
}

fn pipeline(name: &str, tasks: &str) -> String {
    format!(
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: {name}\nspec:\n  tasks:\n{tasks}"
    )
}

/// `n` independent tasks, each one step running `true`.
fn fanout_yaml(n: usize) -> String {
    let mut tasks = String::new();
    for i in 0..n {
        let _ = writeln!(
            tasks,
            "  - name: t{i}\n    taskSpec:\n      steps:\n      - name: s\n        image: busybox\n        command: [\"true\"]"
        );
    }
    pipeline("fanout", &tasks)
}

/// `n` tasks in layers of 100; each task after the first layer runs after two tasks of the
/// layer before.
fn dag_yaml(n: usize) -> String {
    let mut tasks = String::new();
    for i in 0..n {
        let _ = write!(
            tasks,
            "  - name: t{i}\n    taskSpec:\n      steps:\n      - name: s\n        image: busybox\n        command: [\"true\"]\n"
        );
        if i >= 100 {
            let a = i - 100;
            let b = i - 100 + (i * 7919) % 100;
            let b = b.min(i - 1);
            let _ = writeln!(tasks, "    runAfter: [t{a}, t{b}]");
        }
    }
    pipeline("dag", &tasks)
}

fn diamond_yaml(slow: &str) -> String {
    let step = |script: &str| {
        format!(
            "    taskSpec:\n      steps:\n      - name: s\n        image: busybox\n        script: \"{script}\"\n"
        )
    };
    let mut tasks = String::new();
    tasks.push_str(&format!("  - name: top\n{}", step("true")));
    tasks.push_str(&format!(
        "  - name: slow\n    runAfter: [top]\n{}",
        step(&format!("sleep {slow}"))
    ));
    tasks.push_str(&format!(
        "  - name: fast\n    runAfter: [top]\n{}",
        step("true")
    ));
    tasks.push_str(&format!(
        "  - name: fast2\n    runAfter: [fast]\n{}",
        step("true")
    ));
    tasks.push_str(&format!(
        "  - name: bottom\n    runAfter: [slow, fast2]\n{}",
        step("true")
    ));
    pipeline("diamond", &tasks)
}

/// How long each part of [`run_yaml`] took.
struct Timings {
    load: Duration,
    /// Load + validate.
    loaded: Duration,
    /// Prepare + schedule + run (the catalog is built before, and not counted).
    run: Duration,
}

/// Loads, validates, prepares and runs `yaml`.
async fn run_yaml(yaml: &str, runner: Arc<dyn Runner>, max_parallel: usize) -> Timings {
    let state = tempfile::tempdir().expect("tempdir");
    run_yaml_in(yaml, runner, max_parallel, state.path()).await
}

/// Loads, validates, prepares and runs `yaml` with its state (run directories) in `state`.
async fn run_yaml_in(
    yaml: &str,
    runner: Arc<dyn Runner>,
    max_parallel: usize,
    state: &Path,
) -> Timings {
    let start = Instant::now();
    let mut loaded = Loaded::new();
    loaded.add_source("bench.yaml", yaml.to_owned());
    let load = start.elapsed();
    phase("load", start);
    let diags = runnel_engine::validate::validate(&loaded);
    phase("validate", start);
    assert!(!diags.has_errors(), "the generated pipeline is invalid");
    let loaded_at = start.elapsed();
    let mut catalog = Catalog::new();
    catalog.add_loaded(&loaded, "bench.yaml");
    phase("catalog", start);
    let mut config = EngineConfig::new(state);
    config.max_parallel = max_parallel;
    let t = Instant::now();
    let prepared = prepare(&loaded, &catalog, &RunOptions::default(), &config).expect("prepare");
    phase("prepare", start);
    let engine = Engine::new(runner, Observers::default(), config);
    for p in prepared {
        let end = engine.execute(p, RunControl::default()).await;
        assert!(end.succeeded(), "{:?} {:?}", end.reason, end.message);
    }
    phase("run", start);
    Timings {
        load,
        loaded: loaded_at,
        run: t.elapsed(),
    }
}

/// With RUNNEL_BENCH_PHASES set, prints the time since `start` and the peak RSS so far.
fn phase(name: &str, start: Instant) {
    if std::env::var_os("RUNNEL_BENCH_PHASES").is_some() {
        eprintln!(
            "    [{name}] {:.1} ms, peak RSS {:.1} MiB",
            start.elapsed().as_secs_f64() * 1e3,
            peak_rss_kib() as f64 / 1024.0
        );
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn timed(cmd: &str) -> Duration {
    let start = Instant::now();
    let status = Command::new("sh")
        .args(["-c", cmd])
        .status()
        .expect("the baseline runs");
    assert!(status.success());
    start.elapsed()
}

fn fanout() {
    let n = 1000;
    let rounds = 5;
    let rt = runtime();
    let yaml = fanout_yaml(n);
    let (mut xargs, mut xargs_sh, mut runnel) = (Vec::new(), Vec::new(), Vec::new());
    let rounds_dir = tempfile::tempdir().expect("tempdir");
    // Interleaved rounds, so that a slow moment of the machine hits both sides.
    for _ in 0..rounds {
        xargs.push(timed(&format!("seq {n} | xargs -P2 -I{{}} true")));
        xargs_sh.push(timed(&format!("seq {n} | xargs -P2 -n1 sh -c true")));
        // Each round's run directories stay until the case ends: ext4 makes a directory
        // slowly while many were deleted in the last minute (`recently_deleted`), which
        // would charge one round's cleanup to the next round's mkdirs.
        let state = rounds_dir.path().join(format!("round-{}", runnel.len()));
        let t = rt.block_on(run_yaml_in(
            &yaml,
            Arc::new(LocalRunner::default()),
            2,
            &state,
        ));
        runnel.push(t.run);
    }
    let (x, xs, r) = (median(xargs), median(xargs_sh), median(runnel));
    println!(
        "fanout: {n} independent no-op tasks, max-parallel 2, local runner (median of {rounds})"
    );
    println!(
        "  baseline xargs -P2 true         : {:>8.1} ms",
        x.as_secs_f64() * 1e3
    );
    println!(
        "  baseline xargs -P2 sh -c true   : {:>8.1} ms",
        xs.as_secs_f64() * 1e3
    );
    println!(
        "  runnel (prepare + run)          : {:>8.1} ms  = {:.2}x xargs true, {:.2}x xargs sh -c true",
        r.as_secs_f64() * 1e3,
        r.as_secs_f64() / x.as_secs_f64(),
        r.as_secs_f64() / xs.as_secs_f64()
    );
}

fn dag() {
    let n = 10_000;
    let yaml = dag_yaml(n);
    let baseline = {
        let start = Instant::now();
        let mut loaded = Loaded::new();
        loaded.add_source("bench.yaml", yaml.clone());
        std::hint::black_box(&loaded);
        start.elapsed()
    };
    let rt = runtime();
    let t = rt.block_on(run_yaml(&yaml, Arc::new(NoopRunner), 2));
    let (validate, schedule) = (t.loaded, t.run);
    let total = validate + schedule;
    let beyond_load = t.loaded - t.load + t.run;
    println!("dag: {n} tasks, 2 runAfter edges each, no-op runner");
    println!(
        "  baseline: load only             : {:>8.1} ms",
        baseline.as_secs_f64() * 1e3
    );
    println!(
        "  load + validate                 : {:>8.1} ms  = {:.2}x load",
        validate.as_secs_f64() * 1e3,
        validate.as_secs_f64() / baseline.as_secs_f64()
    );
    println!(
        "  prepare + schedule + run        : {:>8.1} ms",
        schedule.as_secs_f64() * 1e3
    );
    println!(
        "  total                           : {:>8.1} ms  = {:.2}x load",
        total.as_secs_f64() * 1e3,
        total.as_secs_f64() / baseline.as_secs_f64()
    );
    println!(
        "  validate + prepare + schedule   : {:>8.1} ms  (target < 200 ms)",
        beyond_load.as_secs_f64() * 1e3
    );
    println!(
        "  peak RSS                        : {:>8.1} MiB (target < 100 MB)",
        peak_rss_kib() as f64 / 1024.0
    );
}

fn diamond() {
    let rt = runtime();
    let slow = Duration::from_millis(1500);
    let alone = {
        let start = Instant::now();
        let status = Command::new("sleep")
            .arg("1.5")
            .status()
            .expect("sleep runs");
        assert!(status.success());
        start.elapsed()
    };
    let run = rt
        .block_on(run_yaml(
            &diamond_yaml("1.5"),
            Arc::new(LocalRunner::default()),
            4,
        ))
        .run;
    println!(
        "diamond: top → (slow: sleep {:.1}s | fast → fast2) → bottom, local runner",
        slow.as_secs_f64()
    );
    println!(
        "  baseline: the slow step alone   : {:>8.1} ms",
        alone.as_secs_f64() * 1e3
    );
    println!(
        "  runnel makespan                 : {:>8.1} ms  = {:.3}x the slow path ({:+.1} ms for the 4 other tasks)",
        run.as_secs_f64() * 1e3,
        run.as_secs_f64() / alone.as_secs_f64(),
        (run.as_secs_f64() - alone.as_secs_f64()) * 1e3
    );
}

fn main() {
    let case = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    match case.as_deref() {
        Some("fanout") => fanout(),
        Some("dag") => dag(),
        Some("diamond") => diamond(),
        _ => {
            // Each case in a process of its own, so peak RSS is the case's own.
            let me = std::env::current_exe().expect("own path");
            for case in ["fanout", "dag", "diamond"] {
                let status = Command::new(&me)
                    .arg(case)
                    .status()
                    .expect("bench case runs");
                assert!(status.success(), "{case} failed");
            }
        }
    }
}
