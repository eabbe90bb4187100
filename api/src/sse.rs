//! A step's log, live, over server-sent events:
//! `GET /api/v1/runs/{run}/taskruns/{task_run}/steps/{index}/log/stream`.
//!
//! Every line is an event `line` whose id is where the line ends in the stored log, and
//! whose data is `{"at": TIME, "stream": "out"|"err", "text": TEXT}`; when the step ends, an
//! event `end` with `{"status", "reason", "exit_code"}` closes the stream. A client that
//! reconnects with `Last-Event-ID` (browsers do) gets the lines after that one, so nothing
//! is lost or repeated across a reconnection.
//!
//! What is stored is read from the log store, then the hub's recent lines, then lines as
//! they come ([`crate::live`] explains how they join without a gap). A step that is not
//! running here (not started yet, or finished) is read from the store until its record is
//! final.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use runnel_engine::exec::record::step_status;
use runnel_engine::logs::{LogStream, parse_line};
use runnel_runner::Stream;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use crate::live::{LiveEvent, LiveLine};
use crate::rest::find_step;
use crate::server::AppState;

/// The most read from the store at once.
const READ_BYTES: u64 = 1024 * 1024;

#[derive(Serialize)]
struct LineData<'a> {
    at: String,
    stream: &'a str,
    text: std::borrow::Cow<'a, str>,
}

#[derive(Serialize)]
struct EndData<'a> {
    status: &'a str,
    reason: &'a str,
    exit_code: Option<i32>,
}

#[utoipa::path(get, path = "/runs/{run}/taskruns/{task_run}/steps/{index}/log/stream", tag = "logs", params(("run" = String, Path), ("task_run" = Uuid, Path), ("index" = usize, Path), ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this line")), responses((status = 200, description = "Server-sent events: `line` (id = where the line ends in the stored log; data {at, stream, text}) and a final `end` (data {status, reason, exit_code})", content_type = "text/event-stream", body = String), (status = 404, body = crate::rest::ErrorBody)), security(("bearer" = [])))]
pub async fn step_log_stream(
    State(state): State<AppState>,
    Path((run, task_run, index)): Path<(String, Uuid, usize)>,
    headers: HeaderMap,
) -> Response {
    let (_, step) = match find_step(&state, &run, task_run, index).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let (tx, rx) = mpsc::channel::<Event>(256);
    let state_closing = state.closing.clone().cancelled_owned();
    let follower = Follower {
        state,
        key: step.log.clone(),
        task_run,
        index,
        pos: from,
        tx,
    };
    tokio::spawn(follower.run());
    // Ends when the server shuts down (the client reconnects with Last-Event-ID).
    let stream = futures::StreamExt::take_until(
        tokio_stream::StreamExt::map(ReceiverStream::new(rx), Ok::<_, Infallible>),
        state_closing,
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The client went away.
struct Gone;

struct Follower {
    state: AppState,
    key: Option<String>,
    task_run: Uuid,
    index: usize,
    /// Where the next line to send starts in the stored log.
    pos: u64,
    tx: mpsc::Sender<Event>,
}

impl Follower {
    async fn run(mut self) {
        let _ = self.follow().await;
    }

    async fn follow(&mut self) -> Result<(), Gone> {
        loop {
            match self.state.hub.subscribe(self.task_run, self.index) {
                Some(sub) => {
                    let first = sub.recent.first().map_or(sub.offset, |l| l.start);
                    // What is older than the recent lines comes from the store (which may
                    // lag by up to a second: wait for it).
                    while self.pos < first {
                        let before = self.pos;
                        self.send_stored(first).await?;
                        if self.pos == before {
                            self.pause(Duration::from_millis(100)).await?;
                        }
                    }
                    let mut gap = false;
                    for line in &sub.recent {
                        if !self.send_live(line).await? {
                            gap = true;
                            break;
                        }
                    }
                    if gap {
                        continue;
                    }
                    if let Some(LiveEvent::End { status, exit_code }) = sub.ended {
                        if self.pos >= sub.offset {
                            return self.send_end_of(status, exit_code).await;
                        }
                        continue;
                    }
                    let mut events = sub.events;
                    loop {
                        match events.recv().await {
                            Ok(LiveEvent::Line(line)) => {
                                if !self.send_live(&line).await? {
                                    break;
                                }
                            }
                            Ok(LiveEvent::End { status, exit_code }) => {
                                return self.send_end_of(status, exit_code).await;
                            }
                            Err(broadcast::error::RecvError::Lagged(_))
                            | Err(broadcast::error::RecvError::Closed) => break,
                        }
                    }
                }
                None => {
                    // Not running here: the record says whether more can come.
                    let record = self
                        .state
                        .store
                        .steps(self.task_run)
                        .await
                        .ok()
                        .and_then(|s| s.into_iter().find(|s| s.index as usize == self.index));
                    let size = self.stored_size().await;
                    self.send_stored(size).await?;
                    if let Some(r) = record.filter(|r| r.status.is_final()) {
                        let size = self.stored_size().await;
                        while self.pos < size {
                            let before = self.pos;
                            self.send_stored(size).await?;
                            if self.pos == before {
                                break;
                            }
                        }
                        let data = EndData {
                            status: r.status.as_str(),
                            reason: &r.reason,
                            exit_code: r.exit_code,
                        };
                        return self.send(end_event(&data)).await;
                    }
                    self.pause(Duration::from_millis(250)).await?;
                }
            }
        }
    }

    /// Sends a live line when it is the next one. `Ok(false)`: a gap before it (the
    /// store has the missing lines).
    async fn send_live(&mut self, line: &LiveLine) -> Result<bool, Gone> {
        if line.end <= self.pos {
            return Ok(true);
        }
        if line.start != self.pos {
            return Ok(false);
        }
        let stream = match line.stream {
            Stream::Stdout => "out",
            Stream::Stderr => "err",
        };
        let at = line.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        self.send(line_event(at, stream, &line.text, line.end))
            .await?;
        self.pos = line.end;
        Ok(true)
    }

    async fn stored_size(&self) -> u64 {
        let Some(key) = &self.key else { return 0 };
        match self.state.logs.exists(key).await {
            Ok(true) => self.state.logs.size(key).await.unwrap_or(0),
            _ => 0,
        }
    }

    /// Sends the whole stored lines from `pos` up to `until` (or what is stored of them).
    async fn send_stored(&mut self, until: u64) -> Result<(), Gone> {
        let Some(key) = self.key.clone() else {
            return Ok(());
        };
        let size = self.stored_size().await;
        let until = until.min(size);
        while self.pos < until {
            let end = until.min(self.pos + READ_BYTES);
            let Ok(bytes) = self.state.logs.read_range(&key, self.pos..end).await else {
                return Ok(());
            };
            let mut sent_any = false;
            let mut offset = self.pos;
            for piece in bytes.split_inclusive(|b| *b == b'\n') {
                if !piece.ends_with(b"\n") {
                    break;
                }
                offset += piece.len() as u64;
                let event = match parse_line(piece) {
                    Some(l) => line_event(
                        l.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                        match l.stream {
                            LogStream::Stdout => "out",
                            LogStream::Stderr => "err",
                        },
                        l.text,
                        offset,
                    ),
                    None => line_event(
                        String::new(),
                        "out",
                        piece.strip_suffix(b"\n").unwrap_or(piece),
                        offset,
                    ),
                };
                self.send(event).await?;
                self.pos = offset;
                sent_any = true;
            }
            if !sent_any {
                break;
            }
        }
        Ok(())
    }

    async fn send_end_of(
        &mut self,
        status: runnel_runner::StepStatus,
        exit_code: Option<i32>,
    ) -> Result<(), Gone> {
        let (status, reason) = step_status(status);
        self.send(end_event(&EndData {
            status: status.as_str(),
            reason,
            exit_code,
        }))
        .await
    }

    async fn send(&self, event: Event) -> Result<(), Gone> {
        self.tx.send(event).await.map_err(|_| Gone)
    }

    /// Waits, unless the client is gone.
    async fn pause(&self, d: Duration) -> Result<(), Gone> {
        tokio::select! {
            () = tokio::time::sleep(d) => Ok(()),
            () = self.tx.closed() => Err(Gone),
        }
    }
}

fn line_event(at: String, stream: &str, text: &[u8], end: u64) -> Event {
    let data = LineData {
        at,
        stream,
        text: String::from_utf8_lossy(text),
    };
    Event::default()
        .event("line")
        .id(end.to_string())
        .data(serde_json::to_string(&data).unwrap_or_default())
}

fn end_event(data: &EndData<'_>) -> Event {
    Event::default()
        .event("end")
        .data(serde_json::to_string(data).unwrap_or_default())
}
