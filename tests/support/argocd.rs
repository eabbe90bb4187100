//! A loopback stand-in of ArgoCD's application API for the `argocd-sync` task: a real HTTP
//! server on `127.0.0.1:0` that records every call, checks the bearer token, applies the
//! JSON merge patches of `PATCH /api/v1/applications/{name}`, and plays a sync out as a small
//! state machine: after `POST .../sync`, `GET` answers OutOfSync/Progressing with the
//! operation Running for a few polls (and while the [`SyncHook`] runs), then Synced/Healthy,
//! or what [`Outcome`] says.
//!
//! ```ignore
//! let argocd = ArgoCd::start(Settings { token: Some("t".into()), ..Settings::default() }).await;
//! // run the task with server = argocd.url() …
//! let calls = argocd.calls();
//! ```
//!
//! Applications exist as soon as they are named. The server speaks HTTP/1.1, one request per
//! connection (`connection: close`) with `content-length` bodies, which is what urllib and
//! reqwest send; it stops when the [`ArgoCd`] is dropped.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// What a sync deploys: called on a thread of its own with the application's kustomize
/// image override (`NAME=REF`, the one set last, else the first) when a sync starts; the
/// application stays Progressing until it returns, then is Healthy, or Degraded with the
/// error as its message. Not called when the application has no image override.
pub type SyncHook = Arc<dyn Fn(String) -> Result<(), String> + Send + Sync>;

/// How a sync ends once its Progressing polls are over (and the hook, if any, succeeded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Synced and Healthy; the operation Succeeded.
    Healthy,
    /// Synced, but the health is Degraded with this message; the operation Succeeded.
    Degraded(String),
    /// The sync operation Failed with this message; the application stays OutOfSync.
    Failed(String),
    /// Never done: OutOfSync/Progressing with the operation Running, forever.
    Stuck,
}

/// How the stand-in behaves.
#[derive(Clone)]
pub struct Settings {
    /// The bearer token every call must carry; `None` accepts any call.
    pub token: Option<String>,
    /// How many `GET`s after a sync answer Progressing before the sync ends.
    pub progressing_polls: u32,
    /// How a sync ends.
    pub outcome: Outcome,
    /// Called when a sync starts (see [`SyncHook`]).
    pub on_sync: Option<SyncHook>,
    /// The kustomize image overrides every application starts with.
    pub images: Vec<String>,
    /// The revision a sync without one deploys (`status.sync.revision`).
    pub revision: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            token: None,
            progressing_polls: 2,
            outcome: Outcome::Healthy,
            on_sync: None,
            images: Vec::new(),
            revision: DEFAULT_REVISION.to_owned(),
        }
    }
}

/// The revision a sync without one reports, unless [`Settings::revision`] says otherwise.
pub const DEFAULT_REVISION: &str = "4f1c9a8e2b7d6c5a3e0f9b8a7c6d5e4f3a2b1c0d";

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The query string, without `?` (empty when none).
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
}

impl Call {
    /// The value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The running stand-in.
pub struct ArgoCd {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    settings: Settings,
    state: Mutex<State>,
    stop: AtomicBool,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    apps: BTreeMap<String, App>,
}

/// One application: its document (metadata and spec) and where its sync stands.
struct App {
    doc: Value,
    sync_status: &'static str,
    health: &'static str,
    health_message: String,
    revision: String,
    /// The image override set last by a PATCH.
    patched_image: Option<String>,
    sync: Option<SyncRun>,
}

/// A sync in progress or done.
struct SyncRun {
    request: Value,
    revision: String,
    polls_left: u32,
    /// `None` while the hook runs.
    hook: Option<Result<(), String>>,
    phase: &'static str,
    message: String,
}

impl ArgoCd {
    /// Starts the stand-in on a free loopback port.
    pub async fn start(settings: Settings) -> ArgoCd {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            settings,
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
        });
        let serving = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if serving.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let shared = serving.clone();
                std::thread::spawn(move || serve(&shared, conn));
            }
        });
        ArgoCd { addr, shared }
    }

    /// Starts the stand-in requiring `token`, with `on_sync` deploying what each sync names;
    /// syncs end Healthy once the hook succeeds.
    pub async fn start_with_token(token: &str, on_sync: SyncHook) -> ArgoCd {
        ArgoCd::start(Settings {
            token: Some(token.to_owned()),
            on_sync: Some(on_sync),
            ..Settings::default()
        })
        .await
    }

    /// Its base URL, `http://127.0.0.1:PORT` (the task's `server` param).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in order (refused ones too).
    pub fn calls(&self) -> Vec<Call> {
        self.shared.state.lock().unwrap().calls.clone()
    }

    /// The application's document as `GET` answers it now (`None` if never named).
    pub fn application(&self, name: &str) -> Option<Value> {
        let state = self.shared.state.lock().unwrap();
        state.apps.get(name).map(App::render)
    }
}

impl Drop for ArgoCd {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads one request, answers it and closes the connection.
fn serve(shared: &Arc<Shared>, conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Some(call) = read_request(&conn) else {
        return;
    };
    let (status, body) = {
        let mut state = shared.state.lock().unwrap();
        state.calls.push(call.clone());
        answer(shared, &mut state, &call)
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Error",
    };
    let body = body.to_string();
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.flush();
}

fn read_request(conn: &TcpStream) -> Option<Call> {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            break;
        }
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
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Call {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

/// ArgoCD's error body (grpc-gateway's: a gRPC code and the message).
fn error(status: u16, code: u32, message: &str) -> (u16, Value) {
    (
        status,
        json!({ "error": message, "code": code, "message": message }),
    )
}

fn answer(shared: &Arc<Shared>, state: &mut State, call: &Call) -> (u16, Value) {
    if let Some(token) = &shared.settings.token {
        let sent = call
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "));
        if sent != Some(token.as_str()) {
            return error(
                401,
                16,
                "invalid session: token signature is invalid or no session information",
            );
        }
    }
    let Some(rest) = call.path.strip_prefix("/api/v1/applications/") else {
        return error(404, 5, &format!("no route for {}", call.path));
    };
    let (name, action) = match rest.split_once('/') {
        Some((name, action)) => (name, Some(action)),
        None => (rest, None),
    };
    let name = percent_decode(name);
    let app = state
        .apps
        .entry(name.clone())
        .or_insert_with(|| App::new(&name, &shared.settings));
    match (call.method.as_str(), action) {
        ("GET", None) => {
            app.poll(&shared.settings);
            (200, app.render())
        }
        ("PATCH", None) => match app.patch(&call.body) {
            Ok(()) => (200, app.render()),
            Err(message) => error(400, 3, &message),
        },
        ("POST", Some("sync")) => {
            app.start_sync(shared, &name, &call.body);
            (200, app.render())
        }
        _ => error(
            404,
            5,
            &format!("no route for {} {}", call.method, call.path),
        ),
    }
}

impl App {
    fn new(name: &str, settings: &Settings) -> App {
        App {
            doc: json!({
                "metadata": { "name": name, "namespace": "argocd" },
                "spec": {
                    "project": "default",
                    "source": {
                        "repoURL": "https://git.example/deploy.git",
                        "path": format!("overlays/{name}"),
                        "targetRevision": "HEAD",
                        "kustomize": { "images": settings.images },
                    },
                    "destination": { "server": "https://kubernetes.default.svc", "namespace": name },
                },
            }),
            sync_status: "Synced",
            health: "Healthy",
            health_message: String::new(),
            revision: "0000000000000000000000000000000000000000".to_owned(),
            patched_image: None,
            sync: None,
        }
    }

    /// `ApplicationPatchRequest`: `patch` is a JSON document in a string, applied as
    /// `patchType` says (only `merge` here; ArgoCD also takes `json`).
    fn patch(&mut self, body: &Value) -> Result<(), String> {
        match body["patchType"].as_str() {
            Some("merge") => {}
            other => return Err(format!("Patch type '{other:?}' is not supported here")),
        }
        let patch: Value = body["patch"]
            .as_str()
            .ok_or("patch must be a string")
            .and_then(|p| serde_json::from_str(p).map_err(|_| "patch is not JSON"))?;
        let before = self.doc["spec"].clone();
        merge_patch(&mut self.doc, &patch);
        if self.doc["spec"] != before {
            self.sync_status = "OutOfSync";
        }
        if let Some(images) = patch["spec"]["source"]["kustomize"]["images"].as_array() {
            let old = before["source"]["kustomize"]["images"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            self.patched_image = images
                .iter()
                .filter(|i| !old.contains(i))
                .chain(images.last())
                .find_map(|i| i.as_str().map(str::to_owned));
        }
        Ok(())
    }

    fn start_sync(&mut self, shared: &Arc<Shared>, name: &str, body: &Value) {
        let settings = &shared.settings;
        let image = self.patched_image.clone().or_else(|| {
            self.doc["spec"]["source"]["kustomize"]["images"][0]
                .as_str()
                .map(str::to_owned)
        });
        let hook = match (&settings.on_sync, image) {
            (Some(hook), Some(image)) => {
                let hook = hook.clone();
                let shared = shared.clone();
                let name = name.to_owned();
                std::thread::spawn(move || {
                    let outcome = hook(image);
                    let mut state = shared.state.lock().unwrap();
                    if let Some(sync) = state.apps.get_mut(&name).and_then(|a| a.sync.as_mut()) {
                        sync.hook = Some(outcome);
                    }
                });
                None
            }
            _ => Some(Ok(())),
        };
        self.sync = Some(SyncRun {
            request: body.clone(),
            revision: body["revision"]
                .as_str()
                .filter(|r| !r.is_empty())
                .unwrap_or(&settings.revision)
                .to_owned(),
            polls_left: settings.progressing_polls,
            hook,
            phase: "Running",
            message: "waiting for completion of hook and sync".to_owned(),
        });
        self.sync_status = "OutOfSync";
        self.health = "Progressing";
        self.health_message.clear();
    }

    /// A `GET` moves a running sync one poll on, and ends it when its time has come.
    fn poll(&mut self, settings: &Settings) {
        let Some(sync) = self.sync.as_mut() else {
            return;
        };
        if sync.phase != "Running" {
            return;
        }
        if sync.polls_left > 0 {
            sync.polls_left -= 1;
            return;
        }
        let outcome = match &sync.hook {
            None => return,
            Some(Err(message)) => Outcome::Degraded(message.clone()),
            Some(Ok(())) => settings.outcome.clone(),
        };
        match outcome {
            Outcome::Stuck => {}
            Outcome::Failed(message) => {
                sync.phase = "Failed";
                sync.message = message;
                self.health = "Missing";
            }
            Outcome::Healthy | Outcome::Degraded(_) => {
                sync.phase = "Succeeded";
                sync.message = "successfully synced (all tasks run)".to_owned();
                self.sync_status = "Synced";
                self.revision = sync.revision.clone();
                if let Outcome::Degraded(message) = outcome {
                    self.health = "Degraded";
                    self.health_message = message;
                } else {
                    self.health = "Healthy";
                }
            }
        }
    }

    /// The Application as ArgoCD returns it (the fields the task reads, and a few more).
    fn render(&self) -> Value {
        let mut doc = self.doc.clone();
        let mut health = json!({ "status": self.health });
        if !self.health_message.is_empty() {
            health["message"] = json!(self.health_message);
        }
        let mut status = json!({
            "sync": { "status": self.sync_status, "revision": self.revision },
            "health": health,
        });
        if let Some(sync) = &self.sync {
            let operation = json!({ "sync": sync.request, "initiatedBy": { "username": "admin" } });
            status["operationState"] = json!({
                "operation": operation,
                "phase": sync.phase,
                "message": sync.message,
                "startedAt": "2026-01-01T00:00:00Z",
            });
            if sync.phase == "Running" {
                doc["operation"] = operation;
            } else {
                status["operationState"]["syncResult"] = json!({ "revision": sync.revision });
            }
        }
        doc["status"] = status;
        doc
    }
}

/// RFC 7386 JSON merge patch, as ArgoCD applies `patchType: merge`.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().unwrap();
    for (key, value) in fields {
        if value.is_null() {
            object.remove(key);
        } else {
            merge_patch(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
