//! What the server tests share: starting `runnel serve` through the real binary, tokens,
//! git repositories, signed webhooks, API calls and server-sent events.

#![allow(dead_code)]

pub mod argocd;
pub mod browser;
pub mod docker;
pub mod git_daemon;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use hmac::{KeyInit, Mac};
use serde_json::Value;

pub const SECRET: &str = "It's a Secret to Everybody";

pub fn webhooks() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/webhooks")
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn runnel() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runnel"));
    c.env_remove("RUNNEL_DATABASE_URL")
        .env_remove("RUNNEL_STATE_DIR")
        .env_remove("RUNNEL_SERVER")
        .env_remove("RUNNEL_TOKEN")
        .env_remove("RUNNEL_LISTEN")
        .env("NO_COLOR", "1");
    c
}

pub fn token(state: &Path, name: &str, read_only: bool) -> String {
    let mut c = runnel();
    c.args([
        "token",
        "create",
        name,
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    if read_only {
        c.arg("--read-only");
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Starts `runnel serve` on a free port; returns once it listens.
pub fn serve(dir: &Path, config: &Path, state: &Path) -> Server {
    serve_env(dir, config, state, &[])
}

/// [`serve`] with environment variables for the server.
pub fn serve_env(dir: &Path, config: &Path, state: &Path, env: &[(&str, &str)]) -> Server {
    serve_on(dir, config, state, env, "local")
}

/// [`serve_env`] with the given runner (`local` or `docker`).
pub fn serve_on(
    dir: &Path,
    config: &Path,
    state: &Path,
    env: &[(&str, &str)],
    runner: &str,
) -> Server {
    let mut child = runnel()
        .envs(env.iter().copied())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--runner",
            runner,
            "--state-dir",
            state.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("serving on http://") {
                    let rest = &line[at + "serving on ".len()..];
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
                log.lock().unwrap().push(line);
            }
        });
    }
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            panic!(
                "the server did not start:\n{}",
                log.lock().unwrap().join("\n")
            )
        });
    Server { child, base, log }
}

/// GitHub's `X-Hub-Signature-256` of `body` with [`SECRET`].
pub fn sign(body: &[u8]) -> String {
    format!("sha256={}", hmac_hex(SECRET, body))
}

/// HMAC-SHA256 of `body` in hex (Gitea's `X-Gitea-Signature`).
pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub struct Hook<'a> {
    pub event: &'a str,
    pub delivery: &'a str,
    pub body: Vec<u8>,
    pub signature: Option<String>,
}

pub async fn send(client: &reqwest::Client, base: &str, hook: Hook<'_>) -> (u16, Value) {
    let mut req = client
        .post(format!("{base}/hooks/github"))
        .header("X-GitHub-Event", hook.event)
        .header("X-GitHub-Delivery", hook.delivery)
        .header("Content-Type", "application/json");
    if let Some(sig) = hook.signature {
        req = req.header("X-Hub-Signature-256", sig);
    }
    let resp = req.body(hook.body).send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

pub async fn api(client: &reqwest::Client, base: &str, token: &str, path: &str) -> Value {
    let resp = client
        .get(format!("{base}/api/v1{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "GET {path}");
    resp.json().await.unwrap()
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: String,
    pub id: Option<String>,
    pub data: Value,
}

/// Reads events from an SSE response until `end` (or `stop` says so).
pub async fn read_events(resp: reqwest::Response, mut stop: impl FnMut(&Sse) -> bool) -> Vec<Sse> {
    let mut events = Vec::new();
    let mut buf = String::new();
    let mut body = resp.bytes_stream();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, body.next()).await {
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut e = Sse {
                event: "message".into(),
                id: None,
                data: Value::Null,
            };
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    e.event = v.to_owned();
                } else if let Some(v) = line.strip_prefix("id: ") {
                    e.id = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    e.data = serde_json::from_str(v).unwrap();
                }
            }
            if block.trim_start().starts_with(':') {
                continue; // keep-alive comment
            }
            let done = e.event == "end" || stop(&e);
            events.push(e);
            if done {
                return events;
            }
        }
    }
    panic!("the stream ended without an end event: {events:?}");
}

pub fn texts(events: &[Sse]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event == "line")
        .map(|e| e.data["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Starts a run of the server's pipeline `name` (`POST /api/v1/runs`); returns its id.
pub async fn start_named(client: &reqwest::Client, base: &str, token: &str, name: &str) -> String {
    let resp = client
        .post(format!("{base}/api/v1/runs"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "pipeline": name }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "POST /api/v1/runs {name}: {body}");
    body["run"].as_str().unwrap().to_owned()
}

/// Polls the run until `done` says so (for up to `secs` seconds); returns it.
pub async fn wait_for_run(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    run: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let r = api(client, &server.base, token, &format!("/runs/{run}")).await;
        if done(&r) {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run {run} is not there yet: {r}\n{}",
            server.log.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
