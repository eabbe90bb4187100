//! The server's run queue through the real binary: runs wait their turn under the global
//! and per-repository limits, are cancelled queued or running through the API, a newer push
//! supersedes an older run of its branch, a graceful shutdown lets a running run finish and
//! leaves queued runs queued, and a restart (also after `kill -9`) picks the queue up and
//! records the killed run truthfully.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

/// A pipeline whose step waits until its `gate` file exists, with a finally task.
const GATED: &str = r#"apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: gated
spec:
  params:
    - name: gate
      default: /nonexistent
    - name: label
      default: x
  tasks:
    - name: wait
      params:
        - name: gate
          value: $(params.gate)
        - name: label
          value: $(params.label)
      taskSpec:
        params:
          - name: gate
          - name: label
        steps:
          - name: wait
            image: busybox
            script: |
              #!/bin/sh
              echo "waiting $(params.label)"
              while [ ! -e "$(params.gate)" ]; do sleep 0.05; done
              echo "released $(params.label)"
  finally:
    - name: tidy
      taskSpec:
        steps:
          - name: s
            image: busybox
            script: echo tidy
"#;

struct Setup {
    root: tempfile::TempDir,
    config: PathBuf,
    state: PathBuf,
    token: String,
    client: reqwest::Client,
}

impl Setup {
    /// A server directory with `pipelines/gated.yaml`, a bare repository holding the same
    /// pipeline under `.tekton/`, and `extra` config.
    fn new(extra: &str) -> (Setup, String) {
        let root = tempfile::tempdir().unwrap();
        let pipelines = root.path().join("pipelines");
        std::fs::create_dir_all(&pipelines).unwrap();
        std::fs::write(pipelines.join("gated.yaml"), GATED).unwrap();
        let work = root.path().join("work");
        std::fs::create_dir_all(work.join(".tekton")).unwrap();
        std::fs::write(work.join(".tekton/pipeline.yaml"), GATED).unwrap();
        git(
            root.path(),
            &["init", "-q", "-b", "main", work.to_str().unwrap()],
        );
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "gated"]);
        let sha = git(&work, &["rev-parse", "HEAD"]);
        let bare = root.path().join("repo.git");
        git(
            root.path(),
            &[
                "clone",
                "-q",
                "--bare",
                work.to_str().unwrap(),
                bare.to_str().unwrap(),
            ],
        );
        let config = root.path().join("runnel.toml");
        std::fs::write(
            &config,
            format!(
                r#"[server]
pipelines = ["{pipelines}"]
drain_seconds = 30
{extra}

[[repos]]
name = "acme/shop"
forge = "github"
secret = "{SECRET}"
clone_url = "file://{bare}"
"#,
                pipelines = pipelines.display(),
                bare = bare.display()
            ),
        )
        .unwrap();
        let state = root.path().join("state");
        let token = token(&state, "ci", false);
        (
            Setup {
                root,
                config,
                state,
                token,
                client: reqwest::Client::new(),
            },
            sha,
        )
    }

    fn serve(&self) -> Server {
        serve(self.root.path(), &self.config, &self.state)
    }

    fn gate(&self, label: &str) -> PathBuf {
        self.root.path().join(format!("gate-{label}"))
    }

    fn open(&self, label: &str) {
        std::fs::write(self.gate(label), "").unwrap();
    }

    /// Starts `gated` through the API; returns the run id.
    async fn start(&self, base: &str, label: &str) -> String {
        self.post_run(
            base,
            json!({"pipeline": "gated", "params": {"gate": self.gate(label), "label": label}}),
        )
        .await
    }

    /// Starts the repository's `.tekton/` pipeline at `sha` through the API.
    async fn start_repo(&self, base: &str, sha: &str, label: &str) -> String {
        self.post_run(
            base,
            json!({"repo": "acme/shop", "sha": sha, "git_ref": "refs/heads/main",
                   "params": {"gate": self.gate(label), "label": label}}),
        )
        .await
    }

    async fn post_run(&self, base: &str, body: Value) -> String {
        let resp = self
            .client
            .post(format!("{base}/api/v1/runs"))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let started: Value = resp.json().await.unwrap();
        started["run"].as_str().unwrap().to_owned()
    }

    async fn run(&self, base: &str, id: &str) -> Value {
        api(&self.client, base, &self.token, &format!("/runs/{id}")).await
    }

    /// Waits until the run's status is `status` (panics after 60 s).
    async fn wait_for(&self, base: &str, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let run = self.run(base, id).await;
            if run["status"] == status {
                return run;
            }
            assert!(Instant::now() < deadline, "never {status}: {run}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the run's first step runs (it is then waiting at its gate).
    async fn wait_running_step(&self, base: &str, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let run = self.run(base, id).await;
            if run["task_runs"][0]["steps"][0]["status"] == "Running" {
                return;
            }
            assert!(
                run["status"] == "Queued" || run["status"] == "Running",
                "the run ended before its step ran: {run}"
            );
            assert!(Instant::now() < deadline, "the step never ran: {run}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn cancel(&self, base: &str, id: &str, query: &str) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{base}/api/v1/runs/{id}/cancel{query}"))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }
}

fn signal(server: &Server, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(server: &mut Server) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn task_statuses(run: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = run["task_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["pipeline_task"].as_str().unwrap_or("").to_owned(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_wait_for_a_slot_and_are_cancelled_queued_or_running() {
    let (s, _) = Setup::new("max_runs = 1");
    let server = s.serve();
    let base = server.base.clone();

    let a = s.start(&base, "a").await;
    s.wait_running_step(&base, &a).await;
    let b = s.start(&base, "b").await;
    let c = s.start(&base, "c").await;
    // One at a time: b and c wait.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.run(&base, &b).await["status"], "Queued");
    assert_eq!(s.run(&base, &c).await["status"], "Queued");

    // c is cancelled while queued: it never starts.
    let (code, answer) = s.cancel(&base, &c, "").await;
    assert_eq!((code, answer["was"].as_str()), (200, Some("queued")));
    let c_run = s.wait_for(&base, &c, "Cancelled").await;
    assert_eq!(c_run["started_at"], Value::Null);
    assert!(c_run["task_runs"].as_array().unwrap().is_empty());

    // a finishes; b starts; b is cancelled running, with its finally task (Tekton's
    // CancelledRunFinally).
    s.open("a");
    let a_run = s.wait_for(&base, &a, "Succeeded").await;
    assert_eq!(
        task_statuses(&a_run),
        [
            ("tidy".into(), "Succeeded".into()),
            ("wait".into(), "Succeeded".into())
        ]
    );
    s.wait_running_step(&base, &b).await;
    let (code, answer) = s.cancel(&base, &b, "?mode=CancelledRunFinally").await;
    assert_eq!((code, answer["was"].as_str()), (202, Some("running")));
    let b_run = s.wait_for(&base, &b, "Cancelled").await;
    assert_eq!(b_run["reason"], "Cancelled", "{b_run}");
    assert_eq!(
        task_statuses(&b_run),
        [
            ("tidy".into(), "Succeeded".into()),
            ("wait".into(), "Cancelled".into())
        ]
    );
    // A finished run cannot be cancelled.
    let (code, _) = s.cancel(&base, &a, "").await;
    assert_eq!(code, 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_repository_runs_one_at_a_time_and_a_newer_push_supersedes() {
    let (s, sha) = Setup::new("max_runs = 4\nmax_runs_per_repo = 1");
    let server = s.serve();
    let base = server.base.clone();

    // The per-repository limit: the second run of acme/shop waits, a run of no repository
    // does not.
    let first = s.start_repo(&base, &sha, "first").await;
    s.wait_running_step(&base, &first).await;
    let second = s.start_repo(&base, &sha, "second").await;
    let other = s.start(&base, "other").await;
    s.wait_running_step(&base, &other).await;
    assert_eq!(s.run(&base, &second).await["status"], "Queued");
    s.open("first");
    s.open("other");
    s.wait_for(&base, &first, "Succeeded").await;
    s.wait_running_step(&base, &second).await;
    s.open("second");
    let second_run = s.wait_for(&base, &second, "Succeeded").await;
    assert_eq!(second_run["source"]["commit"], json!(sha));
    drop(server);

    // cancel_superseded: a push to the same branch cancels the older run.
    let (s, sha) = Setup::new("cancel_superseded = true");
    let server = s.serve();
    let base = server.base.clone();
    let push = |delivery: &'static str, before: &str| {
        let body = serde_json::to_vec(&json!({
            "ref": "refs/heads/main",
            "before": before,
            "after": sha,
            "deleted": false,
            "repository": {"full_name": "acme/shop", "clone_url": "https://example.invalid/x.git"},
            "commits": [],
            "sender": {"login": "dev"},
        }))
        .unwrap();
        Hook {
            event: "push",
            delivery,
            signature: Some(sign(&body)),
            body,
        }
    };
    // The older run comes from the API (a second push of the same commit would be the
    // same change, and deduplicated).
    let older = s.start_repo(&base, &sha, "older").await;
    s.wait_running_step(&base, &older).await;
    let (status, answer) = send(&s.client, &base, push("p-1", &"0".repeat(40))).await;
    assert_eq!(status, 202, "{answer}");
    let newer = answer["run"].as_str().unwrap().to_owned();
    let older_run = s.wait_for(&base, &older, "Cancelled").await;
    assert_eq!(older_run["reason"], "Cancelled", "{older_run}");
    assert_eq!(
        task_statuses(&older_run),
        [
            ("tidy".into(), "Succeeded".into()),
            ("wait".into(), "Cancelled".into())
        ]
    );
    // The newer run has no gate param (the trigger binds none): its gate is /nonexistent,
    // so cancel it to end the test.
    s.wait_running_step(&base, &newer).await;
    let (code, _) = s.cancel(&base, &newer, "").await;
    assert_eq!(code, 202);
    let newer_run = s.wait_for(&base, &newer, "Cancelled").await;
    assert_eq!(newer_run["reason"], "Cancelled");
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_drains_and_a_restart_picks_up_the_queue() {
    let (s, _) = Setup::new("max_runs = 1");
    let mut server = s.serve();
    let base = server.base.clone();
    let a = s.start(&base, "a").await;
    s.wait_running_step(&base, &a).await;
    let b = s.start(&base, "b").await;

    // A client follows a's log: it must not hold the shutdown up.
    let detail = s.run(&base, &a).await;
    let tr = detail["task_runs"][0]["id"].as_str().unwrap();
    let follower = s
        .client
        .get(format!(
            "{base}/api/v1/runs/{a}/taskruns/{tr}/steps/0/log/stream"
        ))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(follower.status().as_u16(), 200);

    // SIGTERM: no new run starts, the running one may finish.
    signal(&server, "-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.open("a");
    let status = wait_exit(&mut server);
    assert!(
        status.success(),
        "{status:?}\n{}",
        server.log.lock().unwrap().join("\n")
    );
    drop(server);

    // The next server finds a finished and b still queued, and runs b.
    let mut server = s.serve();
    let base = server.base.clone();
    assert_eq!(s.run(&base, &a).await["status"], "Succeeded");
    s.wait_running_step(&base, &b).await;

    // kill -9 in the middle of b; queue c behind it first.
    let c = s.start(&base, "c").await;
    signal(&server, "-KILL");
    wait_exit(&mut server);
    drop(server);
    // The killed server's step process is still waiting: let it end.
    s.open("b");
    s.open("c");
    let server = s.serve();
    let base = server.base.clone();
    let b_run = s.run(&base, &b).await;
    assert_eq!(b_run["status"], "Failed", "{b_run}");
    assert_eq!(b_run["reason"], "EngineRestarted");
    s.wait_for(&base, &c, "Succeeded").await;
}
