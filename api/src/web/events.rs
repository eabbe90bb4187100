//! `GET /events`: what happens to runs, as server-sent events, for pages that follow them
//! without reloading. Without a query, only runs starting and finishing (event `run`); with
//! `?run=ID`, that run's events: `run`, `taskrun` (a TaskRun started or finished, or a
//! task skipped) and `step` (a step started or finished). Payloads are small JSON objects;
//! an event `resync` says some were missed (the page reads the state again).

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use runnel_engine::exec::events::ExecEvent;
use runnel_engine::exec::record::step_status;
use runnel_engine::store::Status;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::time::Instant;
use uuid::Uuid;

use super::session::Viewer;
use crate::server::AppState;

/// How long one connection lasts: the browser reconnects at once (and the page reads the
/// state again), and a server shutting down is not held up by a page left open for longer.
const LIFETIME: Duration = Duration::from_secs(300);

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    run: Option<Uuid>,
}

#[derive(Debug, Serialize)]
struct RunChange<'a> {
    run: Uuid,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
struct TaskRunChange<'a> {
    task_run: Uuid,
    pipeline_task: Option<&'a str>,
    status: &'a str,
    at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
struct StepChange<'a> {
    task_run: Uuid,
    index: usize,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
}

/// Which events a connection gets.
struct Follow {
    /// `None`: every run's start and end.
    run: Option<Uuid>,
    /// The run's TaskRuns (events of TaskRuns and steps name only the TaskRun).
    task_runs: HashSet<Uuid>,
}

impl Follow {
    /// The event to send for `event`, if this connection wants it.
    fn event(&mut self, event: &ExecEvent) -> Option<Event> {
        match event {
            ExecEvent::RunStarted { id, at, .. } if self.run.is_none_or(|r| r == *id) => {
                Some(json(
                    "run",
                    &RunChange {
                        run: *id,
                        status: Status::Running.as_str(),
                        reason: None,
                        at: *at,
                    },
                ))
            }
            ExecEvent::RunFinished {
                id,
                status,
                reason,
                at,
                ..
            } if self.run.is_none_or(|r| r == *id) => Some(json(
                "run",
                &RunChange {
                    run: *id,
                    status: status.as_str(),
                    reason: Some(reason),
                    at: *at,
                },
            )),
            _ if self.run.is_none() => None,
            ExecEvent::TaskRunStarted {
                id,
                run_id,
                pipeline_task,
                at,
                ..
            } if Some(*run_id) == self.run => {
                self.task_runs.insert(*id);
                Some(json(
                    "taskrun",
                    &TaskRunChange {
                        task_run: *id,
                        pipeline_task: pipeline_task.as_deref(),
                        status: Status::Running.as_str(),
                        at: *at,
                    },
                ))
            }
            ExecEvent::TaskSkipped {
                id,
                run_id,
                pipeline_task,
                at,
                ..
            } if Some(*run_id) == self.run => Some(json(
                "taskrun",
                &TaskRunChange {
                    task_run: *id,
                    pipeline_task: Some(pipeline_task),
                    status: Status::Skipped.as_str(),
                    at: *at,
                },
            )),
            ExecEvent::TaskRunFinished { id, status, at, .. } if self.task_runs.contains(id) => {
                Some(json(
                    "taskrun",
                    &TaskRunChange {
                        task_run: *id,
                        pipeline_task: None,
                        status: status.as_str(),
                        at: *at,
                    },
                ))
            }
            ExecEvent::StepStarted {
                task_run, index, ..
            } if self.task_runs.contains(task_run) => Some(json(
                "step",
                &StepChange {
                    task_run: *task_run,
                    index: *index,
                    status: Status::Running.as_str(),
                    exit_code: None,
                },
            )),
            ExecEvent::StepFinished {
                task_run,
                index,
                outcome,
            } if self.task_runs.contains(task_run) => Some(json(
                "step",
                &StepChange {
                    task_run: *task_run,
                    index: *index,
                    status: step_status(outcome.status).0.as_str(),
                    exit_code: outcome.exit_code,
                },
            )),
            _ => None,
        }
    }
}

fn json(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(data).unwrap_or_default())
}

pub async fn events(
    State(state): State<AppState>,
    _viewer: Viewer,
    Query(q): Query<EventsQuery>,
) -> Response {
    // Subscribe first, then read what exists: nothing falls between the two.
    let Some(rx) = state.hub.run_events() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the server is stopping\n").into_response();
    };
    let mut follow = Follow {
        run: q.run,
        task_runs: HashSet::new(),
    };
    if let Some(run) = q.run {
        match state.store.task_runs(run).await {
            Ok(t) => follow.task_runs.extend(t.into_iter().map(|t| t.id)),
            Err(e) => {
                tracing::error!(error = %e, "cannot read TaskRuns");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable\n",
                )
                    .into_response();
            }
        }
    }
    let until = Instant::now() + LIFETIME;
    let stream = futures::stream::unfold((rx, follow), move |(mut rx, mut follow)| async move {
        loop {
            let received = tokio::time::timeout_at(until, rx.recv()).await.ok()?;
            let event = match received {
                Ok(e) => follow.event(&e),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    Some(Event::default().event("resync").data("{}"))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            if let Some(event) = event {
                return Some((Ok::<_, Infallible>(event), (rx, follow)));
            }
        }
    });
    // Ends when the server shuts down; the page reconnects and re-reads its state.
    let stream = futures::StreamExt::take_until(stream, state.closing.clone().cancelled_owned());
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_engine::store::RunKind;
    use runnel_runner::{StepOutcome, StepStatus};

    fn at() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn run_started(id: Uuid) -> ExecEvent {
        ExecEvent::RunStarted {
            id,
            name: "r".into(),
            kind: RunKind::PipelineRun,
            target: "p".into(),
            params: serde_json::json!({}),
            tasks: 1,
            graph: vec![],
            at: at(),
        }
    }

    fn task_run_started(id: Uuid, run_id: Uuid) -> ExecEvent {
        ExecEvent::TaskRunStarted {
            id,
            run_id,
            name: "r-build".into(),
            pipeline_task: Some("build".into()),
            task: None,
            matrix_index: None,
            attempt: 0,
            finally: false,
            params: serde_json::json!({}),
            steps: vec![],
            deployment: None,
            at: at(),
        }
    }

    fn step_finished(task_run: Uuid) -> ExecEvent {
        ExecEvent::StepFinished {
            task_run,
            index: 0,
            outcome: StepOutcome {
                status: StepStatus::Failed,
                exit_code: Some(2),
                started: None,
                finished: std::time::SystemTime::UNIX_EPOCH,
                message: None,
            },
        }
    }

    /// Which events (by name) `follow` sends for `events`.
    fn sent(follow: &mut Follow, events: &[ExecEvent]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| follow.event(e))
            .map(|e| format!("{e:?}"))
            .collect()
    }

    #[test]
    fn the_list_gets_run_events_only() {
        let (a, b, tr) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut all = Follow {
            run: None,
            task_runs: HashSet::new(),
        };
        let got = sent(
            &mut all,
            &[
                run_started(a),
                run_started(b),
                task_run_started(tr, a),
                step_finished(tr),
            ],
        );
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains(&a.to_string()) && got[0].contains("Running"));
    }

    #[test]
    fn a_run_page_gets_its_runs_taskruns_and_steps() {
        let (a, b, mine, theirs) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let mut one = Follow {
            run: Some(a),
            task_runs: HashSet::new(),
        };
        let got = sent(
            &mut one,
            &[
                run_started(b),
                run_started(a),
                task_run_started(theirs, b),
                task_run_started(mine, a),
                step_finished(theirs),
                step_finished(mine),
            ],
        );
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[1].contains("taskrun") && got[1].contains("build"));
        assert!(
            got[2].contains("\\\"status\\\":\\\"Failed\\\"") && got[2].contains("exit_code"),
            "{}",
            got[2]
        );
    }
}
