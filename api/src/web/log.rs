//! A step's log on the run page, usable however long it is: the page holds a window of at
//! most [`WINDOW_LINES`] whole lines (the tail, at first), cut from the stored log by byte
//! offsets; "Load earlier lines" fetches the window before it (`.../log/window?before=B`,
//! HTML rendered here), a running step's new lines come over SSE (`.../log/live?from=END`,
//! the API's stream resumed where the window ends), and `.../log/download` streams the
//! whole log as plain text (stored lines are `TIME STREAM TEXT`: the text is what is kept).

use std::fmt::Write;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use runnel_engine::logs::{LogError, LogStore, LogStream, parse_line};
use runnel_engine::store::{RunRecord, StepRecord};
use serde::Deserialize;
use uuid::Uuid;

use super::ansi::line_to_html;
use super::html::{esc, html};
use super::session::Viewer;
use crate::rest::find_step;
use crate::server::AppState;

/// The most lines a window holds.
pub const WINDOW_LINES: usize = 1000;

/// The most bytes read for a window.
const WINDOW_BYTES: u64 = 512 * 1024;

/// A line longer than this is cut into pieces when downloaded (a line so long was split
/// across chunks when stored anyway).
const MAX_CARRY: usize = 4 * 1024 * 1024;

/// Whole lines of a stored log: bytes `start..end`, rendered.
#[derive(Debug, Default)]
pub struct Window {
    pub start: u64,
    pub end: u64,
    pub lines: usize,
    /// The lines as HTML, one `<div class="ln">` each.
    pub html: String,
}

/// Where the whole lines of `bytes` are: `(start, end)` inside it, keeping the last
/// [`WINDOW_LINES`]. `at_start`: `bytes` begins at the log's start (else its first line may
/// be the end of a longer one, and is dropped).
fn whole_lines(bytes: &[u8], at_start: bool) -> (usize, usize) {
    let Some(last_newline) = bytes.iter().rposition(|b| *b == b'\n') else {
        // No line ends here: a line longer than a window is shown as its piece.
        return if at_start { (0, 0) } else { (0, bytes.len()) };
    };
    let end = last_newline + 1;
    let mut start = if at_start {
        0
    } else {
        bytes
            .iter()
            .position(|b| *b == b'\n')
            .map_or(0, |p| p + 1)
            .min(end)
    };
    let mut count = 0;
    for (i, b) in bytes[..end].iter().enumerate().rev() {
        if *b == b'\n' {
            count += 1;
            if count > WINDOW_LINES {
                start = start.max(i + 1);
                break;
            }
        }
    }
    (start, end)
}

/// The window of lines that ends where byte `before` begins (`before` is on a line's
/// start, or the log's size).
pub async fn window_before(logs: &LogStore, key: &str, before: u64) -> Result<Window, LogError> {
    let from = before.saturating_sub(WINDOW_BYTES);
    let bytes = logs.read_range(key, from..before).await?;
    let (start, end) = whole_lines(&bytes, from == 0);
    let mut window = Window {
        start: from + start as u64,
        end: from + end as u64,
        ..Window::default()
    };
    let mut offset = window.start;
    for line in bytes[start..end].split_inclusive(|b| *b == b'\n') {
        offset += line.len() as u64;
        render_line(&mut window.html, line, offset);
        window.lines += 1;
    }
    Ok(window)
}

/// The window at the end of the log `key` (empty when it has no lines yet).
pub async fn tail(logs: &LogStore, key: &str) -> Result<Window, LogError> {
    if !logs.exists(key).await? {
        return Ok(Window::default());
    }
    let size = logs.size(key).await?;
    window_before(logs, key, size).await
}

/// One stored line as a row: the time (shown on demand), and the text with its colours;
/// `data-o` is where the line ends in the stored log.
fn render_line(out: &mut String, line: &[u8], end: u64) {
    match parse_line(line) {
        Some(l) => {
            let _ = write!(
                out,
                "<div class=\"ln{}\" data-o=\"{end}\"><span class=\"ts\">{}</span><span class=\"tx\">",
                if l.stream == LogStream::Stderr {
                    " e"
                } else {
                    ""
                },
                l.at.format("%H:%M:%S%.3f")
            );
            line_to_html(out, &String::from_utf8_lossy(l.text));
        }
        None => {
            let _ = write!(
                out,
                "<div class=\"ln\" data-o=\"{end}\"><span class=\"ts\"></span><span class=\"tx\">"
            );
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            line_to_html(out, &String::from_utf8_lossy(text));
        }
    }
    out.push_str("</span></div>");
}

/// The base of a step's log routes.
pub fn step_path(run: Uuid, task_run: Uuid, index: i32) -> String {
    format!("/runs/{run}/taskruns/{task_run}/steps/{index}/log")
}

/// A step's log box for the run page: its bar (earlier lines, times, download), and the
/// window. The script follows it live when `follow`, and loads the tail when the box is
/// first shown when `lazy` (the window is not read yet).
pub fn view(run: Uuid, step: &StepRecord, window: &Window, follow: bool, lazy: bool) -> String {
    let base = step_path(run, step.task_run_id, step.index);
    let info = if lazy {
        String::new()
    } else if window.start > 0 {
        format!("the last {} lines", window.lines)
    } else {
        match window.lines {
            0 => "no output".to_owned(),
            1 => "1 line".to_owned(),
            n => format!("{n} lines"),
        }
    };
    format!(
        "<div class=\"log\" data-window=\"{base}/window\" data-live=\"{base}/live\" \
         data-start=\"{start}\" data-end=\"{end}\" data-follow=\"{follow}\" data-lazy=\"{lazy}\">\
         <div class=\"log-bar\"><button type=\"button\" data-role=\"earlier\"{hidden}>Load earlier lines</button>\
         <span class=\"muted\" data-role=\"info\">{info}</span>\
         <label><input type=\"checkbox\" data-role=\"times\"> times</label>\
         <a data-role=\"download\" href=\"{base}/download\" download>Download</a></div>\
         <div class=\"lines\">{lines}</div></div>",
        start = window.start,
        end = window.end,
        follow = if follow { "1" } else { "0" },
        lazy = if lazy { "1" } else { "0" },
        hidden = if window.start > 0 { "" } else { " hidden" },
        info = esc(&info),
        lines = window.html,
    )
}

/// `?before=B`: where the window ends (the log's end when not given).
#[derive(Debug, Deserialize)]
pub struct WindowQuery {
    before: Option<u64>,
}

/// `GET /runs/{run}/taskruns/{task_run}/steps/{index}/log/window?before=B`: the lines
/// before `B` (or the tail), as `<div class="lines" data-start data-end data-count>`.
pub async fn window(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path((run, task_run, index)): Path<(String, Uuid, usize)>,
    Query(q): Query<WindowQuery>,
) -> Response {
    let (_, step) = match find_step(&state, &run, task_run, index).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let read = match (&step.log, q.before) {
        (Some(key), Some(before)) => window_before(&state.logs, key, before).await,
        (Some(key), None) => tail(&state.logs, key).await,
        (None, _) => Ok(Window::default()),
    };
    let window = match read {
        Ok(w) => w,
        Err(e) => return log_error(&e),
    };
    html(
        StatusCode::OK,
        format!(
            "<div class=\"lines\" data-start=\"{}\" data-end=\"{}\" data-count=\"{}\">{}</div>",
            window.start, window.end, window.lines, window.html
        ),
    )
}

fn log_error(e: &LogError) -> Response {
    tracing::error!(error = %e, "cannot read a log");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the log store is unavailable\n",
    )
        .into_response()
}

/// `?from=B`: where the page's window ends.
#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    from: Option<u64>,
}

/// `GET /runs/{run}/taskruns/{task_run}/steps/{index}/log/live?from=B`: the API's live
/// stream of the step's lines (`/api/v1/.../log/stream`) from byte `B` (a browser's
/// `EventSource` cannot send `Last-Event-ID` the first time; when it reconnects, it does,
/// and that wins).
pub async fn live(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(path): Path<(String, Uuid, usize)>,
    Query(q): Query<LiveQuery>,
    headers: HeaderMap,
) -> Response {
    let mut forwarded = HeaderMap::new();
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(q.from);
    if let Some(from) = resume {
        forwarded.insert("last-event-id", HeaderValue::from(from));
    }
    crate::sse::step_log_stream(State(state), Path(path), forwarded).await
}

/// Turns stored lines into their text, a chunk at a time (a line may span chunks).
#[derive(Debug, Default)]
struct Stripper {
    carry: Vec<u8>,
}

impl Stripper {
    fn feed(&mut self, chunk: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(chunk.len());
        let mut rest = chunk;
        if !self.carry.is_empty() {
            match rest.iter().position(|b| *b == b'\n') {
                Some(p) => {
                    self.carry.extend_from_slice(&rest[..=p]);
                    strip(&self.carry, &mut out);
                    self.carry.clear();
                    rest = &rest[p + 1..];
                }
                None => {
                    self.carry.extend_from_slice(rest);
                    if self.carry.len() > MAX_CARRY {
                        strip(&self.carry, &mut out);
                        self.carry.clear();
                    }
                    return Bytes::from(out);
                }
            }
        }
        let whole = rest.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        for line in rest[..whole].split_inclusive(|b| *b == b'\n') {
            strip(line, &mut out);
        }
        self.carry.extend_from_slice(&rest[whole..]);
        Bytes::from(out)
    }

    fn finish(&mut self) -> Bytes {
        let mut out = Vec::new();
        if !self.carry.is_empty() {
            strip(&self.carry, &mut out);
            if !out.ends_with(b"\n") {
                out.push(b'\n');
            }
            self.carry.clear();
        }
        Bytes::from(out)
    }
}

/// One stored line's text (with its newline, when it has one).
fn strip(line: &[u8], out: &mut Vec<u8>) {
    match parse_line(line) {
        Some(l) => {
            out.extend_from_slice(l.text);
            if line.ends_with(b"\n") {
                out.push(b'\n');
            }
        }
        None => out.extend_from_slice(line),
    }
}

/// A name for a file: letters, digits, `.`, `_` and `-`.
fn file_name(parts: &[&str]) -> String {
    let name: String = parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}.log")
}

/// `GET /runs/{run}/taskruns/{task_run}/steps/{index}/log/download`: the whole log as
/// plain text, streamed.
pub async fn download(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path((run, task_run, index)): Path<(String, Uuid, usize)>,
) -> Response {
    let (run, step): (RunRecord, StepRecord) = match find_step(&state, &run, task_run, index).await
    {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let task_run_name = match state.store.task_runs(run.id).await {
        Ok(t) => t
            .into_iter()
            .find(|t| t.id == task_run)
            .map(|t| t.pipeline_task.unwrap_or(t.name))
            .unwrap_or_default(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read TaskRuns");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable\n",
            )
                .into_response();
        }
    };
    let name = file_name(&[&run.name, &task_run_name, &step.name]);
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                .unwrap_or(HeaderValue::from_static("attachment")),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    let Some(key) = step.log else {
        return (headers, Body::empty()).into_response();
    };
    let chunks = state.logs.stream(&key);
    let body = futures::stream::unfold(Some((chunks, Stripper::default())), |state| async move {
        let (mut chunks, mut stripper) = state?;
        match chunks.next().await {
            Some(Ok(chunk)) => Some((Ok(stripper.feed(&chunk)), Some((chunks, stripper)))),
            Some(Err(e)) => {
                tracing::error!(error = %e, "a log download stopped");
                Some((Err(std::io::Error::other(e)), None))
            }
            None => Some((Ok(stripper.finish()), None)),
        }
    });
    (headers, Body::from_stream(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn stored(lines: &[(&str, &str)]) -> Vec<u8> {
        let at = "2026-01-02T03:04:05.123456Z";
        let mut out = Vec::new();
        for (stream, text) in lines {
            out.extend_from_slice(format!("{at} {stream} {text}\n").as_bytes());
        }
        out
    }

    #[test]
    fn windows_hold_whole_lines() {
        let log = b"aa\nbb\ncc\npartial";
        assert_eq!(whole_lines(log, true), (0, 9));
        // Not at the log's start: the first line may be a piece.
        assert_eq!(whole_lines(log, false), (3, 9));
        assert_eq!(whole_lines(b"no newline", true), (0, 0));
        assert_eq!(whole_lines(b"middle of a huge line", false), (0, 21));
        let many: Vec<u8> = (0..WINDOW_LINES + 5)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let (start, end) = whole_lines(&many, true);
        let kept = std::str::from_utf8(&many[start..end]).unwrap();
        assert_eq!(kept.lines().count(), WINDOW_LINES);
        assert_eq!(kept.lines().next(), Some("5"));
        assert_eq!(kept.lines().last(), Some(&*format!("{}", WINDOW_LINES + 4)));
    }

    #[tokio::test]
    async fn the_tail_and_earlier_windows_meet() {
        let logs = LogStore::in_memory();
        let mut w = logs.writer("run/tr/0").unwrap();
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        for i in 1..=2500 {
            let stream = if i % 7 == 0 {
                LogStream::Stderr
            } else {
                LogStream::Stdout
            };
            w.line(
                at,
                stream,
                format!("line {i} <b>\x1b[31mred\x1b[0m").as_bytes(),
            )
            .await
            .unwrap();
        }
        w.finish().await.unwrap();
        let last = tail(&logs, "run/tr/0").await.unwrap();
        assert_eq!(last.lines, WINDOW_LINES);
        assert_eq!(last.end, logs.size("run/tr/0").await.unwrap());
        assert!(
            last.html
                .contains("line 2500 &lt;b&gt;<span class=\"ansi-fg-1\">red</span>")
        );
        assert!(last.html.contains("<div class=\"ln e\" data-o=\""));
        assert!(last.html.ends_with(&format!("data-o=\"{}\"><span class=\"ts\">22:13:20.000</span><span class=\"tx\">line 2500 &lt;b&gt;<span class=\"ansi-fg-1\">red</span></span></div>", last.end)), "{}", &last.html[last.html.len() - 200..]);
        assert!(!last.html.contains("line 1500 "));
        let earlier = window_before(&logs, "run/tr/0", last.start).await.unwrap();
        assert_eq!(earlier.end, last.start);
        assert!(earlier.html.contains("line 1500 "));
        assert!(!earlier.html.contains("line 1501 "));
        let first = window_before(&logs, "run/tr/0", earlier.start)
            .await
            .unwrap();
        let rest = window_before(&logs, "run/tr/0", first.start).await.unwrap();
        assert_eq!(first.lines + rest.lines + earlier.lines + last.lines, 2500);
        assert_eq!(rest.start, 0);
        assert!(tail(&logs, "run/none/0").await.unwrap().html.is_empty());
    }

    #[test]
    fn downloads_keep_the_text_of_each_line() {
        let log = stored(&[("out", "one"), ("err", "two \x1b[1mbold"), ("out", "")]);
        let want = "one\ntwo \x1b[1mbold\n\n";
        // However the log is cut into chunks.
        for size in [1, 2, 7, 40, log.len()] {
            let mut s = Stripper::default();
            let mut out = Vec::new();
            for chunk in log.chunks(size) {
                out.extend_from_slice(&s.feed(chunk));
            }
            out.extend_from_slice(&s.finish());
            assert_eq!(String::from_utf8(out).unwrap(), want, "chunks of {size}");
        }
        // A piece that is not a stored line is kept as it is.
        let mut s = Stripper::default();
        let mut out = s.feed(b"not a stored line\n").to_vec();
        out.extend_from_slice(&s.feed(b"tail without newline"));
        out.extend_from_slice(&s.finish());
        assert_eq!(out, b"not a stored line\ntail without newline\n");
    }

    #[test]
    fn file_names_are_plain() {
        assert_eq!(
            file_name(&["ci-run", "build", "make it/\"go\""]),
            "ci-run-build-make_it__go_.log"
        );
    }
}
