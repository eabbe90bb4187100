//! The golden path end to end on Docker, from a push: a small Python service repository with
//! the `.tekton/pipeline.yaml` that `runnel init` writes, served by `git daemon` on loopback;
//! `runnel serve` with the Docker runner takes a signed push webhook and runs clone → ruff and
//! mypy → pytest → secret scan → a real image build → deploy through `argocd-sync` against a
//! loopback stand-in of ArgoCD's API (which starts the built image, as ArgoCD would have the
//! cluster do) → k6 against that service. gitleaks and Trivy cannot be installed here, so the
//! trigger turns them off with the pipeline's `run-gitleaks`/`run-trivy` params and the run
//! shows them Skipped. A second push plants a secret: the scan fails and nothing after it runs.
//! The seed's universal pipeline (`pipelines/universal-service-pipeline.yaml`) runs on the
//! same repository with `runnel run --runner docker`.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use support::argocd::{ArgoCd, Settings};
use support::git_daemon::GitDaemon;
use support::{
    Hook, SECRET, api, git, runnel, send, serve_on, sign, token, wait_for_run, webhooks,
};

/// The repository as the push payload names it.
const REPO: &str = "Codertocat/Hello-World";
const IMAGES: [&str; 3] = [
    "runnel-test/python",
    "runnel-test/debian",
    "runnel-test/busybox",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether the Docker engine and the test images are here; outside CI, says why not.
fn docker_ready() -> bool {
    support::docker::ready(&IMAGES)
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Containers and images this test made, removed on drop.
struct Cleanup {
    label: String,
    repository: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let ids = docker(&["ps", "-aq", "--filter", &format!("label={}", self.label)]);
        for id in ids.lines() {
            docker(&["rm", "-f", id]);
        }
        let images = docker(&["images", "-q", &self.repository]);
        for id in images.lines() {
            docker(&["rmi", "-f", id]);
        }
    }
}

/// The service: a tiny HTTP server, its unit test, its load test, a Dockerfile on the local
/// Python image, and the pipeline `runnel init` writes.
fn write_service(work: &Path) {
    std::fs::create_dir_all(work.join("tests")).unwrap();
    std::fs::write(
        work.join("app.py"),
        r#""""A tiny HTTP service: GET / answers with a greeting."""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


def greeting(name: str) -> str:
    return f"hello {name}"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"message": greeting("world")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#,
    )
    .unwrap();
    std::fs::write(
        work.join("test_app.py"),
        "from app import greeting\n\n\ndef test_greeting() -> None:\n    assert greeting(\"you\") == \"hello you\"\n\n\ndef test_greeting_world() -> None:\n    assert greeting(\"world\") == \"hello world\"\n",
    )
    .unwrap();
    std::fs::write(
        work.join("pyproject.toml"),
        "[project]\nname = \"shop\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\n",
    )
    .unwrap();
    std::fs::write(
        work.join("Dockerfile"),
        "FROM runnel-test/python\nCOPY app.py /app/app.py\nCMD [\"python3\", \"/app/app.py\"]\n",
    )
    .unwrap();
    std::fs::write(
        work.join("tests/load.js"),
        r#"import http from "k6/http";
import { check } from "k6";

export const options = {
  thresholds: { http_req_failed: ["rate<0.01"], checks: ["rate>0.99"] },
};

export default function () {
  const res = http.get(__ENV.BASE_URL);
  check(res, { "greets the world": (r) => r.status === 200 && r.json().message === "hello world" });
}
"#,
    )
    .unwrap();
    let out = runnel()
        .args(["init", "--language", "python", "--name", "shop", "--dir"])
        .arg(work)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "runnel init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(work.join(".tekton/pipeline.yaml").is_file());
}

fn commit(work: &Path, message: &str) -> String {
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", message]);
    git(work, &["rev-parse", "HEAD"])
}

/// The config every run here shares: the Docker runner on the host's network (so steps reach
/// the git daemon, the ArgoCD stand-in and the deployed service on loopback), and the public
/// images of the catalog mapped to the local test images.
fn docker_config() -> String {
    let mut config = String::from("runner = \"docker\"\n\n[docker]\nnetwork = \"host\"\n");
    for (from, to) in [
        ("python:*", "runnel-test/python"),
        ("alpine/git:*", "runnel-test/debian"),
        ("grafana/k6:*", "runnel-test/python"),
        // Not chosen (builder "docker"): its step only says so, in any shell.
        ("quay.io/buildah/*", "runnel-test/busybox"),
    ] {
        config.push_str(&format!(
            "\n[[images.rewrite]]\nfrom = \"{from}\"\nto = \"{to}\"\n"
        ));
    }
    config
}

/// What ArgoCD would have the cluster do on a sync: run the image the application now names,
/// with the service listening on `port`; Healthy once it answers.
fn deployer(label: String, port: u16) -> impl Fn(String) -> Result<(), String> + Send + Sync {
    move |image: String| {
        // `NAME=REF`, as `argocd app set --kustomize-image` takes it.
        let reference = image.split_once('=').map_or(image.as_str(), |(_, r)| r);
        let name = format!("shop-{port}");
        let _ = Command::new("docker").args(["rm", "-f", &name]).output();
        let out = Command::new("docker")
            .args([
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "host",
                "--label",
                &label,
                "-e",
                &format!("PORT={port}"),
                reference,
            ])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                return Err(format!("{reference} does not answer on port {port}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

async fn push(client: &reqwest::Client, base: &str, sha: &str, n: u32) -> String {
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
            delivery: &format!("golden-{n}"),
            body: body.clone(),
            signature: Some(sign(&body)),
        },
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    answer["run"].as_str().unwrap().to_owned()
}

/// The run's TaskRuns by pipeline task: (status, results).
fn tasks(run: &Value) -> std::collections::BTreeMap<String, (String, Value)> {
    run["task_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["pipeline_task"].as_str().unwrap_or("").to_owned(),
                (
                    t["status"].as_str().unwrap_or("").to_owned(),
                    t["results"].clone(),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_runs_the_golden_path_on_docker_and_a_planted_secret_stops_it() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let served = dir.path().join("served");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&served).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    write_service(&work);
    let first = commit(&work, "shop: a greeting service");
    let bare = served.join("shop.git");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let daemon = GitDaemon::start(&served, "shop.git");

    let label = format!("dev.runnel.golden-test={}", std::process::id());
    let repository = format!("runnel-e2e/shop-{}", std::process::id());
    let _cleanup = Cleanup {
        label: label.clone(),
        repository: repository.clone(),
    };
    let service_port = free_port();
    let argocd = ArgoCd::start(Settings {
        on_sync: Some(Arc::new(deployer(label, service_port))),
        ..Settings::default()
    })
    .await;

    let config = dir.path().join("runnel.toml");
    std::fs::write(
        &config,
        format!(
            r#"{docker}
[server]
tasks = ["{tasks}"]

[[repos]]
name = "{REPO}"
forge = "github"
secret = "{SECRET}"
clone_url = "{url}"

[[repos.triggers]]
events = ["push"]
params = {{ repo-url = "{url}", revision = "$(event.sha)", image = "{repository}:$(event.sha)", builder = "docker", push = "false", argocd-server = "{argocd}", argocd-app = "shop-staging", service-url = "http://127.0.0.1:{service_port}/", run-gitleaks = "false", run-trivy = "false" }}
"#,
            docker = docker_config(),
            tasks = root().join("tasks").display(),
            url = daemon.url(),
            argocd = argocd.url(),
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let admin = token(&state, "ci", false);
    let server = serve_on(dir.path(), &config, &state, &[], "docker");
    let client = reqwest::Client::new();

    // 1. The push runs every task but the two whose tools cannot be installed here.
    let run = push(&client, &server.base, &first, 1).await;
    let done = |r: &Value| !matches!(r["status"].as_str(), Some("Queued" | "Running"));
    let r = wait_for_run(&client, &server, &admin, &run, 600, done).await;
    let by_task = tasks(&r);
    assert_eq!(
        r["status"],
        "Succeeded",
        "{r:#}\n{}",
        server.log.lock().unwrap().join("\n")
    );
    for task in [
        "fetch-source",
        "code-quality",
        "unit-tests",
        "secret-scan",
        "build-image",
        "deploy",
        "load-test",
    ] {
        assert_eq!(by_task[task].0, "Succeeded", "{task}: {r:#}");
    }
    for task in ["gitleaks", "image-scan"] {
        assert_eq!(by_task[task].0, "Skipped", "{task}: {r:#}");
    }
    assert_eq!(by_task["fetch-source"].1["commit"], first.as_str());
    assert_eq!(by_task["code-quality"].1["language"], "python");
    assert_eq!(by_task["code-quality"].1["issues"], "0");
    assert_eq!(by_task["unit-tests"].1["passed"], "2");
    assert_eq!(by_task["unit-tests"].1["failed"], "0");
    assert_eq!(by_task["secret-scan"].1["findings"], "0");
    let image = format!("{repository}:{first}");
    assert_eq!(by_task["build-image"].1["image-url"], image.as_str());
    let built = docker(&["image", "inspect", "-f", "{{.Id}}", &image]);
    assert_eq!(by_task["build-image"].1["image-digest"], built.as_str());
    assert_eq!(by_task["deploy"].1["health"], "Healthy");
    assert_eq!(by_task["load-test"].1["error-rate"], "0");

    // ArgoCD was asked to point the application at the built image, then to sync it.
    let calls = argocd.calls();
    let patch = calls
        .iter()
        .find(|c| c.method == "PATCH")
        .unwrap_or_else(|| panic!("no PATCH among {calls:#?}"));
    assert_eq!(patch.path, "/api/v1/applications/shop-staging");
    assert!(patch.body.to_string().contains(&image), "{patch:#?}");
    assert!(
        calls
            .iter()
            .any(|c| c.method == "POST" && c.path == "/api/v1/applications/shop-staging/sync"),
        "{calls:#?}"
    );

    // The deploy is recorded as a deployment of the service, for the DORA metrics.
    let deployments = api(&client, &server.base, &admin, "/deployments").await;
    let list = deployments["deployments"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{deployments}");
    assert_eq!(list[0]["environment"], "staging");
    assert_eq!(list[0]["commit"], first.as_str());

    // 2. A planted secret fails the scan, and nothing after it runs.
    std::fs::write(
        work.join("settings.py"),
        "AWS_ACCESS_KEY_ID = \"AKIAQYLPMN5HHHFPZAM2\"\nAWS_SECRET_ACCESS_KEY = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYz1\"\n",
    )
    .unwrap();
    let second = commit(&work, "settings: oops");
    git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    let syncs_before = argocd.calls().len();
    let run = push(&client, &server.base, &second, 2).await;
    let r = wait_for_run(&client, &server, &admin, &run, 600, done).await;
    let by_task = tasks(&r);
    assert_eq!(r["status"], "Failed", "{r:#}");
    assert_eq!(by_task["secret-scan"].0, "Failed", "{r:#}");
    assert_ne!(by_task["secret-scan"].1["findings"], "0", "{r:#}");
    for task in ["build-image", "deploy", "load-test"] {
        assert!(
            by_task.get(task).is_none_or(|t| t.0 == "Skipped"),
            "{task} ran after the failed scan: {r:#}"
        );
    }
    assert_eq!(
        argocd.calls().len(),
        syncs_before,
        "ArgoCD was called again"
    );
    assert_eq!(
        docker(&["images", "-q", &format!("{repository}:{second}")]),
        ""
    );
}

/// The seed's universal pipeline, as `runnel run` runs it on a laptop: every task runs but
/// those whose tools cannot be installed here (gitleaks, Trivy's two scans), which it shows
/// Skipped; it deploys to staging, load-tests, and promotes to production.
#[tokio::test(flavor = "multi_thread")]
async fn the_seeds_universal_pipeline_runs_with_the_unavailable_tools_skipped() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let served = dir.path().join("served");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&served).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    write_service(&work);
    let sha = commit(&work, "shop: a greeting service");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            served.join("shop.git").to_str().unwrap(),
        ],
    );
    let daemon = GitDaemon::start(&served, "shop.git");
    let label = format!("dev.runnel.universal-test={}", std::process::id());
    let registry = format!("runnel-e2e/universal-{}", std::process::id());
    let _cleanup = Cleanup {
        label: label.clone(),
        repository: format!("{registry}/shop"),
    };
    let service_port = free_port();
    let argocd = ArgoCd::start(Settings {
        on_sync: Some(Arc::new(deployer(label, service_port))),
        ..Settings::default()
    })
    .await;
    let config = dir.path().join("runnel.toml");
    std::fs::write(&config, docker_config()).unwrap();

    let params = [
        format!("repo-url={}", daemon.url()),
        format!("revision={sha}"),
        "service-name=shop".to_owned(),
        format!("image-registry={registry}"),
        "builder=docker".to_owned(),
        "push=false".to_owned(),
        format!("argocd-server={}", argocd.url()),
        format!("service-url=http://127.0.0.1:{service_port}/"),
        "run-gitleaks=false".to_owned(),
        "run-trivy=false".to_owned(),
    ];
    let mut cmd = runnel();
    cmd.current_dir(dir.path())
        .args(["run", "--config"])
        .arg(&config)
        .arg("--tasks")
        .arg(root().join("tasks"))
        .arg(root().join("pipelines/universal-service-pipeline.yaml"));
    for p in &params {
        cmd.args(["-p", p]);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!(
        "{stdout}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    // The summary table: one line per task, its status second.
    let status = |task: &str| -> String {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(task))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("no line for {task} in\n{all}"))
            .to_owned()
    };
    for task in [
        "fetch-source",
        "code-quality",
        "unit-tests",
        "secret-scan",
        "build-image",
        "deploy",
        "integration-tests",
        "performance-tests",
        "promote-to-production",
    ] {
        assert_eq!(status(task), "Succeeded", "{task}\n{all}");
    }
    for task in ["gitleaks", "dependency-scan", "image-scan"] {
        assert_eq!(status(task), "Skipped", "{task}\n{all}");
    }
    // Staging, then production, each pointed at the image built from this commit.
    let synced: Vec<String> = argocd
        .calls()
        .iter()
        .filter(|c| c.method == "POST")
        .map(|c| c.path.clone())
        .collect();
    assert_eq!(
        synced,
        [
            "/api/v1/applications/shop-staging/sync",
            "/api/v1/applications/shop-production/sync"
        ]
    );
    let image = format!("{registry}/shop:{sha}");
    assert!(
        argocd
            .calls()
            .iter()
            .filter(|c| c.method == "PATCH")
            .all(|c| c.body.to_string().contains(&image)),
        "{:#?}",
        argocd.calls()
    );
}
