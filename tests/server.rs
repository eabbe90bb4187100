//! `runnel serve` end to end, through the real binary with the local runner: a bare git
//! repository whose `.tekton/pipeline.yaml` uses a task of the server's shared catalog, a
//! signed GitHub push webhook (GitHub's own example payload, pointed at that repository), the
//! run it queues, its step's log followed live over SSE (and resumed with `Last-Event-ID`),
//! the same delivery sent again (no second run), and every kind of bad webhook and API
//! request with the status it must get.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

/// A service repository with `.tekton/pipeline.yaml`, pushed to a bare repository; returns
/// the bare repository's path and the commit.
fn service_repo(root: &Path) -> (PathBuf, String) {
    let work = root.join("work");
    std::fs::create_dir_all(work.join(".tekton")).unwrap();
    std::fs::write(
        work.join(".tekton/pipeline.yaml"),
        r#"apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: shop-ci
spec:
  params:
    - name: revision
    - name: event
  tasks:
    - name: build
      taskRef:
        name: say
      params:
        - name: message
          value: building $(params.revision) on $(params.event)
"#,
    )
    .unwrap();
    std::fs::write(work.join("README.md"), "the shop\n").unwrap();
    git(&work, &["init", "-q", "-b", "master"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "shop with a pipeline"]);
    let sha = git(&work, &["rev-parse", "HEAD"]);
    let bare = root.join("shop.git");
    git(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    (bare, sha)
}

/// The server's shared catalog: one task that prints, waits, and prints again (so that a
/// client can follow it live).
fn catalog(root: &Path) -> PathBuf {
    let tasks = root.join("tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    std::fs::write(
        tasks.join("say.yaml"),
        r#"apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: say
spec:
  params:
    - name: message
  steps:
    - name: speak
      image: busybox
      script: |
        #!/bin/sh
        echo "$(params.message)"
        for i in 1 2 3; do echo "before $i"; done
        # Wait until the test follows the step live (or 20 s).
        n=0; while [ ! -e /tmp/runnel-server-test-go-$(context.taskRun.name) ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done
        for i in 1 2 3; do echo "after $i"; done
"#,
    )
    .unwrap();
    tasks
}

/// A test's directory: a service repository pushed to a bare one, the server's catalog, a
/// state directory, and a config file whose text `config` makes from the catalog's and the
/// bare repository's paths.
struct Fixture {
    root: tempfile::TempDir,
    sha: String,
    state: PathBuf,
    config: PathBuf,
}

fn fixture(config: impl FnOnce(String, String) -> String) -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let (bare, sha) = service_repo(root.path());
    let tasks = catalog(root.path());
    let path = root.path().join("runnel.toml");
    std::fs::write(
        &path,
        config(tasks.display().to_string(), bare.display().to_string()),
    )
    .unwrap();
    Fixture {
        state: root.path().join("state"),
        config: path,
        root,
        sha,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_push_runs_the_repos_pipeline_and_its_log_streams_live() {
    let Fixture {
        root,
        sha,
        state,
        config,
    } = fixture(|tasks, bare| {
        format!(
            r#"[server]
tasks = ["{tasks}"]
body_limit = 200000
public_url = "http://runnel.example"

[[repos]]
name = "Codertocat/Hello-World"
forge = "github"
secret = "{SECRET}"
clone_url = "file://{bare}"

[[repos.triggers]]
events = ["push"]
branches = ["master", "main"]
params = {{ revision = "$(body.after)", event = "$(header.X-GitHub-Event)" }}
"#,
        )
    });
    let admin = token(&state, "ci", false);
    let viewer = token(&state, "viewer", true);
    let forge = FakeForge::start();
    std::fs::write(
        &config,
        std::fs::read_to_string(&config).unwrap().replace(
            "clone_url = ",
            &format!(
                "token_env = \"FORGE_TOKEN\"\napi_url = \"http://{}\"\nclone_url = ",
                forge.addr
            ),
        ) + "",
    )
    .unwrap();
    let server = serve_env(root.path(), &config, &state, &[("FORGE_TOKEN", "ghp_test")]);
    let base = server.base.clone();
    let client = reqwest::Client::new();

    // GitHub's example push, pointed at our commit.
    let mut payload: Value = serde_json::from_slice(
        &std::fs::read(webhooks().join("github/push_with-new-branch.payload.json")).unwrap(),
    )
    .unwrap();
    payload["after"] = json!(sha);
    payload["head_commit"]["id"] = json!(sha);
    let body = serde_json::to_vec(&payload).unwrap();
    let started = Instant::now();
    let (status, answer) = send(
        &client,
        &base,
        Hook {
            event: "push",
            delivery: "delivery-1",
            body: body.clone(),
            signature: Some(sign(&body)),
        },
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["outcome"], "queued");
    let run_id = answer["run"].as_str().unwrap().to_owned();
    // Answered without cloning or running anything.
    assert!(started.elapsed() < Duration::from_secs(5));

    // The step runs: follow its log live.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (task_run, index) = loop {
        let run = api(&client, &base, &admin, &format!("/runs/{run_id}")).await;
        if let Some(tr) = run["task_runs"].as_array().and_then(|t| t.first())
            && tr["steps"][0]["status"] == "Running"
        {
            break (tr["id"].as_str().unwrap().to_owned(), 0);
        }
        assert!(
            Instant::now() < deadline,
            "the step never ran: {run}\n{}",
            server.log.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stream_url =
        format!("{base}/api/v1/runs/{run_id}/taskruns/{task_run}/steps/{index}/log/stream");
    let resp = client
        .get(&stream_url)
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let tr_name =
        api(&client, &base, &admin, &format!("/runs/{run_id}")).await["task_runs"][0]["name"]
            .as_str()
            .unwrap()
            .to_owned();
    let go = PathBuf::from(format!("/tmp/runnel-server-test-go-{tr_name}"));
    let mut released = false;
    let events = read_events(resp, |e| {
        // Once the first lines arrived live, let the step go on.
        if !released && e.data["text"] == "before 3" {
            std::fs::write(&go, "").unwrap();
            released = true;
        }
        false
    })
    .await;
    let _ = std::fs::remove_file(&go);
    assert_eq!(
        texts(&events),
        vec![
            format!("building {sha} on push"),
            "before 1".into(),
            "before 2".into(),
            "before 3".into(),
            "after 1".into(),
            "after 2".into(),
            "after 3".into(),
        ]
    );
    let end = events.last().unwrap();
    assert_eq!(end.event, "end");
    assert_eq!(end.data["status"], "Succeeded", "{:?}", end.data);
    assert_eq!(end.data["exit_code"], 0);
    let ids: Vec<u64> = events
        .iter()
        .filter_map(|e| e.id.as_ref().map(|i| i.parse().unwrap()))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // The run ends Succeeded, with where it came from.
    let deadline = Instant::now() + Duration::from_secs(30);
    let run = loop {
        let run = api(&client, &base, &admin, &format!("/runs/{run_id}")).await;
        if run["status"] != "Running" && run["status"] != "Queued" {
            break run;
        }
        assert!(Instant::now() < deadline, "{run}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(
        run["graph"],
        json!([{"name": "build", "after": [], "finally": false}])
    );
    assert_eq!(run["target"], "shop-ci");
    assert_eq!(run["source"]["repo"], "Codertocat/Hello-World");
    assert_eq!(run["source"]["branch"], "master");
    assert_eq!(run["source"]["commit"], json!(sha));

    // The whole stored log agrees with what was streamed; resuming after the second line
    // gives the rest, from the store, and the end.
    let log = client
        .get(format!(
            "{base}/api/v1/runs/{run_id}/taskruns/{task_run}/steps/0/log"
        ))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(log.lines().count(), 7, "{log}");
    assert_eq!(log.len() as u64, *ids.last().unwrap());
    let resp = client
        .get(&stream_url)
        .bearer_auth(&viewer)
        .header("Last-Event-ID", ids[1].to_string())
        .send()
        .await
        .unwrap();
    let resumed = read_events(resp, |_| false).await;
    assert_eq!(texts(&resumed), texts(&events)[2..].to_vec());
    // A byte range of the log.
    let ranged = client
        .get(format!(
            "{base}/api/v1/runs/{run_id}/taskruns/{task_run}/steps/0/log"
        ))
        .bearer_auth(&viewer)
        .header("Range", format!("bytes={}-{}", ids[0], ids[1] - 1))
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status().as_u16(), 206);
    assert!(ranged.text().await.unwrap().ends_with(" out before 1\n"));

    // The forge heard of it: queued, running, succeeded, on the pushed commit.
    let deadline = Instant::now() + Duration::from_secs(30);
    while forge.requests().len() < 3 {
        assert!(Instant::now() < deadline, "{:?}", forge.requests());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let statuses = forge.requests();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    for (r, state) in statuses.iter().zip(["pending", "pending", "success"]) {
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.path,
            format!("/repos/Codertocat/Hello-World/statuses/{sha}")
        );
        assert_eq!(r.header("authorization"), Some("Bearer ghp_test"));
        assert_eq!(r.body["state"], state, "{r:?}");
        assert_eq!(r.body["context"], "runnel");
        assert_eq!(
            r.body["target_url"],
            json!(format!("http://runnel.example/runs/{run_id}"))
        );
    }
    // Queued and running may reach the forge in either order (both are pending).
    assert!(
        statuses[..2]
            .iter()
            .any(|r| r.body["description"].as_str().unwrap().contains("queued")),
        "{statuses:?}"
    );

    // The same delivery again, and the same change under a new delivery id: no new run.
    for delivery in ["delivery-1", "delivery-2"] {
        let (status, answer) = send(
            &client,
            &base,
            Hook {
                event: "push",
                delivery,
                body: body.clone(),
                signature: Some(sign(&body)),
            },
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["outcome"], "duplicate");
        assert_eq!(answer["run"].as_str(), Some(run_id.as_str()));
    }

    // Bad webhooks: each gets its status and makes no run.
    let tag_deletion = std::fs::read(webhooks().join("github/push_payload.json")).unwrap();
    // GitHub's example ping is for another repository: make it ours.
    let mut ping: Value = serde_json::from_slice(
        &std::fs::read(webhooks().join("github/ping_payload.json")).unwrap(),
    )
    .unwrap();
    ping["repository"]["full_name"] = json!("Codertocat/Hello-World");
    let ping = serde_json::to_vec(&ping).unwrap();
    let mut pr = serde_json::from_slice::<Value>(
        &std::fs::read(webhooks().join("github/pull_request_opened.payload.json")).unwrap(),
    )
    .unwrap();
    pr["repository"]["full_name"] = json!("Codertocat/Hello-World");
    let pr = serde_json::to_vec(&pr).unwrap();
    let mut unknown_repo = payload.clone();
    unknown_repo["repository"]["full_name"] = json!("someone/else");
    let unknown_repo = serde_json::to_vec(&unknown_repo).unwrap();
    let big = vec![b' '; 300_000];
    let cases: Vec<(&str, Hook<'_>, u16, &str)> = vec![
        (
            "no signature",
            Hook {
                event: "push",
                delivery: "d-3",
                body: body.clone(),
                signature: None,
            },
            401,
            "rejected",
        ),
        (
            "a wrong signature",
            Hook {
                event: "push",
                delivery: "d-4",
                body: body.clone(),
                signature: Some(sign(b"other")),
            },
            401,
            "rejected",
        ),
        (
            "malformed JSON",
            Hook {
                event: "push",
                delivery: "d-5",
                body: b"{not json".to_vec(),
                signature: Some(sign(b"{not json")),
            },
            400,
            "rejected",
        ),
        (
            "a body over the limit",
            Hook {
                event: "push",
                delivery: "d-6",
                body: big.clone(),
                signature: Some(sign(&big)),
            },
            413,
            "rejected",
        ),
        (
            "an unconfigured repository",
            Hook {
                event: "push",
                delivery: "d-7",
                body: unknown_repo.clone(),
                signature: Some(sign(&unknown_repo)),
            },
            401,
            "rejected",
        ),
        (
            "ping",
            Hook {
                event: "ping",
                delivery: "d-8",
                body: ping.clone(),
                signature: Some(sign(&ping)),
            },
            200,
            "ignored",
        ),
        (
            "a tag deletion",
            Hook {
                event: "push",
                delivery: "d-9",
                body: tag_deletion.clone(),
                signature: Some(sign(&tag_deletion)),
            },
            202,
            "ignored",
        ),
        (
            "an event no trigger takes",
            Hook {
                event: "pull_request",
                delivery: "d-10",
                body: pr.clone(),
                signature: Some(sign(&pr)),
            },
            202,
            "ignored",
        ),
        (
            "an event runnel does not handle",
            Hook {
                event: "issues",
                delivery: "d-11",
                body: body.clone(),
                signature: Some(sign(&body)),
            },
            202,
            "ignored",
        ),
    ];
    for (what, hook, want, outcome) in cases {
        let (status, answer) = send(&client, &base, hook).await;
        assert_eq!(status, want, "{what}: {answer}");
        assert_eq!(answer["outcome"], outcome, "{what}: {answer}");
        if outcome != "queued" {
            assert!(answer.get("run").is_none(), "{what}: {answer}");
        }
    }
    let runs = api(&client, &base, &admin, "/runs").await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
    // Every delivery is recorded.
    let deliveries = api(&client, &base, &viewer, "/deliveries?limit=100").await;
    let listed = deliveries["deliveries"].as_array().unwrap();
    assert_eq!(listed.len(), 12, "{deliveries}");
    assert_eq!(
        listed
            .iter()
            .filter(|d| d["outcome"] == "duplicate")
            .count(),
        2
    );
    assert_eq!(
        listed.iter().filter(|d| d["outcome"] == "queued").count(),
        1
    );

    // The API wants a token; a read-only one only reads.
    let no_token = client
        .get(format!("{base}/api/v1/runs"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status().as_u16(), 401);
    let bad_token = client
        .get(format!("{base}/api/v1/runs"))
        .bearer_auth("rnl_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status().as_u16(), 401);
    let read_only_cancel = client
        .post(format!("{base}/api/v1/runs/{run_id}/cancel"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(read_only_cancel.status().as_u16(), 403);
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    // Cancelling a finished run: nothing to cancel.
    let finished_cancel = client
        .post(format!("{base}/api/v1/runs/{run_id}/cancel"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(finished_cancel.status().as_u16(), 409);
}

/// Posts a webhook with the given headers; returns the status and JSON answer.
async fn post_hook(
    client: &reqwest::Client,
    url: String,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, Value) {
    let mut req = client.post(url).header("Content-Type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.body(body.to_vec()).send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_and_gitea_pushes_queue_runs_under_their_own_secrets() {
    let Fixture {
        root,
        sha,
        state,
        config,
    } = fixture(|tasks, bare| {
        format!(
            r#"[server]
tasks = ["{tasks}"]

[[repos]]
name = "mike/diaspora"
forge = "gitlab"
secret = "gitlab-token"
clone_url = "file://{bare}"
[[repos.triggers]]
params = {{ revision = "$(event.sha)", event = "$(header.X-Gitlab-Event)" }}

[[repos]]
name = "acme/shop"
forge = "gitea"
secret = "gitea-secret"
clone_url = "file://{bare}"
[[repos.triggers]]
params = {{ revision = "$(body.after)", event = "$(header.X-Gitea-Event)" }}
"#,
        )
    });
    let admin = token(&state, "ci", false);
    let server = serve(root.path(), &config, &state);
    let base = server.base.clone();
    let client = reqwest::Client::new();

    // GitLab's example push, pointed at our commit.
    let mut gitlab: Value =
        serde_json::from_slice(&std::fs::read(webhooks().join("gitlab/push.json")).unwrap())
            .unwrap();
    gitlab["after"] = json!(sha);
    gitlab["checkout_sha"] = json!(sha);
    let gitlab = serde_json::to_vec(&gitlab).unwrap();
    let gitlab_headers = |token: &str, key: &str| {
        vec![
            ("X-Gitlab-Event", "Push Hook".to_owned()),
            ("X-Gitlab-Token", token.to_owned()),
            ("Idempotency-Key", key.to_owned()),
        ]
    };
    let url = format!("{base}/hooks/gitlab");
    let (status, wrong) = post_hook(
        &client,
        url.clone(),
        &gitlab_headers("nope", "k-0"),
        &gitlab,
    )
    .await;
    assert_eq!(status, 401, "{wrong}");
    let (status, queued) = post_hook(
        &client,
        url.clone(),
        &gitlab_headers("gitlab-token", "k-1"),
        &gitlab,
    )
    .await;
    assert_eq!(status, 202, "{queued}");
    let gitlab_run = queued["run"].as_str().unwrap().to_owned();
    let (status, again) = post_hook(
        &client,
        url,
        &gitlab_headers("gitlab-token", "k-1"),
        &gitlab,
    )
    .await;
    assert_eq!(
        (status, again["outcome"].as_str()),
        (200, Some("duplicate"))
    );

    // A Gitea push, signed with bare hex.
    let gitea = serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": sha,
        "commits": [{"id": sha, "message": "shop with a pipeline\n", "timestamp": "2026-11-23T10:00:00Z",
                     "author": {"name": "Dev", "email": "dev@example.com", "username": "dev"},
                     "added": [".tekton/pipeline.yaml", "README.md"], "removed": [], "modified": []}],
        "total_commits": 1,
        "repository": {"full_name": "acme/shop", "clone_url": "https://gitea.example/acme/shop.git"},
        "pusher": {"login": "dev"},
        "sender": {"login": "dev"},
    }))
    .unwrap();
    let url = format!("{base}/hooks/gitea");
    let gitea_headers = |sig: String| {
        vec![
            ("X-Gitea-Event", "push".to_owned()),
            ("X-Gitea-Delivery", "g-1".to_owned()),
            ("X-Gitea-Signature", sig),
        ]
    };
    let (status, wrong) = post_hook(
        &client,
        url.clone(),
        &gitea_headers(hmac_hex("other", &gitea)),
        &gitea,
    )
    .await;
    assert_eq!(status, 401, "{wrong}");
    let (status, queued) = post_hook(
        &client,
        url,
        &gitea_headers(hmac_hex("gitea-secret", &gitea)),
        &gitea,
    )
    .await;
    assert_eq!(status, 202, "{queued}");
    let gitea_run = queued["run"].as_str().unwrap().to_owned();

    // Both run to the end (their steps wait for the go file, or 20 s: release them).
    for (run_id, event) in [(&gitlab_run, "Push Hook"), (&gitea_run, "push")] {
        let deadline = Instant::now() + Duration::from_secs(60);
        let run = loop {
            let run = api(&client, &base, &admin, &format!("/runs/{run_id}")).await;
            if let Some(name) = run["task_runs"][0]["name"].as_str() {
                let _ = std::fs::write(format!("/tmp/runnel-server-test-go-{name}"), "");
            }
            if run["status"] != "Running" && run["status"] != "Queued" {
                break run;
            }
            assert!(Instant::now() < deadline, "{run}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if let Some(name) = run["task_runs"][0]["name"].as_str() {
            let _ = std::fs::remove_file(format!("/tmp/runnel-server-test-go-{name}"));
        }
        assert_eq!(run["status"], "Succeeded", "{run}");
        assert_eq!(run["params"]["event"], event);
        assert_eq!(run["params"]["revision"], json!(sha));
    }
}

/// A request the fake forge received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A forge's commit status API on loopback: records every request and answers 201.
struct FakeForge {
    addr: std::net::SocketAddr,
    received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

impl FakeForge {
    fn start() -> FakeForge {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_owned();
                let path = parts.next().unwrap_or("").to_owned();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    }
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                log.lock().unwrap().push(Received {
                    method,
                    path,
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                });
                let _ = conn.write_all(
                    b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                );
            }
        });
        FakeForge { addr, received }
    }

    fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
