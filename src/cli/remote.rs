//! Talking to a runnel server (`runnel serve`) from the command line: where it is and the
//! token to show it (`--server`/`RUNNEL_SERVER`, `--token`/`RUNNEL_TOKEN`), a small typed
//! client over its `/api/v1`, and a reader of a step's live log (server-sent events) that
//! resumes with `Last-Event-ID` when the connection drops. The commands themselves are in
//! [`super::runs`].

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, Url};
use runnel_api::rest::{CancelAnswer, RunDetail, RunList, Started};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// How long a plain API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a live stream may stay silent (the server sends a keep-alive every 15 s).
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How many times in a row a live stream (or a poll) may fail before giving up.
pub const MAX_RETRIES: u32 = 10;

/// `--server` and `--token`, shared by the commands that can talk to a server.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// A runnel server's URL (e.g. http://ci.example:8080): read and start runs through its
    /// API instead of the local run database.
    #[arg(long, value_name = "URL", env = "RUNNEL_SERVER")]
    pub server: Option<String>,
    /// The API token (made with `runnel token create` on the server).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "RUNNEL_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

impl ServerArgs {
    /// The server's client when one is named (an empty `RUNNEL_SERVER` names none).
    pub fn client(&self) -> Result<Option<Client>, RemoteError> {
        match self.server.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => {
                Client::new(url, self.token.clone().filter(|t| !t.trim().is_empty())).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The server's client, for a command that only works against a server.
    pub fn require(&self, command: &str) -> anyhow::Result<Client> {
        self.client()?.ok_or_else(|| {
            anyhow::anyhow!(
                "`runnel {command}` talks to a runnel server: give its URL with --server URL or RUNNEL_SERVER"
            )
        })
    }
}

/// What went wrong talking to the server, worded for the person at the terminal.
#[derive(Debug)]
pub enum RemoteError {
    /// `--server` is not a URL.
    BadUrl { url: String, cause: String },
    /// Nothing answered at the server's address.
    Connect { url: String, cause: String },
    /// The server did not answer in time.
    Timeout { url: String },
    /// The connection broke while talking.
    Transport { url: String, cause: String },
    /// 401: no token, or one the server does not know.
    Unauthorized {
        url: String,
        had_token: bool,
        message: String,
    },
    /// 403: the token may not do this (a read-only token).
    Forbidden { message: String },
    /// Any other answer that is not a success: its status and the server's `error`.
    Status { status: u16, message: String },
    /// A success whose body is not what the API documents.
    Protocol { url: String, cause: String },
}

impl RemoteError {
    /// Whether trying again later may work (the server restarts, a proxy drops a stream).
    pub fn is_transient(&self) -> bool {
        match self {
            RemoteError::Connect { .. }
            | RemoteError::Timeout { .. }
            | RemoteError::Transport { .. } => true,
            RemoteError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::BadUrl { url, cause } => {
                write!(f, "the server URL `{url}` is not valid: {cause}")
            }
            RemoteError::Connect { url, cause } => write!(
                f,
                "cannot connect to the runnel server at {url} ({cause}); is `runnel serve` running there? (--server or RUNNEL_SERVER names it)"
            ),
            RemoteError::Timeout { url } => {
                write!(f, "the runnel server at {url} did not answer in time")
            }
            RemoteError::Transport { url, cause } => {
                write!(
                    f,
                    "the connection to the runnel server at {url} broke: {cause}"
                )
            }
            RemoteError::Unauthorized {
                url,
                had_token: false,
                ..
            } => write!(
                f,
                "the runnel server at {url} needs a token: set RUNNEL_TOKEN (or pass --token) to one made with `runnel token create NAME` on the server"
            ),
            RemoteError::Unauthorized { url, message, .. } => write!(
                f,
                "the runnel server at {url} refused the token ({message}): set RUNNEL_TOKEN (or pass --token) to one made with `runnel token create NAME` on the server"
            ),
            RemoteError::Forbidden { message } => write!(
                f,
                "the server refused: {message}; this needs a token that may write in RUNNEL_TOKEN (`runnel token create NAME` without --read-only)"
            ),
            // The server's words say it all ("no run `x`").
            RemoteError::Status {
                status: 404,
                message,
            } => f.write_str(message),
            RemoteError::Status { status, message } => {
                write!(f, "the server answered {status}: {message}")
            }
            RemoteError::Protocol { url, cause } => {
                write!(f, "unexpected answer from {url}: {cause}")
            }
        }
    }
}

impl std::error::Error for RemoteError {}

/// The filters of `GET /api/v1/runs`.
#[derive(Debug, Default)]
pub struct RunQuery<'a> {
    pub limit: u32,
    pub status: Option<&'a str>,
    pub repo: Option<&'a str>,
    pub branch: Option<&'a str>,
}

/// The body of `POST /api/v1/runs` (the API's `StartRun`).
#[derive(Debug, Default, serde::Serialize)]
pub struct StartRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    pub params: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
}

/// What `POST /api/v1/runs/{run}/cancel` did.
#[derive(Debug)]
pub enum Cancel {
    /// The run was queued: it will not start.
    WasQueued(Uuid),
    /// The run was running: it is being stopped.
    WasRunning(Uuid),
    /// It had ended already (409): the server's words.
    NothingToCancel(String),
}

/// One line of a step's live log.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveLine {
    /// `None` for a stored line the server could not parse.
    pub at: Option<DateTime<Utc>>,
    /// `out` or `err`.
    pub stream: String,
    pub text: String,
}

/// How a step ended, as its stream's `end` event says.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StepEnd {
    pub status: String,
    pub reason: String,
    pub exit_code: Option<i32>,
}

#[derive(Deserialize)]
struct LineData {
    at: String,
    stream: String,
    text: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

/// A client of one server's API.
#[derive(Debug, Clone)]
pub struct Client {
    base: Url,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client of the server at `server` (`http://` is assumed when no scheme is given).
    pub fn new(server: &str, token: Option<String>) -> Result<Client, RemoteError> {
        let with_scheme = if server.contains("://") {
            server.to_owned()
        } else {
            format!("http://{server}")
        };
        let base = Url::parse(&with_scheme).map_err(|e| RemoteError::BadUrl {
            url: server.to_owned(),
            cause: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(RemoteError::BadUrl {
                url: server.to_owned(),
                cause: "it must be an http:// or https:// URL".to_owned(),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| RemoteError::BadUrl {
                url: server.to_owned(),
                cause: e.to_string(),
            })?;
        Ok(Client { base, token, http })
    }

    /// The server's URL, as given.
    pub fn base(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `/api/v1/` and the given path segments (each one escaped) under the base URL.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    fn transport(&self, e: &reqwest::Error) -> RemoteError {
        let url = self.base().to_owned();
        // The innermost cause says what happened ("Connection refused").
        let mut cause: &dyn std::error::Error = e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let cause = cause.to_string();
        if e.is_connect() {
            RemoteError::Connect { url, cause }
        } else if e.is_timeout() {
            RemoteError::Timeout { url }
        } else if e.is_decode() {
            RemoteError::Protocol { url, cause }
        } else {
            RemoteError::Transport { url, cause }
        }
    }

    /// Sends a request with the token; a success is the response, anything else the
    /// server's error.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RemoteError> {
        let request = match &self.token {
            Some(t) => request.bearer_auth(t),
            None => request,
        };
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        let message = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(b) => b.error,
            Err(_) if !body.is_empty() => String::from_utf8_lossy(&body).trim().to_owned(),
            Err(_) => status.canonical_reason().unwrap_or("no message").to_owned(),
        };
        Err(match status {
            StatusCode::UNAUTHORIZED => RemoteError::Unauthorized {
                url: self.base().to_owned(),
                had_token: self.token.is_some(),
                message,
            },
            StatusCode::FORBIDDEN => RemoteError::Forbidden { message },
            _ => RemoteError::Status {
                status: status.as_u16(),
                message,
            },
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, RemoteError> {
        let url = response.url().to_string();
        let body = response.bytes().await.map_err(|e| self.transport(&e))?;
        serde_json::from_slice(&body).map_err(|e| RemoteError::Protocol {
            url,
            cause: e.to_string(),
        })
    }

    async fn request(&self, method: Method, url: Url) -> Result<reqwest::Response, RemoteError> {
        self.send(self.http.request(method, url).timeout(REQUEST_TIMEOUT))
            .await
    }

    /// `GET /api/v1/metrics/dora`: the DORA metrics of a window.
    pub async fn dora(
        &self,
        query: &runnel_engine::store::DoraQuery,
        bucket: runnel_engine::dora::Bucket,
    ) -> Result<runnel_engine::dora::DoraReport, RemoteError> {
        let mut url = self.url(&["metrics", "dora"]);
        {
            let mut q = url.query_pairs_mut();
            let (from, to) = (query.from.to_rfc3339(), query.to.to_rfc3339());
            q.append_pair("from", &from).append_pair("to", &to);
            q.append_pair(
                "bucket",
                match bucket {
                    runnel_engine::dora::Bucket::Day => "day",
                    runnel_engine::dora::Bucket::Week => "week",
                },
            );
            for (k, v) in [
                ("service", &query.service),
                ("environment", &query.environment),
            ] {
                if let Some(v) = v {
                    q.append_pair(k, v);
                }
            }
        }
        let response = self.request(Method::GET, url).await?;
        self.json(response).await
    }

    /// `GET /api/v1/runs`: recent runs, newest first.
    pub async fn runs(&self, query: &RunQuery<'_>) -> Result<RunList, RemoteError> {
        let mut url = self.url(&["runs"]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &query.limit.to_string());
            for (k, v) in [
                ("status", query.status),
                ("repo", query.repo),
                ("branch", query.branch),
            ] {
                if let Some(v) = v {
                    q.append_pair(k, v);
                }
            }
        }
        let response = self.request(Method::GET, url).await?;
        self.json(response).await
    }

    /// `GET /api/v1/runs/{run}`: a run (by id, id prefix or name) with its TaskRuns and
    /// steps.
    pub async fn run(&self, key: &str) -> Result<RunDetail, RemoteError> {
        let response = self
            .request(Method::GET, self.url(&["runs", key]))
            .await
            .map_err(|e| match e {
                RemoteError::Status { status: 404, .. } => RemoteError::Status {
                    status: 404,
                    message: format!(
                        "no run with id, id prefix or name `{key}` on {} (see `runnel runs`)",
                        self.base()
                    ),
                },
                e => e,
            })?;
        self.json(response).await
    }

    /// [`Client::run`], tried again (up to [`MAX_RETRIES`] times) while the server cannot be
    /// reached, for a command that follows a run over time.
    pub async fn run_with_retries(&self, key: &str) -> Result<RunDetail, RemoteError> {
        let mut failures = 0;
        loop {
            match self.run(key).await {
                Err(e) if e.is_transient() && failures < MAX_RETRIES => {
                    failures += 1;
                    tokio::time::sleep(backoff(failures)).await;
                }
                answer => return answer,
            }
        }
    }

    /// `POST /api/v1/runs`: queues a run.
    pub async fn start(&self, body: &StartRequest) -> Result<Started, RemoteError> {
        let response = self
            .send(
                self.http
                    .post(self.url(&["runs"]))
                    .timeout(REQUEST_TIMEOUT)
                    .json(body),
            )
            .await?;
        self.json(response).await
    }

    /// `POST /api/v1/runs/{run}/cancel`; with `finally`, the run's `finally` tasks still run
    /// (Tekton's `CancelledRunFinally`).
    pub async fn cancel(&self, key: &str, finally: bool) -> Result<Cancel, RemoteError> {
        let mut url = self.url(&["runs", key, "cancel"]);
        if finally {
            url.query_pairs_mut()
                .append_pair("mode", "CancelledRunFinally");
        }
        let response = match self.request(Method::POST, url).await {
            Ok(r) => r,
            Err(RemoteError::Status {
                status: 409,
                message,
            }) => return Ok(Cancel::NothingToCancel(message)),
            Err(e) => return Err(e),
        };
        let answer: CancelAnswer = self.json(response).await?;
        Ok(match answer.was.as_str() {
            "queued" => Cancel::WasQueued(answer.run),
            _ => Cancel::WasRunning(answer.run),
        })
    }

    /// `GET .../steps/{index}/log`: a step's stored log, as a response to read in chunks
    /// (`TIME STREAM TEXT` lines).
    pub async fn step_log(
        &self,
        run: Uuid,
        task_run: Uuid,
        index: i32,
    ) -> Result<StepLog, RemoteError> {
        let url = self.step_url(run, task_run, index, "log");
        // No overall timeout: a log may be long; the read timeout still applies.
        let response = self.send(self.http.get(url)).await?;
        Ok(StepLog {
            response,
            client: self.clone(),
        })
    }

    fn step_url(&self, run: Uuid, task_run: Uuid, index: i32, last: &str) -> Url {
        let mut url = self.url(&[
            "runs",
            &run.to_string(),
            "taskruns",
            &task_run.to_string(),
            "steps",
            &index.to_string(),
            "log",
        ]);
        if last != "log"
            && let Ok(mut path) = url.path_segments_mut()
        {
            path.push(last);
        }
        url
    }

    /// Follows a step's live log until the step ends, calling `on_line` for each line in
    /// order. A stream that drops is opened again with `Last-Event-ID`, so no line is lost
    /// or repeated; after [`MAX_RETRIES`] failures in a row without a line, it gives up.
    pub async fn follow_step(
        &self,
        run: Uuid,
        task_run: Uuid,
        index: i32,
        mut on_line: impl FnMut(LiveLine),
    ) -> Result<StepEnd, RemoteError> {
        let url = self.step_url(run, task_run, index, "stream");
        let mut last_id: Option<String> = None;
        let mut failures = 0u32;
        loop {
            let mut progressed = false;
            let outcome = self
                .stream_once(&url, &mut last_id, &mut progressed, &mut on_line)
                .await;
            if progressed {
                failures = 0;
            }
            let error = match outcome {
                Ok(Some(end)) => return Ok(end),
                Ok(None) => RemoteError::Transport {
                    url: self.base().to_owned(),
                    cause: "the log stream ended before the step did".to_owned(),
                },
                Err(e) if e.is_transient() => e,
                Err(e) => return Err(e),
            };
            failures += 1;
            if failures > MAX_RETRIES {
                return Err(error);
            }
            tokio::time::sleep(backoff(failures)).await;
        }
    }

    /// One connection of [`Client::follow_step`]: `Ok(None)` when it closed before `end`.
    async fn stream_once(
        &self,
        url: &Url,
        last_id: &mut Option<String>,
        progressed: &mut bool,
        on_line: &mut impl FnMut(LiveLine),
    ) -> Result<Option<StepEnd>, RemoteError> {
        let mut request = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = last_id.as_deref() {
            request = request.header("Last-Event-ID", id);
        }
        let mut response = self.send(request).await?;
        let mut parser = SseParser::default();
        loop {
            while let Some(event) = parser.next_event() {
                match event.event.as_str() {
                    "line" => {
                        let data: LineData = serde_json::from_str(&event.data).map_err(|e| {
                            RemoteError::Protocol {
                                url: url.to_string(),
                                cause: format!("a `line` event: {e}"),
                            }
                        })?;
                        on_line(LiveLine {
                            at: DateTime::parse_from_rfc3339(&data.at)
                                .ok()
                                .map(|t| t.with_timezone(&Utc)),
                            stream: data.stream,
                            text: data.text,
                        });
                        if event.id.is_some() {
                            *last_id = event.id;
                        }
                        *progressed = true;
                    }
                    "end" => {
                        let end: StepEnd = serde_json::from_str(&event.data).map_err(|e| {
                            RemoteError::Protocol {
                                url: url.to_string(),
                                cause: format!("an `end` event: {e}"),
                            }
                        })?;
                        return Ok(Some(end));
                    }
                    _ => {}
                }
            }
            match response.chunk().await.map_err(|e| self.transport(&e))? {
                Some(chunk) => parser.push(&chunk),
                None => return Ok(None),
            }
        }
    }
}

/// How long to wait before the `n`th retry (n ≥ 1): 250 ms, doubling, at most 4 s.
pub fn backoff(n: u32) -> Duration {
    Duration::from_millis(250 * 2u64.pow(n.saturating_sub(1).min(4)))
}

/// A step's stored log being read.
pub struct StepLog {
    response: reqwest::Response,
    client: Client,
}

impl StepLog {
    /// The next piece of the log; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, RemoteError> {
        match self.response.chunk().await {
            Ok(c) => Ok(c.map(|b| b.to_vec())),
            Err(e) => Err(self.client.transport(&e)),
        }
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `message` when the event names none.
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// Cuts a `text/event-stream` body into events, whatever the chunks' boundaries (the
/// WHATWG rules: `field: value` lines, a blank line ends an event, `:` starts a comment).
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: Option<String>,
    id: Option<String>,
    data: Option<String>,
}

impl SseParser {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole event in what was pushed.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        while let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line[..nl]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if line.is_empty() {
                let data = self.data.take();
                let event = self.event.take();
                let id = self.id.take();
                if let Some(data) = data {
                    return Some(SseEvent {
                        event: event.unwrap_or_else(|| "message".to_owned()),
                        id,
                        data,
                    });
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => self.event = Some(value.to_owned()),
                "id" => self.id = Some(value.to_owned()),
                "data" => match &mut self.data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                },
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&str]) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c.as_bytes());
            while let Some(e) = p.next_event() {
                out.push(e);
            }
        }
        out
    }

    fn event(event: &str, id: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.to_owned(),
            id: id.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn events_split_anywhere() {
        let whole = "event: line\nid: 12\ndata: {\"text\":\"a\"}\n\n: keep-alive\n\nevent: end\ndata: {}\n\n";
        let want = vec![
            event("line", Some("12"), "{\"text\":\"a\"}"),
            event("end", None, "{}"),
        ];
        assert_eq!(events(&[whole]), want);
        for cut in 1..whole.len() {
            assert_eq!(
                events(&[&whole[..cut], &whole[cut..]]),
                want,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn crlf_multiline_data_and_unnamed_events() {
        assert_eq!(
            events(&["data: one\r\ndata:two\r\n\r\n", "id: 3\ndata\n\n"]),
            vec![
                event("message", None, "one\ntwo"),
                event("message", Some("3"), "")
            ]
        );
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        assert_eq!(events(&["event: line\n\n"]), vec![]);
    }

    #[test]
    fn urls_escape_segments_and_keep_a_base_path() {
        let c = Client::new("ci.example:8080/runnel/", None).unwrap();
        assert_eq!(c.base(), "http://ci.example:8080/runnel");
        assert_eq!(
            c.url(&["runs", "a b/c"]).as_str(),
            "http://ci.example:8080/runnel/api/v1/runs/a%20b%2Fc"
        );
        let run = Uuid::nil();
        assert_eq!(
            c.step_url(run, run, 2, "stream").path(),
            format!("/runnel/api/v1/runs/{run}/taskruns/{run}/steps/2/log/stream")
        );
        assert!(Client::new("ftp://x", None).is_err());
    }

    #[test]
    fn backoff_grows_to_a_bound() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(10), Duration::from_secs(4));
    }
}
