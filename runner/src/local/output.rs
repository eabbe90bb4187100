//! Forwarding a step's stdout or stderr as [`Event::Output`] lines.

use std::time::Duration;

use futures::FutureExt;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::lines::{MAX_LINE, StreamCopy, send_line};
use crate::{Event, Stream};

/// How long a pipe is still waited on after the step's main process exited (and what was
/// left of its process group was killed). Only a descendant that left the group (`setsid`)
/// can still hold the pipe open then; this keeps it from holding up the task.
const DRAIN: Duration = Duration::from_millis(100);

/// Once [`DRAIN`] has passed, what is already in the pipe is still read, up to this many
/// bytes (so that a lingering writer cannot keep the task going forever).
const DRAIN_BUDGET: usize = 4 << 20;

/// Reads `pipe` line by line and sends each line as an [`Event::Output`] of step `step`,
/// copying the bytes read to `copy` as they are. Returns at the end of the pipe, or
/// [`DRAIN`] after `exited` fired (having read what was already in the pipe by then).
/// Send errors (the receiver is gone) are ignored. Returns what went wrong with the copy.
pub(super) async fn forward<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    stream: Stream,
    step: usize,
    events: &mpsc::Sender<Event>,
    mut copy: Option<StreamCopy>,
    exited: &CancellationToken,
) -> Option<String> {
    if let Some(pipe) = pipe {
        let mut reader = BufReader::with_capacity(64 * 1024, pipe);
        read_lines(&mut reader, stream, step, events, copy.as_mut(), exited).await;
    }
    match copy {
        Some(copy) => copy.finish(stream).await,
        None => None,
    }
}

async fn read_lines<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    stream: Stream,
    step: usize,
    events: &mpsc::Sender<Event>,
    mut copy: Option<&mut StreamCopy>,
    exited: &CancellationToken,
) {
    let deadline = async {
        exited.cancelled().await;
        tokio::time::sleep(DRAIN).await;
    };
    tokio::pin!(deadline);
    // Past the deadline: only what is already in the pipe is read, within the budget.
    let mut draining = false;
    let mut budget = DRAIN_BUDGET;
    let mut line = Vec::new();
    loop {
        let read = if draining {
            match reader.fill_buf().now_or_never() {
                Some(read) => read,
                None => break,
            }
        } else {
            tokio::select! {
                read = reader.fill_buf() => read,
                () = &mut deadline => {
                    draining = true;
                    continue;
                }
            }
        };
        let buf = match read {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // A read error on a pipe means there is nothing more to read.
            Err(_) => break,
        };
        if buf.is_empty() {
            break;
        }
        let room = MAX_LINE - line.len();
        let window = &buf[..buf.len().min(room + 1)];
        let (used, complete) = match window.iter().position(|&b| b == b'\n') {
            Some(newline) => {
                line.extend_from_slice(&window[..newline]);
                (newline + 1, true)
            }
            None => {
                let take = window.len().min(room);
                line.extend_from_slice(&window[..take]);
                (take, line.len() == MAX_LINE)
            }
        };
        if let Some(copy) = copy.as_deref_mut() {
            copy.write(&buf[..used]).await;
        }
        reader.consume(used);
        if complete {
            send_line(events, step, stream, std::mem::take(&mut line)).await;
        }
        if draining {
            budget = budget.saturating_sub(used);
            if budget == 0 {
                break;
            }
        }
    }
    if !line.is_empty() {
        send_line(events, step, stream, line).await;
    }
}
