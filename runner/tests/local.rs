//! The local backend, with real processes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use runnel_runner::local::LocalRunner;
use runnel_runner::{
    Event, OnError, Runner, StepJob, StepOutcome, StepStatus, Stream, TaskDirs, TaskJob,
    TaskOutcome,
};
use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A temporary directory holding one attempt's [`TaskDirs`].
struct Fixture {
    tmp: TempDir,
    dirs: TaskDirs,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = TempDir::new().unwrap();
        let dir = |name: &str| {
            let path = tmp.path().join(name);
            std::fs::create_dir_all(&path).unwrap();
            path
        };
        let dirs = TaskDirs {
            results: dir("results"),
            steps: dir("steps"),
            scripts: dir("scripts"),
            work: dir("work"),
            home: dir("home"),
        };
        Fixture { tmp, dirs }
    }

    fn path(&self, rest: &str) -> PathBuf {
        self.tmp.path().join(rest)
    }

    fn job(&self, steps: Vec<StepJob>) -> TaskJob {
        TaskJob {
            run: "run-1".into(),
            id: "attempt-1".into(),
            name: "t".into(),
            dirs: self.dirs.clone(),
            mounts: Vec::new(),
            steps,
            sidecars: Vec::new(),
            exit_codes: true,
            grace: Duration::from_secs(5),
        }
    }

    fn exit_code_file(&self, step: &str) -> Option<String> {
        std::fs::read_to_string(
            self.dirs
                .steps
                .join(format!("step-{step}"))
                .join("exitCode"),
        )
        .ok()
    }
}

fn script(name: &str, script: &str) -> StepJob {
    StepJob {
        name: name.into(),
        script: Some(script.into()),
        ..StepJob::default()
    }
}

fn command(name: &str, command: &[&str], args: &[&str]) -> StepJob {
    StepJob {
        name: name.into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        args: args.iter().map(|s| s.to_string()).collect(),
        ..StepJob::default()
    }
}

/// Everything a run reported.
struct Run {
    outcome: TaskOutcome,
    events: Vec<Event>,
    elapsed: Duration,
}

impl Run {
    fn status(&self, step: usize) -> StepStatus {
        self.outcome.steps[step].status
    }

    fn step(&self, step: usize) -> &StepOutcome {
        &self.outcome.steps[step]
    }

    fn message(&self, step: usize) -> &str {
        self.outcome.steps[step].message.as_deref().unwrap_or("")
    }

    /// The lines of one stream of one step, in order.
    fn lines(&self, step: usize, stream: Stream) -> Vec<Vec<u8>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Output {
                    step: s,
                    stream: st,
                    line,
                    ..
                } if *s == step && *st == stream => Some(line.clone()),
                _ => None,
            })
            .collect()
    }

    fn text(&self, step: usize, stream: Stream) -> Vec<String> {
        self.lines(step, stream)
            .into_iter()
            .map(|l| String::from_utf8(l).unwrap())
            .collect()
    }

    fn started(&self, step: usize) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::StepStarted { step: s, .. } if *s == step))
    }
}

/// Runs `job` on `runner`, calling `watch` on every event (with the cancellation token), and
/// checks what every run must satisfy: per step, `StepStarted` (if any) comes first and one
/// `StepFinished` comes last, carrying the outcome that is returned.
async fn run_watching(
    runner: &LocalRunner,
    job: TaskJob,
    cancel: CancellationToken,
    mut watch: impl FnMut(&Event, &CancellationToken) + Send + 'static,
) -> Run {
    let steps = job.steps.len();
    let (tx, mut rx) = mpsc::channel(16);
    let token = cancel.clone();
    let collector = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(event) = rx.recv().await {
            watch(&event, &token);
            events.push(event);
        }
        events
    });
    let start = Instant::now();
    let outcome = runner.run_task(job, tx, cancel).await;
    let elapsed = start.elapsed();
    let events = collector.await.unwrap();

    assert_eq!(outcome.steps.len(), steps, "one outcome per step");
    for step in 0..steps {
        let of_step: Vec<&Event> = events
            .iter()
            .filter(|e| match e {
                Event::StepStarted { step: s, .. }
                | Event::Output { step: s, .. }
                | Event::StepFinished { step: s, .. } => *s == step,
            })
            .collect();
        let starts = of_step
            .iter()
            .filter(|e| matches!(e, Event::StepStarted { .. }))
            .count();
        assert!(starts <= 1, "step {step} started {starts} times");
        if starts == 1 {
            assert!(
                matches!(of_step[0], Event::StepStarted { .. }),
                "step {step}: {of_step:?}"
            );
        } else {
            assert!(
                !of_step.iter().any(|e| matches!(e, Event::Output { .. })),
                "step {step} has output without a start"
            );
        }
        let finishes: Vec<&StepOutcome> = of_step
            .iter()
            .filter_map(|e| match e {
                Event::StepFinished { outcome, .. } => Some(outcome),
                _ => None,
            })
            .collect();
        assert_eq!(finishes, vec![&outcome.steps[step]], "step {step}");
        assert!(matches!(of_step.last(), Some(Event::StepFinished { .. })));
        assert_eq!(
            outcome.steps[step].started.is_some(),
            starts == 1,
            "step {step}: a started step has a start time"
        );
    }
    // Steps are reported in order.
    let order: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            Event::StepFinished { step, .. } => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(order, (0..steps).collect::<Vec<_>>());

    Run {
        outcome,
        events,
        elapsed,
    }
}

async fn run_job(runner: &LocalRunner, job: TaskJob) -> Run {
    run_watching(runner, job, CancellationToken::new(), |_, _| {}).await
}

/// Cancels the token when `line` appears on a step's stdout.
fn cancel_on(line: &'static str) -> impl FnMut(&Event, &CancellationToken) + Send + 'static {
    move |event, token| {
        if let Event::Output { line: l, .. } = event
            && l == line.as_bytes()
        {
            token.cancel();
        }
    }
}

/// Whether process `pid` is gone (or a zombie, which is dead but not yet waited for).
#[cfg(target_os = "linux")]
fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // `PID (COMM) STATE ...`: the state follows the last `)`.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

#[cfg(target_os = "linux")]
async fn wait_gone(pid: i32) -> bool {
    for _ in 0..100 {
        if process_gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_runner_is_local_and_steps_see_host_paths() {
    let runner = LocalRunner::new();
    assert_eq!(runner.name(), "local");
    assert_eq!(
        runner.path_in_step(Path::new("/tmp/x/results"), "/tekton/results"),
        "/tmp/x/results"
    );
}

#[tokio::test]
async fn a_script_with_a_shebang_runs_by_it() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let job = fx.job(vec![
        // `cat` prints the script: proof that the kernel ran it by its shebang, untouched.
        script("cat", "#!/bin/cat\nhello from cat\n"),
        // `sh` is dash here: only bash sets BASH_VERSION.
        script(
            "bash",
            "#!/usr/bin/env bash\necho \"${BASH_VERSION:+bash}\"\n",
        ),
        script(
            "python",
            "#!/usr/bin/env python3\nimport sys\nprint('python', sys.version_info[0])\n",
        ),
    ]);
    let run = run_job(&runner, job).await;
    assert_eq!(run.status(0), StepStatus::Succeeded, "{}", run.message(0));
    assert_eq!(
        run.text(0, Stream::Stdout),
        ["#!/bin/cat", "hello from cat"]
    );
    assert_eq!(run.status(1), StepStatus::Succeeded, "{}", run.message(1));
    assert_eq!(run.text(1, Stream::Stdout), ["bash"]);
    assert_eq!(run.status(2), StepStatus::Succeeded, "{}", run.message(2));
    assert_eq!(run.text(2, Stream::Stdout), ["python 3"]);

    let written = fx.dirs.scripts.join("00-cat");
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        "#!/bin/cat\nhello from cat\n"
    );
    let mode = std::fs::metadata(&written).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    assert!(fx.dirs.scripts.join("02-python").is_file());
}

#[tokio::test]
async fn a_script_without_a_shebang_runs_by_bash_with_set_e() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let job = fx.job(vec![script("stops", "echo before\nfalse\necho after\n")]);
    let run = run_job(&runner, job).await;
    assert_eq!(run.status(0), StepStatus::Failed);
    assert_eq!(run.step(0).exit_code, Some(1));
    assert_eq!(run.message(0), "exited with code 1");
    assert_eq!(run.text(0, Stream::Stdout), ["before"]);
    // bash when the host has it (busybox ash and bash accept `==`; dash does not).
    let shell = if std::path::Path::new("/bin/bash").exists() {
        "/bin/bash"
    } else {
        "/bin/sh"
    };
    assert_eq!(
        std::fs::read_to_string(fx.dirs.scripts.join("00-stops")).unwrap(),
        format!("#!{shell}\nset -e\necho before\nfalse\necho after\n")
    );
}

#[tokio::test]
async fn a_sh_shebang_script_accepts_double_equals_in_test() {
    // Written for an image's sh (busybox ash, bash); the host's dash would reject `==`.
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let job = fx.job(vec![script(
        "eq",
        "#!/usr/bin/env sh\nif [ 1 == 1 ]; then echo same; fi\n",
    )]);
    let run = run_job(&runner, job).await;
    assert_eq!(run.status(0), StepStatus::Succeeded, "{:?}", run.step(0));
    assert_eq!(run.text(0, Stream::Stdout), ["same"]);
}

#[tokio::test]
async fn a_script_without_a_shebang_accepts_double_equals_in_test() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let job = fx.job(vec![script(
        "eq",
        "if [ 123 == 123 ]; then echo same; fi\n",
    )]);
    let run = run_job(&runner, job).await;
    assert_eq!(run.status(0), StepStatus::Succeeded);
    assert_eq!(run.text(0, Stream::Stdout), ["same"]);
}

#[tokio::test]
async fn a_script_gets_the_args() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let mut plain = script("plain", "echo \"$#:$1:$2\"");
    plain.args = vec!["a b".into(), "c".into()];
    let mut shebang = script("shebang", "#!/bin/sh\necho \"$#:$1\"\n");
    shebang.args = vec!["x".into()];
    let run = run_job(&runner, fx.job(vec![plain, shebang])).await;
    assert_eq!(run.text(0, Stream::Stdout), ["2:a b:c"]);
    assert_eq!(run.text(1, Stream::Stdout), ["1:x"]);
}

#[tokio::test]
async fn command_and_args_run_from_path() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let job = fx.job(vec![
        command("printf", &["printf"], &["%s\\n", "a b", "c"]),
        command("sh", &["sh", "-c"], &["echo \"$0 $1\"", "zero", "one"]),
        // Without a command, the first arg is the program.
        command("args-only", &[], &["echo", "hi", "there"]),
    ]);
    let run = run_job(&runner, job).await;
    assert_eq!(run.text(0, Stream::Stdout), ["a b", "c"]);
    assert_eq!(run.text(1, Stream::Stdout), ["zero one"]);
    assert_eq!(run.text(2, Stream::Stdout), ["hi there"]);
    assert!(run.outcome.steps.iter().all(|o| o.status.succeeded()));
}

#[tokio::test]
async fn env_is_the_hosts_with_the_steps_applied_in_order() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let mut step = script(
        "env",
        "echo \"$RUNNEL_TEST_VAR\"\necho \"$HOME\"\ntest -n \"$PATH\" && echo inherited\n",
    );
    step.env = vec![
        ("RUNNEL_TEST_VAR".into(), "one".into()),
        ("HOME".into(), "/nowhere".into()),
        ("RUNNEL_TEST_VAR".into(), "two".into()),
    ];
    let run = run_job(&runner, fx.job(vec![step])).await;
    assert_eq!(
        run.text(0, Stream::Stdout),
        ["two", "/nowhere", "inherited"]
    );
}

#[tokio::test]
async fn working_dirs_default_to_work_and_are_created() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let elsewhere = fx.path("elsewhere/deep");
    let mut relative = script("relative", "pwd -P");
    relative.working_dir = Some("sub/dir".into());
    let mut absolute = script("absolute", "pwd -P");
    absolute.working_dir = Some(elsewhere.to_string_lossy().into_owned());
    let job = fx.job(vec![script("default", "pwd -P"), relative, absolute]);
    let run = run_job(&runner, job).await;
    let canonical = |p: &Path| p.canonicalize().unwrap().to_string_lossy().into_owned();
    assert_eq!(run.text(0, Stream::Stdout), [canonical(&fx.dirs.work)]);
    assert_eq!(
        run.text(1, Stream::Stdout),
        [canonical(&fx.dirs.work.join("sub/dir"))]
    );
    assert_eq!(run.text(2, Stream::Stdout), [canonical(&elsewhere)]);
}

#[tokio::test]
async fn output_lines_arrive_in_order_on_their_stream() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let step = script(
        "out",
        "echo one\necho err1 >&2\necho two\nprintf 'cr\\r\\n'\necho >&2\nprintf '\\377\\376\\n'\n\
         printf 'err last' >&2\nprintf 'last'\n",
    );
    let run = run_job(&runner, fx.job(vec![step])).await;
    assert_eq!(run.status(0), StepStatus::Succeeded, "{}", run.message(0));
    assert_eq!(
        run.lines(0, Stream::Stdout),
        [
            b"one".to_vec(),
            b"two".to_vec(),
            b"cr\r".to_vec(),
            vec![0xff, 0xfe],
            b"last".to_vec()
        ]
    );
    assert_eq!(
        run.lines(0, Stream::Stderr),
        [b"err1".to_vec(), Vec::new(), b"err last".to_vec()]
    );
}

#[tokio::test]
async fn many_lines_and_a_huge_one_all_arrive() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let job = fx.job(vec![
        script("many", "seq 1 20000"),
        script(
            "huge",
            "head -c 3000000 /dev/zero | tr '\\0' a; echo; echo end",
        ),
    ]);
    let run = run_job(&runner, job).await;
    let expected: Vec<String> = (1..=20000).map(|n| n.to_string()).collect();
    assert_eq!(run.text(0, Stream::Stdout), expected);
    // A line longer than the runner's limit (1 MiB) arrives in pieces.
    let mut huge = run.lines(1, Stream::Stdout);
    assert_eq!(huge.pop(), Some(b"end".to_vec()));
    assert!(huge.len() > 1, "{} pieces", huge.len());
    assert!(huge.iter().all(|piece| piece.len() <= 1 << 20));
    assert_eq!(huge.concat(), vec![b'a'; 3_000_000]);
}

#[tokio::test]
async fn exit_codes_are_reported_and_written() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let mut three = script("three", "exit 3");
    three.on_error = OnError::Continue;
    let mut killed = script("killed", "kill -9 $$");
    killed.on_error = OnError::Continue;
    let job = fx.job(vec![script("ok", "true"), three, killed]);
    let run = run_job(&runner, job).await;

    assert_eq!(run.status(0), StepStatus::Succeeded);
    assert_eq!(run.step(0).exit_code, Some(0));
    assert_eq!(run.step(0).message, None);
    assert_eq!(fx.exit_code_file("ok").as_deref(), Some("0"));

    assert_eq!(run.status(1), StepStatus::Failed);
    assert_eq!(run.step(1).exit_code, Some(3));
    assert_eq!(run.message(1), "exited with code 3");
    assert_eq!(fx.exit_code_file("three").as_deref(), Some("3"));

    assert_eq!(run.status(2), StepStatus::Failed);
    assert_eq!(run.step(2).exit_code, Some(128 + 9));
    assert_eq!(run.message(2), "killed by signal 9 (SIGKILL)");
    assert_eq!(fx.exit_code_file("killed").as_deref(), Some("137"));
}

#[tokio::test]
async fn a_failing_step_skips_the_rest_unless_on_error_continue() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let steps = vec![
        script("first", "exit 2"),
        script("second", "echo second"),
        script("third", "echo third"),
    ];
    let run = run_job(&runner, fx.job(steps.clone())).await;
    assert_eq!(run.status(0), StepStatus::Failed);
    for step in [1, 2] {
        assert_eq!(run.status(step), StepStatus::Skipped);
        assert_eq!(run.message(step), "not run: step `first` failed");
        assert_eq!(run.step(step).exit_code, None);
        assert!(!run.started(step));
        assert!(run.lines(step, Stream::Stdout).is_empty());
    }
    assert_eq!(fx.exit_code_file("second"), None);
    assert!(!run.outcome.succeeded(&steps));

    let fx = Fixture::new();
    let mut steps = steps;
    steps[0].on_error = OnError::Continue;
    let run = run_job(&runner, fx.job(steps.clone())).await;
    assert_eq!(run.status(0), StepStatus::Failed);
    assert_eq!(fx.exit_code_file("first").as_deref(), Some("2"));
    assert_eq!(run.status(1), StepStatus::Succeeded);
    assert_eq!(run.text(1, Stream::Stdout), ["second"]);
    assert_eq!(run.status(2), StepStatus::Succeeded);
    assert!(run.outcome.succeeded(&steps));
}

#[tokio::test]
async fn a_step_timeout_stops_the_step() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let mut slow = script("slow", "echo going\nsleep 30\necho never");
    slow.timeout = Some(Duration::from_millis(500));
    let mut slow_but_tolerated = slow.clone();
    slow_but_tolerated.name = "tolerated".into();
    slow_but_tolerated.on_error = OnError::Continue;
    let job = fx.job(vec![
        slow_but_tolerated,
        script("between", "echo between"),
        slow,
        script("after", "echo after"),
    ]);
    let run = run_job(&runner, job).await;
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
    for step in [0, 2] {
        assert_eq!(run.status(step), StepStatus::TimedOut);
        assert_eq!(run.message(step), "timed out after 500ms");
        assert_eq!(run.text(step, Stream::Stdout), ["going"]);
        // `sh` and `sleep` both die of the SIGTERM.
        assert_eq!(run.step(step).exit_code, Some(128 + 15));
    }
    assert_eq!(fx.exit_code_file("slow").as_deref(), Some("143"));
    assert_eq!(run.status(1), StepStatus::Succeeded);
    assert_eq!(run.status(3), StepStatus::Skipped);
    assert_eq!(run.message(3), "not run: step `slow` timed out");
}

#[tokio::test]
async fn cancelling_sends_sigterm_to_the_running_step() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let mut job = fx.job(vec![
        script(
            "trapper",
            // bash runs the trap only once its foreground command has ended: the signal
            // must reach the whole process group. "ready" comes from that command itself,
            // once it runs with the default disposition of SIGTERM (were the signal to
            // arrive while bash forks, the child would lose it and sleep on).
            "#!/bin/bash\ntrap 'echo got TERM; exit 0' TERM\nsh -c 'echo ready; exec sleep 30'\n\
             echo not reached",
        ),
        script("after", "echo after"),
    ]);
    job.grace = Duration::from_secs(20);
    let run = run_watching(&runner, job, CancellationToken::new(), cancel_on("ready")).await;
    // Well within the grace period: the step stopped on SIGTERM, it was not killed.
    assert!(run.elapsed < Duration::from_secs(15), "{:?}", run.elapsed);
    assert_eq!(run.status(0), StepStatus::Cancelled);
    assert_eq!(run.text(0, Stream::Stdout), ["ready", "got TERM"]);
    assert_eq!(run.step(0).exit_code, Some(0));
    assert_eq!(run.message(0), "stopped because the task was cancelled");
    assert_eq!(fx.exit_code_file("trapper").as_deref(), Some("0"));
    assert_eq!(run.status(1), StepStatus::Skipped);
    assert_eq!(run.message(1), "not run: the task was cancelled");
    assert!(!run.started(1));
}

#[tokio::test]
async fn a_step_ignoring_sigterm_is_killed_after_the_grace_period() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let mut job = fx.job(vec![
        script(
            "stubborn",
            "trap '' TERM\necho ready\nsleep 30\necho not reached",
        ),
        script("after", "echo after"),
    ]);
    job.grace = Duration::from_millis(300);
    let run = run_watching(&runner, job, CancellationToken::new(), cancel_on("ready")).await;
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
    assert_eq!(run.status(0), StepStatus::Cancelled);
    assert_eq!(run.text(0, Stream::Stdout), ["ready"]);
    assert_eq!(run.step(0).exit_code, Some(128 + 9));
    assert_eq!(
        run.message(0),
        "stopped because the task was cancelled; killed with SIGKILL after the 300ms grace period"
    );
    assert_eq!(run.status(1), StepStatus::Skipped);
}

#[tokio::test]
async fn a_job_cancelled_before_it_starts_runs_nothing() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let marker = fx.path("ran");
    let job = fx.job(vec![
        script("a", &format!("touch '{}'", marker.display())),
        script("b", "true"),
    ]);
    let run = run_watching(&runner, job, cancel, |_, _| {}).await;
    for step in [0, 1] {
        assert_eq!(run.status(step), StepStatus::Skipped);
        assert_eq!(run.message(step), "not run: the task was cancelled");
    }
    assert!(!marker.exists());
}

#[tokio::test]
async fn steps_that_cannot_start_are_errors() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let not_executable = fx.path("data.txt");
    std::fs::write(&not_executable, "not a program").unwrap();
    let not_executable = not_executable.to_string_lossy().into_owned();
    let mut no_entrypoint = StepJob {
        name: "image-only".into(),
        image: Some("alpine:3.20".into()),
        ..StepJob::default()
    };
    no_entrypoint.on_error = OnError::Continue; // Errors stop the task regardless.

    let missing = command("missing", &["runnel-no-such-binary"], &["x"]);
    let run = run_job(&runner, fx.job(vec![missing, script("after", "true")])).await;
    assert_eq!(run.status(0), StepStatus::Error);
    assert!(!run.started(0));
    assert_eq!(run.step(0).exit_code, None);
    assert_eq!(
        run.message(0),
        "cannot run `runnel-no-such-binary`: No such file or directory (os error 2)"
    );
    assert_eq!(fx.exit_code_file("missing"), None);
    assert_eq!(run.status(1), StepStatus::Skipped);
    assert_eq!(
        run.message(1),
        "not run: step `missing` could not be started"
    );

    let run = run_one(&runner, &fx, command("denied", &[&not_executable], &[])).await;
    assert_eq!(run.status, StepStatus::Error);
    let message = run.message.unwrap();
    assert!(message.contains(&not_executable), "{message}");
    assert!(message.contains("Permission denied"), "{message}");

    let run = run_one(&runner, &fx, script("interp", "#!/runnel/no/interpreter\n")).await;
    assert_eq!(run.status, StepStatus::Error);
    let message = run.message.unwrap();
    assert!(message.contains("01-interp"), "{message}");
    assert!(message.contains("interpreter"), "{message}");

    let run = run_one(&runner, &fx, no_entrypoint).await;
    assert_eq!(run.status, StepStatus::Error);
    assert_eq!(
        run.message.as_deref(),
        Some(
            "step has no script and no command; the local runner cannot use an image's \
             entrypoint (image alpine:3.20)"
        )
    );

    let mut bad_dir = script("bad-dir", "true");
    bad_dir.working_dir = Some(not_executable.clone());
    let run = run_one(&runner, &fx, bad_dir).await;
    assert_eq!(run.status, StepStatus::Error);
    let message = run.message.unwrap();
    assert!(
        message.starts_with("cannot create the working directory"),
        "{message}"
    );
}

/// Runs `step` as the second step of a job whose first step does nothing, and returns its
/// outcome.
async fn run_one(runner: &LocalRunner, fx: &Fixture, step: StepJob) -> StepOutcome {
    let run = run_job(runner, fx.job(vec![script("first", "true"), step])).await;
    run.outcome.steps[1].clone()
}

#[tokio::test]
async fn results_written_by_a_step_stay() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let results = runner.path_in_step(&fx.dirs.results, "/tekton/results");
    let job = fx.job(vec![script(
        "produce",
        &format!("printf hello > '{results}/greeting'"),
    )]);
    let run = run_job(&runner, job).await;
    assert_eq!(run.status(0), StepStatus::Succeeded, "{}", run.message(0));
    assert_eq!(
        std::fs::read_to_string(fx.dirs.results.join("greeting")).unwrap(),
        "hello"
    );
}

#[tokio::test]
async fn streams_are_copied_to_their_paths() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let stderr_copy = fx.path("copies/nested/err.txt");
    let mut step = script("copy", "echo one\necho oops >&2\nprintf 'two'");
    // Relative to the working directory.
    step.stdout_path = Some("out/stdout.txt".into());
    step.stderr_path = Some(stderr_copy.to_string_lossy().into_owned());
    let run = run_job(&runner, fx.job(vec![step])).await;
    assert_eq!(run.status(0), StepStatus::Succeeded, "{}", run.message(0));
    assert_eq!(run.text(0, Stream::Stdout), ["one", "two"]);
    assert_eq!(
        std::fs::read_to_string(fx.dirs.work.join("out/stdout.txt")).unwrap(),
        "one\ntwo"
    );
    assert_eq!(std::fs::read_to_string(stderr_copy).unwrap(), "oops\n");
}

#[tokio::test]
async fn notices_list_the_ignored_images() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    assert!(runner.notices().is_empty());
    run_job(&runner, fx.job(vec![script("plain", "true")])).await;
    assert!(runner.notices().is_empty());

    let with_image = |name: &str, image: &str| StepJob {
        image: Some(image.into()),
        ..script(name, "true")
    };
    let job = fx.job(vec![
        with_image("a", "python:3.12"),
        with_image("b", "alpine:3"),
        script("c", "true"),
    ]);
    run_job(&runner, job).await;
    run_job(&runner, fx.job(vec![with_image("d", "alpine:3")])).await;
    assert_eq!(
        runner.notices(),
        [
            "the local runner ignored the images of 3 step(s): alpine:3, python:3.12 (steps ran on this host)"
        ]
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn background_processes_neither_hang_the_step_nor_outlive_it() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let job = fx.job(vec![
        // Holds stdout and stderr open, in the step's process group.
        script("background", "sleep 30 &\necho $!\necho done"),
        // Holds them open from a session of its own, out of the runner's reach.
        script("escaped", "setsid sleep 30 &\necho $!\necho done"),
    ]);
    let run = run_job(&runner, job).await;
    let escaped: i32 = run.text(1, Stream::Stdout)[0].parse().unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(escaped),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
    assert_eq!(run.status(0), StepStatus::Succeeded);
    assert_eq!(run.status(1), StepStatus::Succeeded);
    assert_eq!(run.text(0, Stream::Stdout)[1], "done");
    assert_eq!(run.text(1, Stream::Stdout)[1], "done");
    let background: i32 = run.text(0, Stream::Stdout)[0].parse().unwrap();
    assert!(
        wait_gone(background).await,
        "pid {background} outlived its step"
    );
}

#[tokio::test]
async fn steps_run_even_when_nobody_listens() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let job = fx.job(vec![script("loud", "seq 1 50000"), script("next", "true")]);
    let outcome = runner.run_task(job, tx, CancellationToken::new()).await;
    assert_eq!(outcome.steps[0].status, StepStatus::Succeeded);
    assert_eq!(outcome.steps[1].status, StepStatus::Succeeded);
}

#[tokio::test]
async fn sidecars_run_alongside_the_steps_and_are_stopped_after() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let pid_file = fx.path("sidecar.pid");
    let mut job = fx.job(vec![script(
        "wait-for-sidecar",
        &format!(
            "for i in $(seq 100); do test -s '{0}' && exit 0; sleep 0.05; done; exit 1",
            pid_file.display()
        ),
    )]);
    job.sidecars = vec![
        script(
            "server",
            &format!(
                "echo $$ > '{}.tmp'\nmv '{0}.tmp' '{0}'\nexec sleep 30",
                pid_file.display()
            ),
        ),
        command("broken", &["runnel-no-such-sidecar"], &[]),
    ];
    let run = run_job(&runner, job).await;
    assert_eq!(run.status(0), StepStatus::Succeeded, "{}", run.message(0));
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
    let pid = read_pid(&pid_file);
    // The sidecar was stopped and waited for: its pid no longer exists.
    assert_eq!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    );
    assert!(fx.dirs.scripts.join("sidecar-00-server").is_file());
    assert_eq!(
        runner.notices(),
        [
            "sidecar `broken` of `t` was not started: cannot run `runnel-no-such-sidecar`: \
          No such file or directory (os error 2)"
        ]
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn dropping_the_run_kills_the_running_step() {
    let fx = Fixture::new();
    let runner = LocalRunner::new();
    let pid_file = fx.path("step.pid");
    let job = fx.job(vec![script(
        "long",
        &format!(
            "echo $$ > '{}.tmp'\nmv '{0}.tmp' '{0}'\nexec sleep 30",
            pid_file.display()
        ),
    )]);
    let (tx, _rx) = mpsc::channel(16);
    let pid_appears = async {
        while !pid_file.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        _ = runner.run_task(job, tx, CancellationToken::new()) => panic!("the step ended"),
        () = pid_appears => {}
    }
    let pid = read_pid(&pid_file);
    assert!(wait_gone(pid).await, "pid {pid} outlived the dropped run");
}
