//! Live output: an [`Observer`] of the engine that hands every step's lines, as they are
//! printed, to the clients following that step (SSE), and keeps the most recent ones so
//! that a client joining late can catch up without a gap.
//!
//! Each line carries the offsets it occupies in the stored log (the recorder writes the
//! same lines, in the same order, to the log store; [`stored_len`] is their size there). So
//! a client reads what is stored up to where the recent lines start, then the recent lines,
//! then live ones, and can resume after any line from its offset (`Last-Event-ID`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use runnel_engine::exec::events::{ExecEvent, Observer};
use runnel_engine::logs::stored_len;
use runnel_runner::{StepStatus, Stream};
use tokio::sync::broadcast;
use uuid::Uuid;

/// How many bytes of recent lines each running step keeps for clients that join.
const RECENT_BYTES: u64 = 8 * 1024 * 1024;

/// How many events a slow client may fall behind before it reads from the store instead.
const CHANNEL_CAPACITY: usize = 4096;

/// One line of a step's output.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveLine {
    /// Where the line starts and ends in the stored log.
    pub start: u64,
    pub end: u64,
    pub at: DateTime<Utc>,
    pub stream: Stream,
    pub text: Bytes,
}

/// What a client following a step receives.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    Line(Arc<LiveLine>),
    /// The step ended (no line follows).
    End {
        status: StepStatus,
        exit_code: Option<i32>,
    },
}

/// A client's view of a step at the moment it joined.
pub struct Subscription {
    /// The most recent lines, oldest first; the first starts where the live lines left
    /// in the store begin to be needed.
    pub recent: Vec<Arc<LiveLine>>,
    /// Where the stored log ends once every line so far is stored.
    pub offset: u64,
    /// Whether the step already ended (then `recent` and the store are all there is).
    pub ended: Option<LiveEvent>,
    pub events: broadcast::Receiver<LiveEvent>,
}

struct StepChannel {
    tx: broadcast::Sender<LiveEvent>,
    offset: u64,
    recent: VecDeque<Arc<LiveLine>>,
    recent_bytes: u64,
    ended: Option<LiveEvent>,
}

impl StepChannel {
    fn new() -> Self {
        StepChannel {
            tx: broadcast::channel(CHANNEL_CAPACITY).0,
            offset: 0,
            recent: VecDeque::new(),
            recent_bytes: 0,
            ended: None,
        }
    }
}

/// The steps of TaskRuns that are running here, by (TaskRun id, step index).
#[derive(Default)]
pub struct Hub {
    steps: Mutex<HashMap<(Uuid, usize), StepChannel>>,
    /// Every run event (runs, TaskRuns, steps starting and ending), for pages that follow
    /// a run's progress.
    runs: Mutex<Option<broadcast::Sender<ExecEvent>>>,
}

impl Hub {
    pub fn new() -> Self {
        Hub {
            steps: Mutex::default(),
            runs: Mutex::new(Some(broadcast::channel(1024).0)),
        }
    }

    /// Follows a step of a TaskRun running here; `None` when it is not (not started yet,
    /// finished a while ago, or run elsewhere): then the store has everything there is.
    pub fn subscribe(&self, task_run: Uuid, index: usize) -> Option<Subscription> {
        let steps = self.steps.lock().ok()?;
        let ch = steps.get(&(task_run, index))?;
        Some(Subscription {
            recent: ch.recent.iter().cloned().collect(),
            offset: ch.offset,
            ended: ch.ended.clone(),
            events: ch.tx.subscribe(),
        })
    }

    /// Follows every run event.
    pub fn run_events(&self) -> Option<broadcast::Receiver<ExecEvent>> {
        self.runs
            .lock()
            .ok()?
            .as_ref()
            .map(broadcast::Sender::subscribe)
    }
}

impl Observer for Hub {
    fn on_event(&self, event: &ExecEvent) {
        match event {
            ExecEvent::Output { .. } => {}
            other => {
                if let Ok(runs) = self.runs.lock()
                    && let Some(tx) = runs.as_ref()
                {
                    let _ = tx.send(other.clone());
                }
            }
        }
        let Ok(mut steps) = self.steps.lock() else {
            return;
        };
        match event {
            ExecEvent::TaskRunStarted {
                id, steps: infos, ..
            } => {
                for index in 0..infos.len() {
                    steps.insert((*id, index), StepChannel::new());
                }
            }
            ExecEvent::Output {
                task_run,
                index,
                stream,
                at,
                line,
            } => {
                let ch = steps
                    .entry((*task_run, *index))
                    .or_insert_with(StepChannel::new);
                let len = stored_len(*at, line);
                let live = Arc::new(LiveLine {
                    start: ch.offset,
                    end: ch.offset + len,
                    at: *at,
                    stream: *stream,
                    text: Bytes::copy_from_slice(line.strip_suffix(b"\n").unwrap_or(line)),
                });
                ch.offset += len;
                ch.recent_bytes += len;
                ch.recent.push_back(live.clone());
                while ch.recent_bytes > RECENT_BYTES
                    && let Some(old) = ch.recent.pop_front()
                {
                    ch.recent_bytes -= old.end - old.start;
                }
                let _ = ch.tx.send(LiveEvent::Line(live));
            }
            ExecEvent::StepFinished {
                task_run,
                index,
                outcome,
            } => {
                if let Some(ch) = steps.get_mut(&(*task_run, *index)) {
                    let end = LiveEvent::End {
                        status: outcome.status,
                        exit_code: outcome.exit_code,
                    };
                    ch.ended = Some(end.clone());
                    let _ = ch.tx.send(end);
                }
            }
            ExecEvent::TaskRunFinished { id, .. } => {
                // Steps that never ran end now; then the TaskRun's channels go (a client
                // still on them has its End; later ones read the store).
                let mut index = 0;
                while let Some(ch) = steps.remove(&(*id, index)) {
                    if ch.ended.is_none() {
                        let _ = ch.tx.send(LiveEvent::End {
                            status: StepStatus::Skipped,
                            exit_code: None,
                        });
                    }
                    index += 1;
                }
            }
            _ => {}
        }
    }
}
