//! `runnel run`, `runs`, `describe` and `logs` as a user runs them, through the real binary
//! with the local runner: the README's first command, exit codes, live `[task/step]` output,
//! the records and logs it leaves, bad input, and a `kill -9` in the middle of a run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `runnel ARGS` in `cwd` with its state in `cwd/.runnel`.
fn runnel(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("RUNNEL_DATABASE_URL")
        .env_remove("RUNNEL_STATE_DIR")
        .env_remove("RUNNEL_SERVER")
        .env_remove("RUNNEL_TOKEN")
        .output()
        .expect("the runnel binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn hello_pipeline_runs_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let hello = repo().join("pipelines/hello.yaml");
    let out = runnel(dir.path(), &["run", hello.to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("[greet/say] hello world"), "{all}");
    assert!(all.contains("[shout/upper] HELLO WORLD"), "{all}");
    assert!(all.contains("result greeting: hello world"), "{all}");
    assert!(all.contains("Succeeded"), "{all}");
    assert!(dir.path().join(".runnel/runnel.db").exists());

    let runs = runnel(dir.path(), &["runs"]);
    let listing = text(&runs);
    assert_eq!(runs.status.code(), Some(0), "{listing}");
    let line = listing
        .lines()
        .find(|l| l.contains("hello-run-"))
        .unwrap_or_else(|| panic!("no hello run listed:\n{listing}"));
    let name = line.split_whitespace().nth(1).unwrap().to_owned();
    assert!(line.contains("Succeeded"), "{line}");

    let described = runnel(dir.path(), &["describe", &name]);
    let d = text(&described);
    assert_eq!(described.status.code(), Some(0), "{d}");
    for part in [
        "greet",
        "shout",
        "count",
        "join",
        "report (finally)",
        "step say",
    ] {
        assert!(d.contains(part), "describe lacks {part}:\n{d}");
    }

    let logs = runnel(dir.path(), &["logs", &name, "--task", "greet"]);
    let l = text(&logs);
    assert_eq!(logs.status.code(), Some(0), "{l}");
    assert!(l.contains("[greet/say] hello world"), "{l}");
    assert!(!l.contains("[shout/"), "--task filters:\n{l}");
}

#[test]
fn params_from_the_command_line_and_a_false_when() {
    let dir = tempfile::tempdir().unwrap();
    let hello = repo().join("pipelines/hello.yaml");
    let out = runnel(
        dir.path(),
        &[
            "run",
            hello.to_str().unwrap(),
            "-p",
            "who=runnel",
            "-p",
            "loud=no",
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("[greet/say] hello runnel"), "{all}");
    assert!(
        all.contains("shout skipped: When Expressions evaluated to false"),
        "{all}"
    );
    // A skipped task makes the run Completed rather than Succeeded, as in Tekton.
    assert!(all.contains("Succeeded (Completed)"), "{all}");
}

#[test]
fn a_failing_step_fails_the_run_and_names_task_and_step() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: broken}\nspec:\n  tasks:\n  - name: build\n    taskSpec:\n      steps:\n      - name: compile\n        image: busybox\n        command: [runnel-no-such-binary]\n",
    )
    .unwrap();
    let out = runnel(dir.path(), &["run", "p.yaml"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("runnel-no-such-binary"), "{all}");
    assert!(all.contains("step-compile"), "{all}");
    let runs = text(&runnel(dir.path(), &["runs"]));
    assert!(runs.contains("Failed"), "{runs}");
}

#[test]
fn a_missing_required_param_is_recorded_as_parameter_missing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: needs}\nspec:\n  params:\n  - name: version\n  tasks:\n  - name: t\n    params: [{name: v, value: $(params.version)}]\n    taskSpec:\n      params: [{name: v}]\n      steps:\n      - {name: s, image: busybox, script: 'echo $(params.v)'}\n",
    )
    .unwrap();
    let out = runnel(dir.path(), &["run", "p.yaml"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("ParameterMissing"), "{all}");
    assert!(all.contains("version"), "{all}");
    let runs = text(&runnel(dir.path(), &["runs"]));
    assert!(runs.contains("ParameterMissing"), "{runs}");
}

#[test]
fn invalid_yaml_is_refused_with_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: x}\nspec:\n  tasks:\n  - name: a\n    run_after: [b]\n    taskSpec: {steps: [{image: x, script: 'true'}]}\n",
    )
    .unwrap();
    let out = runnel(dir.path(), &["run", "p.yaml"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("p.yaml:7:5"), "{all}");
}

/// Waits until `runnel runs` shows `want` in the line of run `name`.
fn wait_for(dir: &Path, name: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listing = text(&runnel(dir, &["runs"]));
        if let Some(line) = listing.lines().find(|l| l.contains(name))
            && line.contains(want)
        {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "run {name} never showed {want}:\n{listing}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_killed_runnel_leaves_its_run_failed_with_engine_restarted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("slow.yaml"),
        "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata: {name: slow-run}\nspec:\n  pipelineSpec:\n    tasks:\n    - name: wait\n      taskSpec:\n        steps:\n        - {name: sleep, image: busybox, script: 'echo started; sleep 30'}\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["run", "slow.yaml"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("RUNNEL_DATABASE_URL")
        .env_remove("RUNNEL_STATE_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runnel starts");
    wait_for(dir.path(), "slow-run", "Running");
    // kill -9: no chance to record anything.
    child.kill().expect("kill runnel");
    child.wait().expect("reap runnel");
    let line = wait_for(dir.path(), "slow-run", "EngineRestarted");
    assert!(line.contains("Failed"), "{line}");
    let described = text(&runnel(dir.path(), &["describe", "slow-run"]));
    assert!(described.contains("EngineRestarted"), "{described}");
    // The TaskRun that was running is failed too; nothing stays Running.
    assert!(!described.contains("Running"), "{described}");
}

#[test]
fn a_run_records_the_git_commit_it_ran_from() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(&["init", "-q", "-b", "feature-x"]);
    std::fs::create_dir(dir.path().join(".tekton")).unwrap();
    std::fs::write(
        dir.path().join(".tekton/p.yaml"),
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  tasks:\n  - name: t\n    taskSpec:\n      steps: [{name: s, image: x, script: 'echo ok'}]\n",
    )
    .unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "pipeline"]);
    let sha = git(&["rev-parse", "HEAD"]);
    let out = runnel(dir.path(), &["run", ".tekton/p.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let runs = text(&runnel(dir.path(), &["runs"]));
    let name = runs
        .lines()
        .find(|l| l.contains("p-run-"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no run listed:\n{runs}"))
        .to_owned();
    let described = text(&runnel(dir.path(), &["describe", &name]));
    assert!(described.contains(&sha), "{described}");
    assert!(described.contains("feature-x"), "{described}");
}

#[test]
fn sigterm_cancels_gracefully_and_finally_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: stoppable}\nspec:\n  tasks:\n  - name: wait\n    taskSpec:\n      steps:\n      - {name: sleep, image: x, script: 'trap \"echo got TERM; exit 143\" TERM; echo waiting; sleep 30 & wait'}\n  finally:\n  - name: cleanup\n    taskSpec:\n      steps:\n      - {name: s, image: x, script: 'echo cleanup after $(tasks.wait.status)'}\n",
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["run", "p.yaml", "--grace", "5"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("RUNNEL_DATABASE_URL")
        .env_remove("RUNNEL_STATE_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runnel starts");
    wait_for(dir.path(), "stoppable-run-", "Running");
    // Give the step a moment to install its trap, then stop runnel as a service manager would.
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let out = child.wait_with_output().expect("runnel ends");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("[wait/sleep] got TERM"), "{all}");
    assert!(all.contains("[cleanup/s] cleanup after Failed"), "{all}");
    assert!(all.contains("Cancelled (Cancelled)"), "{all}");
}

#[test]
fn a_step_when_skips_the_step_and_can_read_earlier_steps_results() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("steps.yaml"),
        r#"apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: step-when
spec:
  params:
    - name: flavour
      value: vanilla
  taskSpec:
    params:
      - name: flavour
    workspaces:
      - name: cache
        optional: true
    stepTemplate:
      image: busybox
    steps:
      - name: produce
        results:
          - name: verdict
        script: |
          #!/bin/sh
          printf 'foo' > $(step.results.verdict.path)
      - name: on-param
        when:
          - input: $(params.flavour)
            operator: in
            values: [vanilla]
        script: echo ran on-param
      - name: on-missing-workspace
        when:
          - input: $(workspaces.cache.bound)
            operator: in
            values: ["true"]
        script: echo ran on-missing-workspace
      - name: on-result-foo
        when:
          - input: $(steps.produce.results.verdict)
            operator: in
            values: [foo]
        script: echo ran on-result-foo
      - name: on-result-bar
        when:
          - input: $(steps.step-produce.results.verdict)
            operator: notin
            values: [foo]
        script: echo ran on-result-bar
      - name: last
        script: echo ran last
"#,
    )
    .unwrap();
    let out = runnel(dir.path(), &["run", "steps.yaml"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    for ran in ["on-param", "on-result-foo", "last"] {
        assert!(
            all.contains(&format!("ran {ran}")),
            "{ran} did not run:\n{all}"
        );
    }
    for skipped in ["on-missing-workspace", "on-result-bar"] {
        assert!(
            !all.contains(&format!("ran {skipped}")),
            "{skipped} ran:\n{all}"
        );
    }
    let described = runnel(dir.path(), &["describe", "step-when"]);
    let d = text(&described);
    assert_eq!(described.status.code(), Some(0), "{d}");
    let status = |step: &str| {
        d.lines()
            .find(|l| {
                l.contains(&format!("step {step} "))
                    || l.trim_end().ends_with(&format!("step {step}"))
            })
            .unwrap_or_else(|| panic!("no step {step} in\n{d}"))
            .to_owned()
    };
    assert!(status("on-result-bar").contains("Skipped"), "{d}");
    assert!(status("on-missing-workspace").contains("Skipped"), "{d}");
    assert!(status("on-result-foo").contains("Succeeded"), "{d}");
}
