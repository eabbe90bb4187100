//! Runs Tekton's own examples (`../shared/conformance/tekton-examples/`, read in place) with
//! `runnel run` and the local runner, and expects every run in each file to Succeed, as
//! Tekton's end-to-end suite does on a cluster. A file is skipped only for a reason printed
//! here: it needs the network, an image's own tools, or something only containers or
//! Kubernetes give (volumes at fixed container paths, ServiceAccount credentials). Files that
//! fail are printed with the end of their output; the test needs at least 70 % of all files
//! to succeed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Files no runner can serve here, and why.
const SHARED_SKIPS: &[(&str, &str)] = &[
    (
        "pipelineruns/beta/git-resolver.yaml",
        "resolves its Task from GitHub (git resolver): needs the network",
    ),
    (
        "pipelineruns/beta/http-resolver.yaml",
        "resolves its Task over HTTP (http resolver): needs the network",
    ),
    (
        "taskruns/beta/bundles-resolver.yaml",
        "resolves its Task from an OCI bundle: needs a registry",
    ),
    (
        "taskruns/beta/hub-resolver.yaml",
        "resolves its Task from Tekton Hub: needs the network",
    ),
    (
        "taskruns/beta/stepaction-git-resolver.yaml",
        "resolves its StepAction from GitHub: needs the network",
    ),
    (
        "pipelineruns/beta/pipeline-with-when-expressions-using-array-results.yaml",
        "its finally step reads `$(context.task2.status)`, which Tekton does not define, so it fails on Tekton too",
    ),
    (
        "taskruns/beta/authenticating-git-commands.yaml",
        "needs the alpine/git image's git daemon and ssh in a sidecar",
    ),
    (
        "taskruns/creds-init-only-mounts-provided-credentials.yaml",
        "needs credentials from a Kubernetes ServiceAccount's secrets",
    ),
];

/// Files the local runner cannot serve, and why (besides [`SHARED_SKIPS`]).
const SKIPS: &[(&str, &str)] = &[
    (
        "pipelineruns/pipelinerun.yaml",
        "runs the git-clone image's own /ko-app/git-init and clones from GitHub",
    ),
    (
        "pipelineruns/pipelinerun-with-final-tasks.yaml",
        "runs the git-clone image's own /ko-app/git-init and clones from GitHub",
    ),
    (
        "taskruns/dind-sidecar.yaml",
        "runs a Docker daemon in a sidecar (docker:dind image)",
    ),
    (
        "taskruns/step-by-digest.yaml",
        "has no command: relies on the image's own entrypoint",
    ),
    (
        "taskruns/custom-volume.yaml",
        "mounts a Kubernetes volume at a fixed container path (/im/a/custom/mount/path)",
    ),
    (
        "taskruns/template-volume.yaml",
        "mounts a Kubernetes volume at a fixed container path (/im/a/custom/mount/path)",
    ),
    (
        "taskruns/secret-volume-params.yaml",
        "mounts a Secret volume at a fixed container path (/var/secret)",
    ),
    (
        "taskruns/workspace-volume.yaml",
        "mounts a volume over the container's /workspace",
    ),
    (
        "taskruns/sidecar-interp.yaml",
        "shares a volume between a sidecar and a step at a fixed container path (/shared)",
    ),
    (
        "taskruns/sidecar-ready.yaml",
        "shares a volume between a sidecar and a step at a fixed container path (/shared)",
    ),
    (
        "taskruns/sidecar-ready-script.yaml",
        "shares a volume between a sidecar and a step at a fixed container path (/shared)",
    ),
    (
        "taskruns/ignore-step-error.yaml",
        "reads the container path /tekton/steps/... literally",
    ),
    (
        "taskruns/beta/workspace-isolation.yaml",
        "checks that a step cannot see a workspace it does not mount (needs containers)",
    ),
];

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/tekton-examples")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

enum Verdict {
    Passed,
    Skipped(&'static str),
    Failed(String),
}

/// How one runner is put through the corpus.
struct Suite {
    runner: &'static str,
    skips: &'static [(&'static str, &'static str)],
    /// The share of all files that must pass, in percent.
    need: usize,
    /// A config file for `--config` (the Docker runner's image rewrite rules).
    config: Option<&'static str>,
}

fn run_one(suite: &Suite, file: &Path, rel: &str, state: &Path, empty: &Path) -> Verdict {
    if let Some((_, why)) = SHARED_SKIPS
        .iter()
        .chain(suite.skips)
        .find(|(f, _)| *f == rel)
    {
        return Verdict::Skipped(why);
    }
    let config = state.join("runnel.toml");
    if let Err(e) = std::fs::write(&config, suite.config.unwrap_or("")) {
        return Verdict::Failed(format!("cannot write {}: {e}", config.display()));
    }
    let log = state.join("output.txt");
    let Ok(out) = std::fs::File::create(&log) else {
        return Verdict::Failed(format!("cannot create {}", log.display()));
    };
    let Ok(err) = out.try_clone() else {
        return Verdict::Failed("cannot share the output file".to_owned());
    };
    let mut child = match Command::new(env!("CARGO_BIN_EXE_runnel"))
        .arg("run")
        .arg("--tasks")
        .arg(empty)
        .arg("--state-dir")
        .arg(state.join("state"))
        .args(["--grace", "2", "--color", "never", "--runner", suite.runner])
        .arg("--config")
        .arg(&config)
        .arg(file)
        .current_dir(state)
        .env_remove("RUNNEL_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Verdict::Failed(format!("cannot start runnel: {e}")),
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    match status {
        Some(s) if s.success() => Verdict::Passed,
        Some(s) => {
            let tail: Vec<&str> = output.lines().rev().take(12).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Verdict::Failed(format!(
                "exit {:?}\n      {}",
                s.code(),
                tail.join("\n      ")
            ))
        }
        None => Verdict::Failed("did not finish within 180 s".to_owned()),
    }
}

#[test]
fn tekton_examples_run_with_the_local_runner() {
    run_suite(&Suite {
        runner: "local",
        skips: SKIPS,
        need: 70,
        config: None,
    });
}

/// Public images the examples name → the images `tests/images` builds (no registry is
/// reachable here).
const DOCKER_CONFIG: &str = r#"
[docker]
pull_policy = "Never"

[[images.rewrite]]
from = "mirror.gcr.io/ubuntu*"
to = "runnel-test/debian"

[[images.rewrite]]
from = "mirror.gcr.io/alpine/git*"
to = "runnel-test/debian"

[[images.rewrite]]
from = "ghcr.io/tektoncd/plumbing/alpine-git-nonroot*"
to = "runnel-test/debian"

[[images.rewrite]]
from = "mirror.gcr.io/alpine*"
to = "runnel-test/busybox"

[[images.rewrite]]
from = "ubuntu*"
to = "runnel-test/debian"

[[images.rewrite]]
from = "mirror.gcr.io/bash*"
to = "runnel-test/bash"

[[images.rewrite]]
from = "mirror.gcr.io/python*"
to = "runnel-test/debian"

[[images.rewrite]]
from = "mirror.gcr.io/perl*"
to = "runnel-test/debian"

[[images.rewrite]]
from = "mirror.gcr.io/busybox*"
to = "runnel-test/busybox"

[[images.rewrite]]
from = "cgr.dev/chainguard/busybox*"
to = "runnel-test/busybox"
"#;

/// Files the Docker runner cannot serve here, and why (besides [`SHARED_SKIPS`]).
const DOCKER_SKIPS: &[(&str, &str)] = &[
    (
        "pipelineruns/pipelinerun.yaml",
        "clones from GitHub with the git-clone image, which no registry here provides",
    ),
    (
        "pipelineruns/pipelinerun-with-final-tasks.yaml",
        "clones from GitHub with the git-clone image, which no registry here provides",
    ),
    (
        "taskruns/dind-sidecar.yaml",
        "runs a Docker daemon in a sidecar (docker:dind image, which no registry here provides)",
    ),
    (
        "pipelineruns/optional-workspaces.yaml",
        "runs a step in the node image, which no registry here provides",
    ),
    (
        "taskruns/step-script.yaml",
        "runs a step in the node image, which no registry here provides",
    ),
];

#[test]
fn tekton_examples_run_with_the_docker_runner() {
    let ready = Command::new("docker")
        .args([
            "image",
            "inspect",
            "runnel-test/busybox",
            "runnel-test/debian",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var_os("CI").is_none(),
            "no Docker engine or test images: CI must run the Docker conformance test"
        );
        eprintln!("skipped: no Docker engine or no test images (run tests/images)");
        return;
    }
    run_suite(&Suite {
        runner: "docker",
        skips: DOCKER_SKIPS,
        need: 85,
        config: Some(DOCKER_CONFIG),
    });
}

fn run_suite(suite: &Suite) {
    let root = corpus();
    let all = files(&root);
    assert!(
        all.len() >= 80,
        "the corpus at {} looks incomplete",
        root.display()
    );
    let scratch = tempfile::tempdir().unwrap();
    let empty = scratch.path().join("empty-catalog");
    std::fs::create_dir_all(&empty).unwrap();

    let queue = Mutex::new(all.clone());
    let results: Mutex<Vec<(String, Verdict)>> = Mutex::default();
    std::thread::scope(|scope| {
        for w in 0..3 {
            let (queue, results, root, empty) = (&queue, &results, &root, &empty);
            let scratch = scratch.path();
            scope.spawn(move || {
                let mut n = 0;
                loop {
                    let Some(file) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    n += 1;
                    let rel = file
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    let state = scratch.join(format!("w{w}-{n}"));
                    std::fs::create_dir_all(&state).unwrap();
                    let v = run_one(suite, &file, &rel, &state, empty);
                    results.lock().unwrap().push((rel, v));
                }
            });
        }
    });
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by(|a, b| a.0.cmp(&b.0));

    let (mut passed, mut skipped, mut failed) = (0, 0, 0);
    for (rel, v) in &results {
        match v {
            Verdict::Passed => passed += 1,
            Verdict::Skipped(why) => {
                skipped += 1;
                println!("SKIP {rel}: {why}");
            }
            Verdict::Failed(why) => {
                failed += 1;
                println!("FAIL {rel}: {why}");
            }
        }
    }
    let total = results.len();
    println!(
        "tekton-examples on the {} runner: {passed} passed, {skipped} skipped, {failed} failed of {total} files ({:.0} % passed; {:.0} % of the files not skipped)",
        suite.runner,
        100.0 * passed as f64 / total as f64,
        100.0 * passed as f64 / (total - skipped).max(1) as f64
    );
    // Every skip must name a file that exists (a renamed file must not hide a failure).
    for (f, _) in SHARED_SKIPS.iter().chain(suite.skips) {
        assert!(root.join(f).exists(), "skip list names a missing file: {f}");
    }
    assert!(
        passed * 100 >= total * suite.need,
        "only {passed} of {total} files passed (need {} %)",
        suite.need
    );
}
