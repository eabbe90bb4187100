//! The DORA metrics end to end through the real binary: pushes to a repository whose
//! pipeline deploys (a task annotated `runnel.dev/deployment`) become deployments, the
//! server reads the commits each one shipped from its mirror, an incident reported through
//! the API fails one; the API, `runnel metrics dora` (against the server and on the local
//! database) and their numbers agree. And every bad request to the DORA endpoints gets the
//! status it must.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use runnel_engine::dora::{human_duration, human_rate};
use serde_json::{Value, json};
use support::*;

const REPO: &str = "Codertocat/Hello-World";

/// The server's catalog: a deploy task that says what it deploys.
fn catalog(root: &Path) -> std::path::PathBuf {
    let tasks = root.join("tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    std::fs::write(
        tasks.join("deploy.yaml"),
        r#"apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: deploy
  annotations:
    runnel.dev/deployment: "$(params.environment)"
spec:
  params:
    - name: environment
    - name: revision
  steps:
    - name: sync
      script: |
        echo "deploying $(params.revision) to $(params.environment)"
"#,
    )
    .unwrap();
    tasks
}

/// Commits `file` in `work` with an author time `hours_ago` hours back; returns the sha.
fn commit(work: &Path, file: &str, hours_ago: i64) -> String {
    std::fs::write(work.join(file), format!("{file}\n")).unwrap();
    git(work, &["add", "."]);
    let when = (chrono::Utc::now() - chrono::Duration::hours(hours_ago)).to_rfc3339();
    let out = std::process::Command::new("git")
        .current_dir(work)
        .env("GIT_AUTHOR_DATE", &when)
        .args(["-c", "user.name=dev", "-c", "user.email=dev@example.com"])
        .args(["commit", "-q", "-m", &format!("add {file}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git(work, &["rev-parse", "HEAD"])
}

async fn push(
    client: &reqwest::Client,
    base: &str,
    work: &Path,
    bare: &Path,
    sha: &str,
    n: u32,
) -> String {
    git(work, &["push", "-q", bare.to_str().unwrap(), "HEAD:master"]);
    let mut payload: Value = serde_json::from_slice(
        &std::fs::read(webhooks().join("github/push_with-new-branch.payload.json")).unwrap(),
    )
    .unwrap();
    payload["after"] = json!(sha);
    payload["head_commit"]["id"] = json!(sha);
    let body = serde_json::to_vec(&payload).unwrap();
    let (status, answer) = send(
        client,
        base,
        Hook {
            event: "push",
            delivery: &format!("dora-{n}"),
            body: body.clone(),
            signature: Some(sign(&body)),
        },
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    answer["run"].as_str().unwrap().to_owned()
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let resp = client
        .post(format!("{base}/api/v1{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(client: &reqwest::Client, base: &str, token: &str, path: &str) -> (u16, Value) {
    let resp = client
        .get(format!("{base}/api/v1{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn metrics_cli(args: &[&str]) -> String {
    let out = runnel()
        .args(["metrics", "dora"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "runnel metrics dora {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn pushes_that_deploy_become_the_metrics_the_api_and_the_cli_agree_on() {
    let root = tempfile::tempdir().unwrap();
    let work = root.path().join("work");
    std::fs::create_dir_all(work.join(".tekton")).unwrap();
    std::fs::write(
        work.join(".tekton/pipeline.yaml"),
        r#"apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: release
spec:
  params:
    - name: revision
  tasks:
    - name: to-production
      taskRef:
        name: deploy
      params:
        - name: environment
          value: production
        - name: revision
          value: $(params.revision)
"#,
    )
    .unwrap();
    git(&work, &["init", "-q", "-b", "master"]);
    let first = commit(&work, "README.md", 30);
    let bare = root.path().join("shop.git");
    git(
        root.path(),
        &["init", "-q", "--bare", bare.to_str().unwrap()],
    );
    let tasks = catalog(root.path());
    let config = root.path().join("runnel.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
tasks = ["{}"]

[[repos]]
name = "{REPO}"
forge = "github"
secret = "{SECRET}"
clone_url = "file://{}"

[[repos.triggers]]
events = ["push"]
params = {{ revision = "$(body.after)" }}
"#,
            tasks.display(),
            bare.display()
        ),
    )
    .unwrap();
    let state = root.path().join("state");
    let admin = token(&state, "ci", false);
    let server = serve(root.path(), &config, &state);
    let base = server.base.clone();
    let client = reqwest::Client::new();

    // The first deployment: the baseline, it ships no commits.
    let run = push(&client, &base, &work, &bare, &first, 1).await;
    wait_for_run(&client, &server, &admin, &run, 60, |r| {
        r["status"] == "Succeeded"
    })
    .await;
    // Two commits written 2 h and 1 h ago, then deployed together.
    commit(&work, "a.txt", 2);
    let third = commit(&work, "b.txt", 1);
    let run = push(&client, &base, &work, &bare, &third, 2).await;
    wait_for_run(&client, &server, &admin, &run, 60, |r| {
        r["status"] == "Succeeded"
    })
    .await;

    let (status, list) = get(
        &client,
        &base,
        &admin,
        "/deployments?environment=production",
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let deployments = list["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 2, "{list}");
    assert_eq!(deployments[0]["service"], REPO);
    assert_eq!(deployments[0]["commit"], third.as_str());
    assert_eq!(deployments[0]["status"], "Succeeded");
    assert_eq!(deployments[0]["origin"], "task");
    assert_eq!(deployments[1]["commit"], first.as_str());

    // The server finds the two commits the second one shipped (in the background).
    let path = format!("/metrics/dora?service={REPO}&environment=production&since=2d&bucket=day");
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        let (status, report) = get(&client, &base, &admin, &path).await;
        assert_eq!(status, 200, "{report}");
        if report["lead_time"]["changes"] == 2 {
            break report;
        }
        assert!(
            Instant::now() < deadline,
            "the shipped commits were never recorded: {report}\n{}",
            server.log.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(report["deployment_frequency"]["deployments"], 2);
    assert_eq!(report["deployment_frequency"]["tier"], "elite", "{report}");
    // 2 h and 1 h before a deployment that took a few seconds: a median of 1.5 h.
    let median = report["lead_time"]["median_seconds"].as_f64().unwrap();
    assert!((5400.0..5400.0 + 300.0).contains(&median), "{report}");
    assert_eq!(report["lead_time"]["tier"], "elite");
    assert_eq!(report["change_failure_rate"]["failed"], 0);
    assert_eq!(report["series"].as_array().unwrap().len(), 2);

    // An incident names the second deployment's commit: it failed.
    let (status, incident) = post(
        &client,
        &base,
        &admin,
        "/incidents",
        json!({"service": REPO, "environment": "production", "title": "500s", "commit": third}),
    )
    .await;
    assert_eq!(status, 201, "{incident}");
    let (status, resolved) = post(
        &client,
        &base,
        &admin,
        &format!("/incidents/{}/resolve", incident["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{resolved}");
    assert!(resolved["resolved_at"].is_string());
    let (_, report) = get(&client, &base, &admin, &path).await;
    assert_eq!(report["change_failure_rate"]["failed"], 1, "{report}");
    assert_eq!(report["change_failure_rate"]["rate"], 0.5);
    assert_eq!(report["change_failure_rate"]["tier"], "low");
    assert_eq!(report["recovery_time"]["recovered"], 1);

    // The CLI, against the server and on the same database, over the same window.
    let (from, to) = (
        report["from"].as_str().unwrap().to_owned(),
        report["to"].as_str().unwrap().to_owned(),
    );
    let window = [
        "--service",
        REPO,
        "--env",
        "production",
        "--from",
        &from,
        "--to",
        &to,
    ];
    let remote = metrics_cli(
        &[
            &window[..],
            &["--server", &base, "--token", &admin, "--json"],
        ]
        .concat(),
    );
    let local = metrics_cli(
        &[
            &window[..],
            &["--state-dir", state.to_str().unwrap(), "--json"],
        ]
        .concat(),
    );
    let remote: Value = serde_json::from_str(&remote).unwrap();
    let local: Value = serde_json::from_str(&local).unwrap();
    assert_eq!(
        remote, report,
        "the CLI through the server shows the API's report"
    );
    assert_eq!(
        local, report,
        "the CLI on the database computes the same report"
    );
    let table = metrics_cli(&[&window[..], &["--server", &base, "--token", &admin]].concat());
    for text in [
        human_duration(median),
        human_rate(0.5),
        "1 of 2 deployments failed".to_owned(),
        format!("DORA metrics for {REPO} · production"),
    ] {
        assert!(table.contains(&text), "{text:?} not in\n{table}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reported_deployments_and_incidents_are_checked() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("runnel.toml");
    std::fs::write(&config, "[server]\n").unwrap();
    let state = root.path().join("state");
    let admin = token(&state, "ci", false);
    let viewer = token(&state, "viewer", true);
    let server = serve(root.path(), &config, &state);
    let base = server.base.clone();
    let client = reqwest::Client::new();

    // A backfill: two deployments a day apart, the second shipping a commit written 3 h
    // before it finished.
    let deploy = |finished: &str, commits: Value| {
        json!({"service": "acme/api", "environment": "production", "commit": finished,
               "finished_at": finished, "commits": commits})
    };
    let (status, first) = post(
        &client,
        &base,
        &admin,
        "/deployments",
        deploy("2026-03-02T12:00:00Z", json!([])),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "Succeeded");
    assert_eq!(first["origin"], "api");
    let commits = json!([{"sha": "c1", "authored_at": "2026-03-03T09:00:00Z"}]);
    let (status, second) = post(
        &client,
        &base,
        &admin,
        "/deployments",
        deploy("2026-03-03T12:00:00Z", commits),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let window = "from=2026-03-02T00:00:00Z&to=2026-03-09T00:00:00Z";
    let (status, report) = get(
        &client,
        &base,
        &admin,
        &format!("/metrics/dora?service=acme/api&{window}&bucket=week"),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["deployment_frequency"]["deployments"], 2);
    assert_eq!(report["lead_time"]["median_seconds"], 3.0 * 3600.0);
    assert_eq!(report["series"].as_array().unwrap().len(), 1);
    let (_, viewer_report) = get(
        &client,
        &base,
        &viewer,
        &format!("/metrics/dora?service=acme/api&{window}&bucket=week"),
    )
    .await;
    assert_eq!(viewer_report, report, "a read-only token reads the metrics");

    for (path, body, want) in [
        (
            "/deployments",
            json!({"service": "", "environment": "production"}),
            "`service` must not be empty",
        ),
        (
            "/deployments",
            json!({"service": "a", "environment": "p", "status": "Running"}),
            "Succeeded or Failed",
        ),
        (
            "/deployments",
            json!({"service": "a", "environment": "p", "started_at": "2026-03-03T00:00:00Z", "finished_at": "2026-03-02T00:00:00Z"}),
            "started_at is after finished_at",
        ),
        (
            "/incidents",
            json!({"service": "a", "environment": "p", "title": " "}),
            "`title` must not be empty",
        ),
        (
            "/incidents",
            json!({"service": "a", "environment": "p", "title": "t", "opened_at": "2026-03-03T00:00:00Z", "resolved_at": "2026-03-02T00:00:00Z"}),
            "resolved_at is before opened_at",
        ),
        (
            "/incidents",
            json!({"service": "a", "environment": "p", "title": "t", "deployment_id": "0190b5c8-0000-7000-8000-000000000000"}),
            "no deployment 0190b5c8",
        ),
    ] {
        let (status, answer) = post(&client, &base, &admin, path, body.clone()).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(want), "{path} {body}: {answer}");
    }
    let (status, answer) = post(
        &client,
        &base,
        &admin,
        "/incidents/0190b5c8-0000-7000-8000-000000000000/resolve",
        json!({}),
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = post(
        &client,
        &base,
        &viewer,
        "/deployments",
        deploy("2026-03-04T12:00:00Z", json!([])),
    )
    .await;
    assert_eq!(
        status, 403,
        "a read-only token cannot report deployments: {answer}"
    );
    for query in [
        "since=soon",
        "from=2026-03-09T00:00:00Z&to=2026-03-02T00:00:00Z",
        "bucket=month",
        "from=yesterday",
    ] {
        let (status, answer) = get(&client, &base, &admin, &format!("/metrics/dora?{query}")).await;
        assert_eq!(status, 400, "{query}: {answer}");
    }
    // A service with nothing: no values rather than zeros.
    let (_, empty) = get(
        &client,
        &base,
        &admin,
        &format!("/metrics/dora?service=acme/none&{window}"),
    )
    .await;
    assert_eq!(empty["deployment_frequency"]["tier"], Value::Null);
    assert_eq!(empty["lead_time"]["median_seconds"], Value::Null);
    assert_eq!(empty["change_failure_rate"]["rate"], Value::Null);
}
