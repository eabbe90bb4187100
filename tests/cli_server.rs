//! The CLI against a server, through the real binaries: `runnel serve` (local runner) with a
//! directory of pipelines, and `runnel start`, `runs`, `describe`, `logs` (stored and `-f`)
//! and `cancel` pointed at it with `RUNNEL_SERVER` and `RUNNEL_TOKEN`; then what a user sees
//! with a bad token, a read-only token, or no server at all.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// A pipeline of two tasks: one prints twenty lines, a little at a time; the next prints one.
const LINES: &str = r#"apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: lines
spec:
  tasks:
    - name: count
      taskSpec:
        steps:
          - name: print
            image: busybox
            script: |
              #!/bin/sh
              i=1
              while [ $i -le 20 ]; do echo "line $i"; i=$((i+1)); sleep 0.05; done
    - name: after
      runAfter: [count]
      taskSpec:
        steps:
          - name: done
            image: busybox
            script: |
              #!/bin/sh
              echo "counted"
"#;

/// A pipeline that waits (until cancelled), with a finally task.
const SLOW: &str = r#"apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: slow
spec:
  tasks:
    - name: wait
      taskSpec:
        steps:
          - name: sleep
            image: busybox
            script: |
              #!/bin/sh
              echo "waiting"
              sleep 60
  finally:
    - name: cleanup
      taskSpec:
        steps:
          - name: tidy
            image: busybox
            script: |
              #!/bin/sh
              echo "cleaned up"
"#;

struct Setup {
    /// Holds the server's files; removed last.
    _root: tempfile::TempDir,
    server: Server,
    admin: String,
    viewer: String,
    cwd: PathBuf,
}

/// `runnel serve` with `[server] pipelines` holding the project's hello.yaml, LINES and SLOW,
/// plus `extra` config lines; a read-write and a read-only token.
fn setup(extra: &str) -> Setup {
    let root = tempfile::tempdir().unwrap();
    let pipelines = root.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).unwrap();
    let hello = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/hello.yaml");
    std::fs::copy(&hello, pipelines.join("hello.yaml")).unwrap();
    std::fs::write(pipelines.join("lines.yaml"), LINES).unwrap();
    std::fs::write(pipelines.join("slow.yaml"), SLOW).unwrap();
    let config = root.path().join("runnel.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\npipelines = [\"{}\"]\n{extra}\n",
            pipelines.display()
        ),
    )
    .unwrap();
    let state = root.path().join("state");
    let admin = token(&state, "cli", false);
    let viewer = token(&state, "viewer", true);
    let server = serve(root.path(), &config, &state);
    // The CLI runs elsewhere, with no local records to fall back on.
    let cwd = root.path().join("elsewhere");
    std::fs::create_dir_all(&cwd).unwrap();
    Setup {
        _root: root,
        server,
        admin,
        viewer,
        cwd,
    }
}

impl Setup {
    fn command(&self, token: Option<&str>, args: &[&str]) -> std::process::Command {
        let mut c = runnel();
        c.args(args)
            .current_dir(&self.cwd)
            .env("RUNNEL_SERVER", &self.server.base);
        match token {
            Some(t) => c.env("RUNNEL_TOKEN", t),
            None => c.env_remove("RUNNEL_TOKEN"),
        };
        c
    }

    /// `runnel ARGS` with the read-write token.
    fn cli(&self, args: &[&str]) -> Output {
        self.command(Some(&self.admin), args).output().unwrap()
    }

    fn server_log(&self) -> String {
        self.server.log.lock().unwrap().join("\n")
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn all(out: &Output) -> String {
    format!("{}\n--- stderr ---\n{}", stdout(out), stderr(out))
}

/// The id `runnel start` printed: `Run started: NAME (ID)`.
fn started_id(out: &Output) -> String {
    let text = stdout(out);
    let line = text
        .lines()
        .find(|l| l.starts_with("Run started: "))
        .unwrap_or_else(|| panic!("no `Run started` line:\n{}", all(out)));
    let open = line.rfind('(').unwrap();
    line[open + 1..line.len() - 1].to_owned()
}

/// The `[task/step] text` lines of an output.
fn log_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with('['))
        .map(str::to_owned)
        .collect()
}

/// Polls `check` until it gives a value, for up to a minute.
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) => assert!(Instant::now() < deadline, "{what}; last seen:\n{last}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `runnel runs` line of a run.
fn listed(s: &Setup, id: &str) -> Option<String> {
    let out = s.cli(&["runs"]);
    assert!(out.status.success(), "{}", all(&out));
    stdout(&out)
        .lines()
        .find(|l| l.starts_with(&id[..13]))
        .map(str::to_owned)
}

#[test]
fn start_follow_then_runs_describe_and_logs_read_the_server() {
    let s = setup("");

    let out = s.cli(&["start", "hello", "-p", "who=cli", "--follow"]);
    let text = all(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n--- server ---\n{}",
        s.server_log()
    );
    let id = started_id(&out);
    // The name printed at the start is the run's name for good.
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix("Run started: "))
        .and_then(|l| l.split(" (").next())
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned();
    assert!(name.starts_with("hello-run-"), "{text}");
    let followed = log_lines(&stdout(&out));
    for want in [
        "[greet/say] hello cli",
        "[shout/upper] HELLO CLI",
        "[count/wc] 9",
        "[join/join] hello cli (9 letters)",
        "[report/report] pipeline finished: Succeeded",
    ] {
        assert!(followed.iter().any(|l| l == want), "no `{want}`:\n{text}");
    }
    assert_eq!(followed.len(), 5, "each line once:\n{text}");
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("✔ hello-run-") && l.contains(": Succeeded (Succeeded)")),
        "{text}"
    );

    // runs: listed Succeeded; the filters go to the server.
    let line = listed(&s, &id).unwrap_or_else(|| panic!("{id} not listed"));
    assert!(line.contains(&name), "{line}");
    assert!(line.contains("PipelineRun"), "{line}");
    assert!(line.contains("Succeeded"), "{line}");
    let failed = s.cli(&["runs", "--status", "Failed"]);
    assert!(failed.status.success(), "{}", all(&failed));
    assert!(!stdout(&failed).contains(&id[..13]), "{}", all(&failed));
    let succeeded = s.cli(&["runs", "--status", "Succeeded", "-n", "1"]);
    assert!(
        stdout(&succeeded).contains(&id[..13]),
        "{}",
        all(&succeeded)
    );
    let other_repo = s.cli(&["runs", "--repo", "acme/shop", "--branch", "main"]);
    assert!(other_repo.status.success(), "{}", all(&other_repo));
    assert_eq!(
        stdout(&other_repo).lines().count(),
        1,
        "{}",
        all(&other_repo)
    );
    let bad_status = s.cli(&["runs", "--status", "Sideways"]);
    assert_ne!(bad_status.status.code(), Some(0));
    assert!(
        stderr(&bad_status).contains("--status"),
        "{}",
        all(&bad_status)
    );

    // describe: the run, its tasks and steps.
    let described = s.cli(&["describe", &id]);
    let d = all(&described);
    assert_eq!(described.status.code(), Some(0), "{d}");
    for part in [
        &format!("Id:        {id}"),
        "Status:    Succeeded",
        "Kind:      PipelineRun of hello",
        "who = \"cli\"",
        "greet",
        "shout",
        "count",
        "join",
        "report (finally)",
        "step say  Succeeded",
    ] {
        assert!(d.contains(part), "describe lacks {part}:\n{d}");
    }
    let unknown = s.cli(&["describe", "no-such-run"]);
    assert_ne!(unknown.status.code(), Some(0));
    assert!(
        stderr(&unknown).contains("no run with id, id prefix or name `no-such-run`"),
        "{}",
        all(&unknown)
    );

    // logs: the stored lines, the same as followed; filtered; with timestamps.
    let logs = s.cli(&["logs", &id]);
    assert_eq!(logs.status.code(), Some(0), "{}", all(&logs));
    let mut stored = log_lines(&stdout(&logs));
    let mut live = followed.clone();
    stored.sort();
    live.sort();
    assert_eq!(stored, live, "{}", all(&logs));
    let greet = s.cli(&["logs", &id, "--task", "greet"]);
    assert_eq!(log_lines(&stdout(&greet)), vec!["[greet/say] hello cli"]);
    let stamped = s.cli(&["logs", &id, "--step", "upper", "-t"]);
    let stamped = stdout(&stamped);
    let rest = stamped
        .strip_prefix("[shout/upper] ")
        .unwrap_or_else(|| panic!("{stamped}"));
    let (at, text) = rest.trim_end().split_once(' ').unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(at).is_ok(),
        "{stamped}"
    );
    assert_eq!(text, "HELLO CLI");
    // -f on a run that is over prints it all and ends.
    let again = s.cli(&["logs", &id, "-f"]);
    assert_eq!(again.status.code(), Some(0), "{}", all(&again));
    let mut again = log_lines(&stdout(&again));
    again.sort();
    assert_eq!(again, live);

    // Several lines, live, in order, task after task.
    let out = s.cli(&["start", "lines", "-f"]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let mut want: Vec<String> = (1..=20)
        .map(|i| format!("[count/print] line {i}"))
        .collect();
    want.push("[after/done] counted".to_owned());
    assert_eq!(log_lines(&stdout(&out)), want, "{}", all(&out));

    // A run that fails: --follow exits 1.
    let out = s.cli(&["start", "no-such-pipeline", "--follow"]);
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    assert!(
        stdout(&out).contains("Failed (CouldntGetPipeline) — no pipeline `no-such-pipeline`"),
        "{}",
        all(&out)
    );
}

#[test]
fn cancel_stops_a_running_run_and_a_queued_one() {
    // One run at a time, so that a second one waits in the queue.
    let s = setup("max_runs = 1");
    let a = started_id(&s.cli(&["start", "slow"]));
    wait_for("the first run's step to run", || {
        let d = stdout(&s.cli(&["describe", &a]));
        if d.contains("step sleep  Running") {
            Ok(())
        } else {
            Err(d)
        }
    });
    // Follow it while it runs.
    let mut follower = s
        .command(Some(&s.admin), &["logs", &a, "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = started_id(&s.cli(&["start", "slow"]));
    let queued = s.cli(&["runs", "--status", "Queued"]);
    assert!(stdout(&queued).contains(&b[..13]), "{}", all(&queued));

    // The queued one: it will not start.
    let out = s.cli(&["cancel", &b]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("run {b} was queued: it will not start (Cancelled)")
    );
    // The running one: stopped; finally does not run.
    let out = s.cli(&["cancel", &a]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(
        stdout(&out).contains(&format!("run {a} is being stopped")),
        "{}",
        all(&out)
    );
    for id in [&a, &b] {
        wait_for("the runs to be Cancelled", || match listed(&s, id) {
            Some(l) if l.contains("Cancelled") => Ok(()),
            other => Err(format!("{other:?}")),
        });
    }
    let described = stdout(&s.cli(&["describe", &a]));
    assert!(described.contains("Status:    Cancelled"), "{described}");
    assert!(
        !described.contains("cleanup (finally)  Succeeded"),
        "{described}"
    );

    // The follower saw the line, then the end, and stopped by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = follower.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = follower.kill();
            panic!("`runnel logs -f` did not end with the run");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut followed = String::new();
    follower
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut followed)
        .unwrap();
    assert!(status.success(), "{followed}");
    assert!(followed.contains("[wait/sleep] waiting\n"), "{followed}");

    // Nothing left to cancel: exit 1 with the server's words.
    let out = s.cli(&["cancel", &a]);
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    assert!(
        stderr(&out).contains("there is nothing to cancel"),
        "{}",
        all(&out)
    );

    // --finally: the finally task still runs.
    let c = started_id(&s.cli(&["start", "slow"]));
    wait_for("the third run's step to run", || {
        let d = stdout(&s.cli(&["describe", &c]));
        if d.contains("step sleep  Running") {
            Ok(())
        } else {
            Err(d)
        }
    });
    let out = s.cli(&["cancel", &c, "--finally"]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(
        stdout(&out).contains("then its finally tasks run"),
        "{}",
        all(&out)
    );
    let described = wait_for("the third run to end", || {
        let d = stdout(&s.cli(&["describe", &c]));
        if d.contains("Status:    Cancelled") {
            Ok(d)
        } else {
            Err(d)
        }
    });
    assert!(
        described.contains("cleanup (finally)  Succeeded"),
        "{described}"
    );
    let logs = stdout(&s.cli(&["logs", &c, "--task", "cleanup"]));
    assert_eq!(log_lines(&logs), vec!["[cleanup/tidy] cleaned up"]);
}

#[test]
fn tokens_that_do_not_do_say_what_to_do() {
    let s = setup("");
    // An unknown token.
    let out = s.command(Some("rnl_nope"), &["runs"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("refused the token"), "{err}");
    assert!(err.contains("RUNNEL_TOKEN"), "{err}");
    assert!(err.contains("runnel token create"), "{err}");
    assert!(err.contains(&s.server.base), "{err}");
    // No token at all.
    let out = s.command(None, &["describe", "x"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("needs a token"), "{err}");
    assert!(err.contains("RUNNEL_TOKEN"), "{err}");
    // --token instead of the environment.
    let out = s
        .command(None, &["runs", "--token", &s.admin])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    // A read-only token reads, but does not start runs.
    let out = s.command(Some(&s.viewer), &["runs"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let out = s
        .command(Some(&s.viewer), &["start", "hello"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("is read-only"), "{err}");
    assert!(err.contains("RUNNEL_TOKEN"), "{err}");
}

#[test]
fn no_server_listening_names_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["runs"],
        vec!["describe", "x"],
        vec!["logs", "x", "-f"],
        vec!["start", "hello"],
        vec!["cancel", "x"],
    ] {
        let out = runnel()
            .args(&args)
            .current_dir(dir.path())
            .env("RUNNEL_SERVER", &url)
            .env("RUNNEL_TOKEN", "rnl_whatever")
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("cannot connect to the runnel server at {url}")),
            "{args:?}: {err}"
        );
        assert!(err.contains("RUNNEL_SERVER"), "{args:?}: {err}");
    }
    // start and cancel need a server; logs -f too.
    for args in [
        vec!["start", "hello"],
        vec!["cancel", "x"],
        vec!["logs", "x", "-f"],
    ] {
        let out = runnel()
            .args(&args)
            .current_dir(dir.path())
            .env_remove("RUNNEL_SERVER")
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("--server URL or RUNNEL_SERVER"),
            "{args:?}: {err}"
        );
    }
    // Nothing was written here.
    assert!(!Path::new(&dir.path().join(".runnel")).exists());
}
