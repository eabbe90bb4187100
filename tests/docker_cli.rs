//! `runnel run --runner docker` as a user runs it: a pipeline whose tasks share a workspace
//! and pass results through containers, the config file choosing the runner and rewriting
//! images, the error when there is no engine, and a `kill -9` mid-step that the next start
//! cleans up after (no container, network or volume of the run left).
//!
//! They need the Docker engine and the images `tests/images` builds; without them each test
//! says why and passes, except under CI (`CI` set), where that is a failure.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Whether the Docker tests can run here; prints why not (and fails under CI).
fn docker_ready() -> bool {
    support::docker::ready(&["runnel-test/busybox", "runnel-test/debian"])
}

fn runnel_command(cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runnel"));
    command
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("RUNNEL_DATABASE_URL")
        .env_remove("RUNNEL_STATE_DIR")
        .env_remove("RUNNEL_CONFIG");
    command
}

fn runnel(cwd: &Path, args: &[&str]) -> Output {
    runnel_command(cwd, args)
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

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const PIPELINE: &str = r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: build}
spec:
  workspaces: [{name: src}]
  tasks:
    - name: fetch
      workspaces: [{name: out, workspace: src}]
      taskSpec:
        workspaces: [{name: out}]
        results: [{name: commit}]
        steps:
          - name: clone
            image: runnel-test/debian
            script: |
              #!/bin/bash
              set -euo pipefail
              cd $(workspaces.out.path)
              git init -q -b main repo && cd repo
              echo 'print("hello")' > app.py
              git -c user.email=a@b -c user.name=a add . && git -c user.email=a@b -c user.name=a commit -qm init
              git rev-parse --short HEAD | tr -d '\n' > $(results.commit.path)
    - name: test
      runAfter: [fetch]
      params: [{name: commit, value: $(tasks.fetch.results.commit)}]
      workspaces: [{name: code, workspace: src}]
      taskSpec:
        params: [{name: commit}]
        workspaces: [{name: code}]
        steps:
          - name: run
            image: runnel-test/debian
            workingDir: $(workspaces.code.path)/repo
            script: |
              #!/bin/bash
              echo "testing $(params.commit) as $(id -u)"
              python3 app.py
          - name: busybox
            image: runnel-test/busybox
            command: [sh, -c]
            args: ["ls $(workspaces.code.path)/repo"]
"#;

#[test]
fn a_pipeline_runs_in_containers_sharing_a_workspace_and_results() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), PIPELINE).unwrap();
    let out = runnel(dir.path(), &["run", "p.yaml", "--runner", "docker"]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("[test/run] testing "), "{all}");
    assert!(all.contains(" as 0"), "{all}");
    assert!(all.contains("[test/run] hello"), "{all}");
    assert!(all.contains("[test/busybox] app.py"), "{all}");
    let name = all
        .lines()
        .find_map(|l| l.strip_prefix("▶ PipelineRun "))
        .expect("the run's name is printed")
        .trim()
        .to_string();
    let described = text(&runnel(dir.path(), &["describe", &name]));
    assert!(described.contains("docker"), "{described}");
    let logs = text(&runnel(dir.path(), &["logs", &name, "--task", "test"]));
    assert!(logs.contains("hello"), "{logs}");
}

#[test]
fn the_config_file_chooses_docker_and_rewrites_images() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("runnel.toml"),
        "runner = \"docker\"\n\n[[images.rewrite]]\nfrom = \"alpine*\"\nto = \"runnel-test/busybox\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("t.yaml"),
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\nspec:\n  steps:\n  - {name: s, image: 'alpine:3.20', script: 'echo in $(cat /etc/passwd | head -n1 | cut -d: -f1)'}\n",
    )
    .unwrap();
    let out = runnel(dir.path(), &["run", "t.yaml"]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("/s] in root"), "{all}");
    assert!(
        all.contains("images rewritten: alpine:3.20 → runnel-test/busybox"),
        "{all}"
    );
}

#[test]
fn no_docker_engine_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.yaml"),
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\nspec:\n  steps:\n  - {name: s, image: busybox, script: 'true'}\n",
    )
    .unwrap();
    let out = runnel_command(dir.path(), &["run", "t.yaml", "--runner", "docker"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("cannot reach the Docker engine"), "{all}");
    assert!(all.contains("--runner local"), "{all}");
}

/// Waits until `check` returns something, or fails after a minute.
fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_killed_runnel_leaves_nothing_behind_once_started_again() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("slow.yaml"),
        r#"apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: slow-run}
spec:
  pipelineSpec:
    tasks:
    - name: wait
      taskSpec:
        sidecars:
        - {name: helper, image: runnel-test/busybox, script: 'exec sleep 600'}
        steps:
        - {name: sleep, image: runnel-test/busybox, script: 'echo started; exec sleep 600'}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("quick.yaml"),
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: quick}\nspec:\n  steps:\n  - {name: s, image: runnel-test/busybox, script: 'echo quick'}\n",
    )
    .unwrap();
    let mut child = runnel_command(dir.path(), &["run", "slow.yaml", "--runner", "docker"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runnel starts");
    // The step's container runs: find the run it belongs to.
    let run = wait_until("the step's container", || {
        let run = docker(&[
            "ps",
            "--filter",
            "label=dev.runnel.step=sleep",
            "--filter",
            "status=running",
            "--format",
            r#"{{.Label "dev.runnel.run"}}"#,
        ]);
        let mine = run.lines().find(|r| !r.is_empty())?.to_string();
        Some(mine)
    });
    let label = format!("label=dev.runnel.run={run}");
    assert_ne!(docker(&["ps", "-aq", "--filter", &label]), "");
    assert_ne!(docker(&["network", "ls", "-q", "--filter", &label]), "");
    // kill -9: runnel gets no chance to clean up.
    child.kill().expect("kill runnel");
    child.wait().expect("reap runnel");
    assert_ne!(
        docker(&["ps", "-q", "--filter", &label]),
        "",
        "the containers outlive a killed runnel until it starts again"
    );

    let out = runnel(dir.path(), &["run", "quick.yaml", "--runner", "docker"]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("left by a runnel that stopped"), "{all}");
    assert_eq!(docker(&["ps", "-aq", "--filter", &label]), "");
    assert_eq!(docker(&["network", "ls", "-q", "--filter", &label]), "");
    assert_eq!(docker(&["volume", "ls", "-q", "--filter", &label]), "");
    let described = text(&runnel(dir.path(), &["describe", "slow-run"]));
    assert!(described.contains("EngineRestarted"), "{described}");
    assert!(!described.contains("Running"), "{described}");
}

#[test]
fn volumes_and_env_from_come_from_the_configmaps_and_secrets_in_the_files() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.yaml"),
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {MODE: fast, LEVEL: "3"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {token: s3cr3t}
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: vols}
spec:
  params: [{name: secret, value: creds}]
  taskSpec:
    params: [{name: secret}]
    volumes:
      - {name: conf, configMap: {name: settings, items: [{key: MODE, path: mode.txt}]}}
      - {name: token, secret: {secretName: $(params.secret)}}
      - {name: scratch, emptyDir: {}}
    steps:
      - name: write
        image: runnel-test/busybox
        envFrom: [{configMapRef: {name: settings}, prefix: CFG_}, {secretRef: {name: creds}}]
        volumeMounts:
          - {name: conf, mountPath: /etc/app}
          - {name: token, mountPath: /var/run/token, readOnly: true}
          - {name: scratch, mountPath: /scratch}
        script: |
          echo "env $CFG_MODE $CFG_LEVEL $token"
          echo "file $(cat /etc/app/mode.txt) $(cat /var/run/token/token)"
          echo kept > /scratch/f
          if echo x > /var/run/token/new 2>/dev/null; then echo "read-only was writable"; exit 1; fi
      - name: read
        image: runnel-test/debian
        volumeMounts: [{name: scratch, mountPath: /elsewhere}]
        script: |
          #!/bin/bash
          echo "scratch $(cat /elsewhere/f)"
"#,
    )
    .unwrap();
    let out = runnel(dir.path(), &["run", "t.yaml", "--runner", "docker"]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("[vols/write] env fast 3 s3cr3t"), "{all}");
    assert!(all.contains("[vols/write] file fast s3cr3t"), "{all}");
    assert!(all.contains("[vols/read] scratch kept"), "{all}");
}

#[test]
fn workspaces_keep_their_sub_path_read_only_and_optional_bindings_in_containers() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("app")).unwrap();
    std::fs::write(src.join("app/VERSION"), "1.2.3\n").unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        r#"apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: ws-run}
spec:
  workspaces:
    - {name: src, persistentVolumeClaim: {claimName: unused}}
    - name: scratch
      volumeClaimTemplate: {spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}}
  pipelineSpec:
    workspaces: [{name: src}, {name: scratch}]
    tasks:
      - name: produce
        workspaces: [{name: out, workspace: scratch, subPath: build}]
        taskSpec:
          workspaces: [{name: out}]
          steps:
            - {name: s, image: runnel-test/busybox, script: 'echo artifact > $(workspaces.out.path)/a.txt'}
      - name: consume
        runAfter: [produce]
        workspaces:
          - {name: code, workspace: src, subPath: app}
          - {name: all, workspace: scratch}
        taskSpec:
          workspaces:
            - {name: code, readOnly: true}
            - {name: all}
            - {name: extra, optional: true}
          steps:
            - name: s
              image: runnel-test/busybox
              script: |
                echo "version $(cat $(workspaces.code.path)/VERSION) built $(cat $(workspaces.all.path)/build/a.txt) extra=$(workspaces.extra.bound)"
                if touch $(workspaces.code.path)/new 2>/dev/null; then echo "read-only was writable"; exit 1; fi
"#,
    )
    .unwrap();
    // The claim `unused` is replaced by a host directory for `src` given with -w.
    let out = runnel(
        dir.path(),
        &[
            "run",
            "p.yaml",
            "--runner",
            "docker",
            "-w",
            &format!("src={}", src.display()),
        ],
    );
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("version 1.2.3 built artifact extra=false"),
        "{all}"
    );
    assert!(!src.join("app/new").exists());
}
