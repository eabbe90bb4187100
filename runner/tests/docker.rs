//! The Docker backend, against the real Docker engine and the images `tests/images` builds
//! (`runnel-test/busybox`, `runnel-test/debian`).
//!
//! Without a reachable engine or those images, each test says why and passes — except
//! under CI (`CI` set), where `tests/run` provides both and their absence is a failure.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use runnel_runner::docker::{DockerConfig, DockerRunner, ImageRewrite, OWNER_LABEL, TASKRUN_LABEL};
use runnel_runner::{
    Event, Mount, OnError, Probe, ProbeCheck, PullPolicy, Runner, StepJob, StepOutcome, StepStatus,
    Stream, TaskDirs, TaskJob, TaskOutcome,
};
use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const BUSYBOX: &str = "runnel-test/busybox";
const DEBIAN: &str = "runnel-test/debian";

/// A runner on the local engine, or `None` (with the reason printed) when the engine or
/// the test images are missing outside CI.
async fn runner_with(config: DockerConfig) -> Option<DockerRunner> {
    let skip = |why: String| {
        assert!(
            std::env::var_os("CI").is_none(),
            "{why} (CI must run the Docker tests: tests/run builds the images)"
        );
        eprintln!("skipped: {why}");
        None
    };
    let runner = match DockerRunner::connect(config).await {
        Ok(runner) => runner,
        Err(e) => return skip(format!("no Docker engine: {e}")),
    };
    for image in [BUSYBOX, DEBIAN] {
        let present = std::process::Command::new("docker")
            .args(["image", "inspect", image])
            .output()
            .is_ok_and(|o| o.status.success());
        if !present {
            return skip(format!("the image {image} is missing; run tests/images"));
        }
    }
    Some(runner)
}

fn config() -> DockerConfig {
    DockerConfig {
        owner: owner(),
        ..DockerConfig::default()
    }
}

/// This test process, as the reaper would name it.
fn owner() -> String {
    format!("runnel-test:{}:0", std::process::id())
}

/// A temporary directory holding one attempt's [`TaskDirs`] and a workspace.
struct Fixture {
    tmp: TempDir,
    dirs: TaskDirs,
    id: String,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = TempDir::new().unwrap();
        let dirs = TaskDirs {
            results: tmp.path().join("results"),
            steps: tmp.path().join("steps"),
            scripts: tmp.path().join("scripts"),
            work: tmp.path().join("work"),
            home: tmp.path().join("home"),
        };
        std::fs::create_dir_all(&dirs.results).unwrap();
        std::fs::create_dir_all(tmp.path().join("ws")).unwrap();
        let id = format!(
            "test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        Fixture { tmp, dirs, id }
    }

    fn path(&self, rest: &str) -> PathBuf {
        self.tmp.path().join(rest)
    }

    fn job(&self, steps: Vec<StepJob>) -> TaskJob {
        TaskJob {
            run: "run-1".into(),
            id: self.id.clone(),
            name: "t".into(),
            dirs: self.dirs.clone(),
            mounts: vec![
                Mount {
                    host_path: self.dirs.results.clone(),
                    mount_path: "/tekton/results".into(),
                    read_only: false,
                },
                Mount {
                    host_path: self.dirs.steps.clone(),
                    mount_path: "/tekton/steps".into(),
                    read_only: true,
                },
                Mount {
                    host_path: self.path("ws"),
                    mount_path: "/workspace/ws".into(),
                    read_only: false,
                },
            ],
            steps,
            sidecars: Vec::new(),
            exit_codes: true,
            grace: Duration::from_secs(2),
        }
    }
}

fn script(name: &str, image: &str, script: &str) -> StepJob {
    StepJob {
        name: name.into(),
        image: Some(image.into()),
        script: Some(script.into()),
        ..StepJob::default()
    }
}

/// Everything a run reported.
struct Run {
    outcome: TaskOutcome,
    events: Vec<Event>,
}

impl Run {
    fn step(&self, index: usize) -> &StepOutcome {
        &self.outcome.steps[index]
    }

    fn lines(&self, step: usize, stream: Stream) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Output {
                    step: s,
                    stream: st,
                    line,
                    ..
                } if *s == step && *st == stream => Some(String::from_utf8_lossy(line).into()),
                _ => None,
            })
            .collect()
    }
}

async fn run_job(runner: &DockerRunner, job: TaskJob, cancel: CancellationToken) -> Run {
    let (tx, mut rx) = mpsc::channel(1024);
    let collect = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        events
    });
    let id = job.id.clone();
    let outcome = runner.run_task(job, tx, cancel).await;
    runner.close().await;
    let events = collect.await.unwrap();
    assert_eq!(
        leftovers(&id),
        Vec::<String>::new(),
        "containers or networks of the job are left behind"
    );
    Run { outcome, events }
}

async fn run(runner: &DockerRunner, job: TaskJob) -> Run {
    run_job(runner, job, CancellationToken::new()).await
}

/// Runs `docker ARGS`, which must succeed, and returns its trimmed stdout.
fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Containers and networks labelled with the TaskRun `id`.
fn leftovers(id: &str) -> Vec<String> {
    let filter = format!("label={TASKRUN_LABEL}={id}");
    let mut found = Vec::new();
    for what in [
        &["ps", "-a", "--format", "{{.Names}}"][..],
        &["network", "ls", "--format", "{{.Name}}"][..],
    ] {
        let out = std::process::Command::new("docker")
            .args(what)
            .args(["--filter", &filter])
            .output()
            .unwrap();
        found.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    found
}

#[tokio::test]
async fn steps_run_in_their_images_and_share_the_task_directories() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    let fx = Fixture::new();
    let steps = vec![
        script(
            "write",
            BUSYBOX,
            "echo out; echo err >&2\nprintf ok > /tekton/results/r\necho shared > /workspace/ws/f\n\
             echo home > $HOME/h; echo \"wd=$PWD\"",
        ),
        StepJob {
            name: "python".into(),
            image: Some(DEBIAN.into()),
            script: Some(
                "#!/usr/bin/env python3\nimport os\nprint(open('/workspace/ws/f').read().strip(), open(os.environ['HOME'] + '/h').read().strip(), os.environ['GREETING'])\n"
                    .into(),
            ),
            env: vec![("GREETING".into(), "hi".into())],
            working_dir: Some("sub/dir".into()),
            ..StepJob::default()
        },
        StepJob {
            name: "command".into(),
            image: Some(BUSYBOX.into()),
            command: vec!["sh".into(), "-c".into()],
            args: vec!["echo \"$0 $PWD\"".into(), "argv0".into()],
            working_dir: Some("/tmp".into()),
            ..StepJob::default()
        },
        // No command: the image's own entrypoint and cmd (`/bin/sh`), given args.
        StepJob {
            name: "entrypoint".into(),
            image: Some(BUSYBOX.into()),
            args: vec!["-c".into(), "echo from the image cmd".into()],
            ..StepJob::default()
        },
    ];
    let r = run(&runner, fx.job(steps)).await;
    for i in 0..4 {
        assert_eq!(
            r.step(i).status,
            StepStatus::Succeeded,
            "step {i}: {:?}",
            r.step(i)
        );
        assert_eq!(r.step(i).exit_code, Some(0));
    }
    assert_eq!(r.lines(0, Stream::Stdout), ["out", "wd=/"]);
    assert_eq!(r.lines(0, Stream::Stderr), ["err"]);
    assert_eq!(
        std::fs::read_to_string(fx.dirs.results.join("r")).unwrap(),
        "ok"
    );
    assert_eq!(
        std::fs::read_to_string(fx.path("ws/f")).unwrap(),
        "shared\n"
    );
    assert_eq!(r.lines(1, Stream::Stdout), ["shared home hi"]);
    assert!(fx.dirs.work.join("sub/dir").is_dir());
    assert_eq!(r.lines(2, Stream::Stdout), ["argv0 /tmp"]);
    assert_eq!(r.lines(3, Stream::Stdout), ["from the image cmd"]);
    assert_eq!(
        std::fs::read_to_string(fx.dirs.steps.join("step-python/exitCode")).unwrap(),
        "0"
    );
}

#[tokio::test]
async fn failures_stop_the_task_unless_the_step_continues() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    let fx = Fixture::new();
    let steps = vec![
        StepJob {
            on_error: OnError::Continue,
            ..script("tolerated", BUSYBOX, "exit 3")
        },
        script("fails", BUSYBOX, "echo before; false; echo never"),
        script("skipped", BUSYBOX, "echo never"),
    ];
    let r = run(&runner, fx.job(steps)).await;
    assert_eq!(r.step(0).status, StepStatus::Failed);
    assert_eq!(r.step(0).exit_code, Some(3));
    assert_eq!(r.step(1).status, StepStatus::Failed);
    assert_eq!(r.step(1).exit_code, Some(1));
    assert_eq!(r.lines(1, Stream::Stdout), ["before"]);
    assert_eq!(r.step(2).status, StepStatus::Skipped);
    assert_eq!(
        std::fs::read_to_string(fx.dirs.steps.join("step-tolerated/exitCode")).unwrap(),
        "3"
    );
    // Tekton's index links: /tekton/steps/0 is the first step's directory.
    assert_eq!(
        std::fs::read_to_string(fx.dirs.steps.join("0/exitCode")).unwrap(),
        "3"
    );
}

#[tokio::test]
async fn a_missing_program_or_image_is_an_error_that_says_which() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    let fx = Fixture::new();
    let steps = vec![StepJob {
        name: "nobin".into(),
        image: Some(BUSYBOX.into()),
        command: vec!["no-such-program".into()],
        ..StepJob::default()
    }];
    let r = run(&runner, fx.job(steps)).await;
    assert_eq!(r.step(0).status, StepStatus::Error);
    let message = r.step(0).message.clone().unwrap_or_default();
    assert!(message.contains("no-such-program"), "{message}");

    for (policy, expect) in [
        (PullPolicy::Never, "imagePullPolicy is Never"),
        (PullPolicy::IfNotPresent, "could not be pulled"),
    ] {
        let fx = Fixture::new();
        let steps = vec![StepJob {
            pull_policy: Some(policy),
            ..script("s", "runnel-test/no-such-image:1", "true")
        }];
        let r = run(&runner, fx.job(steps)).await;
        assert_eq!(r.step(0).status, StepStatus::Error);
        let message = r.step(0).message.clone().unwrap_or_default();
        assert!(
            message.contains("runnel-test/no-such-image:1") && message.contains(expect),
            "{message}"
        );
    }
}

#[tokio::test]
async fn rewrite_rules_map_public_images_to_local_ones() {
    let Some(runner) = runner_with(DockerConfig {
        rewrites: vec![ImageRewrite {
            from: "docker.io/library/alpine*".into(),
            to: BUSYBOX.into(),
        }],
        ..config()
    })
    .await
    else {
        return;
    };
    let fx = Fixture::new();
    let steps = vec![script(
        "s",
        "docker.io/library/alpine:3.20",
        "echo rewritten",
    )];
    let r = run(&runner, fx.job(steps)).await;
    assert_eq!(r.step(0).status, StepStatus::Succeeded, "{:?}", r.step(0));
    assert_eq!(r.lines(0, Stream::Stdout), ["rewritten"]);
    let notices = runner.notices().join("\n");
    assert!(
        notices.contains("docker.io/library/alpine:3.20 → runnel-test/busybox"),
        "{notices}"
    );
}

#[tokio::test]
async fn timeouts_and_cancellation_stop_the_container() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    // A step that ignores SIGTERM is killed after the grace period.
    let fx = Fixture::new();
    let steps = vec![StepJob {
        timeout: Some(Duration::from_millis(500)),
        ..script(
            "slow",
            BUSYBOX,
            "trap 'echo term' TERM; echo started; while true; do sleep 0.1; done",
        )
    }];
    let started = Instant::now();
    let r = run(&runner, fx.job(steps)).await;
    assert_eq!(r.step(0).status, StepStatus::TimedOut, "{:?}", r.step(0));
    assert!(
        r.step(0)
            .message
            .as_deref()
            .unwrap_or("")
            .contains("timed out after 500ms"),
        "{:?}",
        r.step(0)
    );
    assert_eq!(r.lines(0, Stream::Stdout)[0], "started");
    assert!(started.elapsed() < Duration::from_secs(30));

    let fx = Fixture::new();
    let steps = vec![
        script("sleeper", BUSYBOX, "echo up; exec sleep 60"),
        script("after", BUSYBOX, "echo never"),
    ];
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        canceller.cancel();
    });
    let r = run_job(&runner, fx.job(steps), cancel).await;
    assert_eq!(r.step(0).status, StepStatus::Cancelled, "{:?}", r.step(0));
    assert_eq!(r.lines(0, Stream::Stdout), ["up"]);
    assert_eq!(r.step(1).status, StepStatus::Skipped);
}

#[tokio::test]
async fn users_and_limits_apply_to_the_container() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    let fx = Fixture::new();
    let steps = vec![
        StepJob {
            run_as_user: Some(65534),
            run_as_group: Some(65534),
            ..script(
                "nobody",
                BUSYBOX,
                "id -u; id -g; echo written > /workspace/mine; echo r > /tekton/results/x",
            )
        },
        StepJob {
            memory_limit: Some(64 * 1024 * 1024),
            cpu_limit: Some(0.5),
            ..script(
                "limits",
                BUSYBOX,
                "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
            )
        },
    ];
    let r = run(&runner, fx.job(steps)).await;
    assert_eq!(r.step(0).status, StepStatus::Succeeded, "{:?}", r.step(0));
    assert_eq!(r.lines(0, Stream::Stdout), ["65534", "65534"]);
    assert!(fx.dirs.work.join("mine").exists());
    assert_eq!(r.step(1).status, StepStatus::Succeeded, "{:?}", r.step(1));
    assert_eq!(r.lines(1, Stream::Stdout), [(64 * 1024 * 1024).to_string()]);
}

#[tokio::test]
async fn a_step_over_its_memory_limit_is_reported_oom_killed() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    let fx = Fixture::new();
    // Reading 200 MB into one shell variable needs far more than 32 MiB.
    let steps = vec![StepJob {
        memory_limit: Some(32 * 1024 * 1024),
        ..script(
            "hog",
            BUSYBOX,
            "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}",
        )
    }];
    let r = run(&runner, fx.job(steps)).await;
    assert_eq!(r.step(0).status, StepStatus::Failed, "{:?}", r.step(0));
    let message = r.step(0).message.clone().unwrap_or_default();
    assert!(message.contains("OOMKilled"), "{message}");
}

#[tokio::test]
async fn steps_reach_sidecars_by_name_once_ready() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    let fx = Fixture::new();
    let mut job = fx.job(vec![script(
        "client",
        BUSYBOX,
        "wget -q -O - http://web:8080/index.html",
    )]);
    // The server only serves after a delay: the step must wait for the probe.
    job.sidecars = vec![StepJob {
        name: "web".into(),
        image: Some(BUSYBOX.into()),
        script: Some(
            "mkdir -p /tmp/www; echo served > /tmp/www/index.html; sleep 1; exec httpd -f -p 8080 -h /tmp/www"
                .into(),
        ),
        readiness: Some(Probe {
            check: ProbeCheck::Tcp(8080),
            initial_delay: Duration::ZERO,
            period: Duration::from_millis(200),
            timeout: Duration::from_secs(1),
        }),
        ..StepJob::default()
    }];
    let r = run(&runner, job).await;
    assert_eq!(
        r.step(0).status,
        StepStatus::Succeeded,
        "{:?} {:?} {:?}",
        r.step(0),
        r.lines(0, Stream::Stderr),
        runner.notices()
    );
    assert_eq!(r.lines(0, Stream::Stdout), ["served"]);

    // An exec probe, on a sidecar that writes the file it checks after a delay.
    let fx = Fixture::new();
    let mut job = fx.job(vec![script(
        "client",
        BUSYBOX,
        "wget -q -O - http://db:5432/index.html",
    )]);
    job.sidecars = vec![StepJob {
        name: "db".into(),
        image: Some(BUSYBOX.into()),
        script: Some("mkdir -p /tmp/www; echo pong > /tmp/www/index.html; sleep 1; httpd -p 5432 -h /tmp/www; touch /tmp/ready; exec sleep 600".into()),
        readiness: Some(Probe {
            check: ProbeCheck::Exec(vec!["test".into(), "-e".into(), "/tmp/ready".into()]),
            initial_delay: Duration::ZERO,
            period: Duration::from_millis(200),
            timeout: Duration::from_secs(1),
        }),
        ..StepJob::default()
    }];
    let r = run(&runner, job).await;
    assert_eq!(r.step(0).status, StepStatus::Succeeded, "{:?}", r.step(0));
    assert_eq!(r.lines(0, Stream::Stdout), ["pong"]);
}

#[tokio::test]
async fn stdout_config_copies_output_into_a_mounted_directory() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    let fx = Fixture::new();
    let steps = vec![
        StepJob {
            stdout_path: Some("/workspace/ws/out.txt".into()),
            stderr_path: Some("/tekton/results/err".into()),
            ..script("copy", BUSYBOX, "echo one; echo two >&2")
        },
        StepJob {
            stdout_path: Some("/etc/out.txt".into()),
            ..script("outside", BUSYBOX, "echo x")
        },
    ];
    let r = run(&runner, fx.job(steps)).await;
    assert_eq!(r.step(0).status, StepStatus::Succeeded, "{:?}", r.step(0));
    assert_eq!(
        std::fs::read_to_string(fx.path("ws/out.txt")).unwrap(),
        "one\n"
    );
    assert_eq!(
        std::fs::read_to_string(fx.dirs.results.join("err")).unwrap(),
        "two\n"
    );
    assert_eq!(r.step(1).status, StepStatus::Error);
    assert!(
        r.step(1)
            .message
            .as_deref()
            .unwrap_or("")
            .contains("/etc/out.txt"),
        "{:?}",
        r.step(1)
    );
}

#[tokio::test]
async fn the_reaper_removes_what_a_dead_runnel_left() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    let dead = format!("runnel-test-dead:{}:1", std::process::id());
    let label = format!("{OWNER_LABEL}={dead}");
    let suffix = std::process::id();
    docker(&[
        "network",
        "create",
        "--label",
        &label,
        &format!("runnel-reap-{suffix}"),
    ]);
    docker(&[
        "volume",
        "create",
        "--label",
        &label,
        &format!("runnel-reap-{suffix}"),
    ]);
    docker(&[
        "run",
        "-d",
        "--label",
        &label,
        "--name",
        &format!("runnel-reap-{suffix}"),
        BUSYBOX,
        "sleep",
        "600",
    ]);
    // A container of a live owner stays.
    let live = format!("{OWNER_LABEL}={}", owner());
    docker(&[
        "run",
        "-d",
        "--label",
        &live,
        "--name",
        &format!("runnel-live-{suffix}"),
        BUSYBOX,
        "sleep",
        "600",
    ]);
    let reaped = runner.reap(&|o| o != dead).await.unwrap();
    assert!(
        reaped.containers >= 1 && reaped.networks >= 1 && reaped.volumes >= 1,
        "{reaped:?}"
    );
    let filter = format!("label={label}");
    assert_eq!(docker(&["ps", "-aq", "--filter", &filter]), "");
    assert_eq!(docker(&["network", "ls", "-q", "--filter", &filter]), "");
    assert_eq!(docker(&["volume", "ls", "-q", "--filter", &filter]), "");
    let live_filter = format!("label={live}");
    assert_ne!(docker(&["ps", "-aq", "--filter", &live_filter]), "");
    docker(&["rm", "-f", &format!("runnel-live-{suffix}")]);
}

#[tokio::test]
async fn steps_without_a_command_run_the_image_entrypoint_as_tekton_resolves_it() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    // An image with an entrypoint and a cmd, made from the busybox image.
    let image = format!("runnel-test/echo-entry:{}", std::process::id());
    let base = docker(&["create", BUSYBOX]);
    docker(&[
        "commit",
        "--change",
        r#"ENTRYPOINT ["/bin/echo", "entry"]"#,
        "--change",
        r#"CMD ["from-cmd"]"#,
        &base,
        &image,
    ]);
    docker(&["rm", &base]);
    let fx = Fixture::new();
    let steps = vec![
        StepJob {
            name: "bare".into(),
            image: Some(image.clone()),
            ..StepJob::default()
        },
        StepJob {
            name: "args".into(),
            image: Some(image.clone()),
            args: vec!["given".into()],
            ..StepJob::default()
        },
    ];
    let r = run(&runner, fx.job(steps)).await;
    docker(&["rmi", &image]);
    assert_eq!(r.step(0).status, StepStatus::Succeeded, "{:?}", r.step(0));
    assert_eq!(r.lines(0, Stream::Stdout), ["entry from-cmd"]);
    assert_eq!(r.lines(1, Stream::Stdout), ["entry given"]);
}

#[tokio::test]
async fn a_step_writes_only_its_own_step_directory() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    let fx = Fixture::new();
    let steps = vec![
        script(
            "first",
            BUSYBOX,
            "mkdir -p /tekton/steps/step-first/results && echo mine > /tekton/steps/step-first/results/r",
        ),
        script(
            "second",
            BUSYBOX,
            "cat /tekton/steps/0/results/r\nif echo x > /tekton/steps/step-first/results/r; then exit 1; fi\n\
             if echo x > /tekton/steps/0/other; then exit 1; fi\necho refused",
        ),
    ];
    let r = run(&runner, fx.job(steps)).await;
    assert_eq!(r.step(0).status, StepStatus::Succeeded, "{:?}", r.step(0));
    assert_eq!(
        r.step(1).status,
        StepStatus::Succeeded,
        "{:?} {:?}",
        r.step(1),
        r.lines(1, Stream::Stderr)
    );
    assert_eq!(r.lines(1, Stream::Stdout), ["mine", "refused"]);
    assert_eq!(
        std::fs::read_to_string(fx.dirs.steps.join("step-first/results/r")).unwrap(),
        "mine\n"
    );
}

#[tokio::test]
async fn the_reaper_also_runs_periodically() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    let runner = std::sync::Arc::new(runner);
    let name = format!("runnel-reap-later-{}", std::process::id());
    let label = format!(
        "{OWNER_LABEL}=runnel-test-dead-later:{}:1",
        std::process::id()
    );
    docker(&[
        "run", "-d", "--label", &label, "--name", &name, BUSYBOX, "sleep", "600",
    ]);
    fn alive(owner: &str) -> bool {
        !owner.starts_with("runnel-test-dead-later:")
    }
    let reaper = runner.reap_periodically(Duration::from_millis(200), alive);
    let filter = format!("label={label}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if docker(&["ps", "-aq", "--filter", &filter]).is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the periodic reaper never removed {name}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    reaper.abort();
}

#[tokio::test]
async fn quick_steps_lose_no_output() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    let fx = Fixture::new();
    // Steps that print and exit at once: their output must all arrive, however fast the
    // container ends.
    let steps: Vec<StepJob> = (0..20)
        .map(|i| StepJob {
            name: format!("s{i}"),
            image: Some(BUSYBOX.into()),
            command: vec!["echo".into(), format!("line {i}")],
            ..StepJob::default()
        })
        .collect();
    let r = run(&runner, fx.job(steps)).await;
    for i in 0..20 {
        assert_eq!(r.step(i).status, StepStatus::Succeeded, "{:?}", r.step(i));
        assert_eq!(
            r.lines(i, Stream::Stdout),
            [format!("line {i}")],
            "step {i}"
        );
    }
}

#[tokio::test]
async fn on_the_host_network_steps_reach_loopback_and_sidecars_on_localhost() {
    let Some(runner) = runner_with(DockerConfig {
        network: Some("host".into()),
        ..config()
    })
    .await
    else {
        return;
    };
    // A server on this host's loopback, which a container on Docker's bridge cannot reach.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = conn.read(&mut request).unwrap();
        conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nloopback\n")
            .unwrap();
    });
    let sidecar_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let fx = Fixture::new();
    let mut job = fx.job(vec![script(
        "client",
        BUSYBOX,
        &format!(
            "wget -q -O - http://127.0.0.1:{port}/ && wget -q -O - http://localhost:{sidecar_port}/index.html"
        ),
    )]);
    job.sidecars = vec![StepJob {
        name: "web".into(),
        image: Some(BUSYBOX.into()),
        script: Some(format!(
            "mkdir -p /tmp/www; echo sidecar > /tmp/www/index.html; exec httpd -f -p 127.0.0.1:{sidecar_port} -h /tmp/www"
        )),
        readiness: Some(Probe {
            check: ProbeCheck::Tcp(sidecar_port),
            initial_delay: Duration::ZERO,
            period: Duration::from_millis(200),
            timeout: Duration::from_secs(1),
        }),
        ..StepJob::default()
    }];
    let id = job.id.clone();
    let r = run(&runner, job).await;
    assert_eq!(
        r.step(0).status,
        StepStatus::Succeeded,
        "{:?} {:?} {:?}",
        r.step(0),
        r.lines(0, Stream::Stderr),
        runner.notices()
    );
    assert_eq!(r.lines(0, Stream::Stdout), ["loopback", "sidecar"]);
    server.join().unwrap();
    // No network of the job's own was made, and nothing is left.
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

#[tokio::test]
async fn a_working_dir_inside_a_workspace_is_made_in_the_workspace() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    let fx = Fixture::new();
    std::fs::write(fx.path("ws/marker"), "here\n").unwrap();
    let mut at_root = script("root", BUSYBOX, "cat marker");
    at_root.working_dir = Some("/workspace/ws/.".into());
    let mut nested = script("nested", BUSYBOX, "pwd; echo made > file");
    nested.working_dir = Some("/workspace/ws/./sub/dir".into());
    let r = run(&runner, fx.job(vec![at_root, nested])).await;
    assert_eq!(
        r.step(0).status,
        StepStatus::Succeeded,
        "{:?} {:?}",
        r.step(0),
        r.lines(0, Stream::Stderr)
    );
    assert_eq!(r.lines(0, Stream::Stdout), ["here"]);
    assert_eq!(r.step(1).status, StepStatus::Succeeded, "{:?}", r.step(1));
    assert_eq!(
        std::fs::read_to_string(fx.path("ws/sub/dir/file")).unwrap(),
        "made\n"
    );
}

#[tokio::test]
async fn a_last_line_without_a_newline_is_kept() {
    let Some(runner) = runner_with(config()).await else {
        return;
    };
    let fx = Fixture::new();
    // The json-file driver writes an unterminated last line only when the output closes.
    let steps = vec![
        script("quick", BUSYBOX, "echo first; printf 'no newline'"),
        script("slow", BUSYBOX, "echo first; printf 'no newline'; sleep 1"),
        script("stderr", BUSYBOX, "printf 'to stderr' >&2"),
    ];
    let r = run(&runner, fx.job(steps)).await;
    for i in 0..2 {
        assert_eq!(r.step(i).status, StepStatus::Succeeded, "{:?}", r.step(i));
        assert_eq!(
            r.lines(i, Stream::Stdout),
            ["first", "no newline"],
            "step {i}"
        );
    }
    assert_eq!(r.lines(2, Stream::Stderr), ["to stderr"]);
    assert!(r.lines(2, Stream::Stdout).is_empty());
}
