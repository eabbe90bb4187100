//! The run page's DAG: the pipeline's tasks as an SVG drawn on the server, one column per
//! dependency level (a task sits one column right of the last task it runs after; `finally`
//! tasks in a column of their own), an arrow per dependency, each task coloured by the
//! status of its TaskRuns with how long they took.
//!
//! The dependencies come from the store ([`pipeline_graph`]); when it has none (a TaskRun
//! run on its own, an older run), the TaskRuns are listed in the order they started.

use std::collections::HashMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use runnel_engine::exec::events::GraphNode;
use runnel_engine::store::{Status, StoreError, TaskRunRecord};
use uuid::Uuid;

use super::html::{duration, esc};
use crate::server::AppState;

/// The run's pipeline tasks with their dependencies, when the store knows them.
pub async fn pipeline_graph(
    state: &AppState,
    run: Uuid,
) -> Result<Option<Vec<GraphNode>>, StoreError> {
    let graph = state.store.run_graph(run).await?;
    Ok(graph.and_then(|g| match serde_json::from_value::<Vec<GraphNode>>(g) {
        Ok(tasks) => Some(tasks),
        Err(e) => {
            tracing::warn!(run_id = %run, error = %e, "the run's graph is not [{{name, after, finally}}]");
            None
        }
    }))
}

/// A box of the drawing.
#[derive(Debug)]
struct Node {
    name: String,
    after: Vec<usize>,
    finally: bool,
    summary: Summary,
    level: usize,
    row: usize,
}

const W: usize = 200;
const H: usize = 46;
const GAP_X: usize = 56;
const GAP_Y: usize = 14;
const PAD: usize = 8;
const NAME_CHARS: usize = 24;

/// What a task's TaskRuns add up to.
#[derive(Debug, Default)]
struct Summary {
    /// `None`: not started.
    status: Option<Status>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    /// The TaskRun section the box links to.
    anchor: Option<Uuid>,
}

/// Sums up a task's TaskRuns: the latest attempt of each matrix instance decides.
fn summarize(records: &[&TaskRunRecord]) -> Summary {
    let mut latest: HashMap<Option<i32>, &TaskRunRecord> = HashMap::new();
    for r in records {
        let e = latest.entry(r.matrix_index).or_insert(r);
        if r.attempt > e.attempt {
            *e = r;
        }
    }
    let mut latest: Vec<&TaskRunRecord> = latest.into_values().collect();
    latest.sort_by_key(|r| r.matrix_index);
    let has = |s: Status| latest.iter().any(|r| r.status == s);
    let status = if latest.is_empty() {
        None
    } else if has(Status::Running) {
        Some(Status::Running)
    } else if has(Status::Queued) {
        Some(Status::Queued)
    } else if has(Status::Failed) {
        Some(Status::Failed)
    } else if has(Status::Cancelled) {
        Some(Status::Cancelled)
    } else if latest.iter().all(|r| r.status == Status::Skipped) {
        Some(Status::Skipped)
    } else {
        Some(Status::Succeeded)
    };
    let start = records.iter().filter_map(|r| r.started_at).min();
    let end = if status.is_some_and(Status::is_final) {
        latest.iter().filter_map(|r| r.finished_at).max()
    } else {
        None
    };
    Summary {
        status,
        start,
        end,
        anchor: latest.first().map(|r| r.id),
    }
}

/// Lays out and draws the DAG of `graph` (or of the TaskRuns alone) as SVG.
pub fn render(
    graph: Option<&[GraphNode]>,
    task_runs: &[TaskRunRecord],
    now: DateTime<Utc>,
) -> String {
    let nodes = layout(graph, task_runs);
    if nodes.is_empty() {
        return "<p class=\"muted\">No tasks yet.</p>".to_owned();
    }
    let columns = nodes.iter().map(|n| n.level).max().unwrap_or(0) + 1;
    let rows = nodes.iter().map(|n| n.row).max().unwrap_or(0) + 1;
    let width = 2 * PAD + columns * W + (columns - 1) * GAP_X;
    let height = 2 * PAD + rows * H + (rows - 1) * GAP_Y;
    let x = |n: &Node| PAD + n.level * (W + GAP_X);
    let y = |n: &Node| PAD + n.row * (H + GAP_Y);
    let mut out = format!(
        "<svg class=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"the pipeline's tasks\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 8 8\" refX=\"8\" refY=\"4\" markerWidth=\"7\" \
         markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" class=\"arrowhead\"/></marker></defs>"
    );
    for n in &nodes {
        for &from in &n.after {
            let f = &nodes[from];
            let (x1, y1) = (x(f) + W, y(f) + H / 2);
            let (x2, y2) = (x(n), y(n) + H / 2);
            let mid = (x1 + x2) / 2;
            let _ = write!(
                out,
                "<path class=\"edge\" marker-end=\"url(#arrow)\" d=\"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}\"/>"
            );
        }
    }
    for n in &nodes {
        let (nx, ny) = (x(n), y(n));
        let label = if n.name.chars().count() > NAME_CHARS {
            let cut: String = n.name.chars().take(NAME_CHARS - 1).collect();
            esc(&format!("{cut}…"))
        } else {
            esc(&n.name)
        };
        let mut node = format!(
            "<g class=\"node {class}{fin}\" data-task=\"{name}\"><title>{name}</title>\
             <rect x=\"{nx}\" y=\"{ny}\" width=\"{W}\" height=\"{H}\" rx=\"6\"/>\
             <text class=\"name\" x=\"{tx}\" y=\"{ty1}\">{label}</text>\
             <text class=\"sub\" x=\"{tx}\" y=\"{ty2}\"><tspan data-role=\"status\">{status}</tspan>",
            class = super::html::status_class(n.summary.status),
            fin = if n.finally { " finally" } else { "" },
            name = esc(&n.name),
            tx = nx + 10,
            ty1 = ny + 19,
            ty2 = ny + 37,
            status = n.summary.status.map_or("Pending", Status::as_str),
        );
        if let Some(start) = n.summary.start {
            let _ = write!(
                node,
                " · <tspan data-role=\"duration\" data-start=\"{}\"{}>{}</tspan>",
                start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                n.summary.end.map_or(String::new(), |e| format!(
                    " data-end=\"{}\"",
                    e.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                )),
                duration(start, n.summary.end.unwrap_or(now))
            );
        }
        node.push_str("</text></g>");
        match n.summary.anchor {
            Some(id) => {
                let _ = write!(out, "<a href=\"#tr-{id}\">{node}</a>");
            }
            None => out.push_str(&node),
        }
    }
    out.push_str("</svg>");
    out
}

/// The boxes, with their columns (`level`) and rows.
fn layout(graph: Option<&[GraphNode]>, task_runs: &[TaskRunRecord]) -> Vec<Node> {
    // TaskRuns by the pipeline task they run (or their own name), in the order they started.
    let mut order: Vec<&TaskRunRecord> = task_runs.iter().collect();
    order.sort_by_key(|r| (r.started_at.unwrap_or(r.queued_at), r.queued_at));
    let mut groups: Vec<(String, bool, Vec<&TaskRunRecord>)> = Vec::new();
    for r in order {
        let key = r.pipeline_task.clone().unwrap_or_else(|| r.name.clone());
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some(g) => g.2.push(r),
            None => groups.push((key, r.finally, vec![r])),
        }
    }
    let mut nodes: Vec<Node> = Vec::new();
    let node = |name: &str, finally: bool, records: &[&TaskRunRecord]| Node {
        name: name.to_owned(),
        after: Vec::new(),
        finally,
        summary: summarize(records),
        level: 0,
        row: 0,
    };
    let graph = graph.unwrap_or(&[]);
    for t in graph {
        let records = groups
            .iter()
            .find(|(k, _, _)| *k == t.name)
            .map_or(&[][..], |g| &g.2[..]);
        nodes.push(node(&t.name, t.finally, records));
    }
    for (i, t) in graph.iter().enumerate() {
        let after: Vec<usize> = t
            .after
            .iter()
            .filter_map(|a| graph.iter().position(|g| g.name == *a))
            .filter(|&j| j != i)
            .collect();
        nodes[i].after = after;
    }
    // TaskRuns of no known task (all of them when there is no graph), in start order.
    for (key, finally, records) in &groups {
        if !graph.iter().any(|t| t.name == *key) {
            nodes.push(node(key, *finally, records));
        }
    }
    // Columns: the longest path to each task; then `finally` in one column after the rest.
    let mut level: Vec<Option<usize>> = vec![None; nodes.len()];
    for i in 0..nodes.len() {
        depth(i, &nodes, &mut level, &mut vec![false; nodes.len()]);
    }
    let last = nodes
        .iter()
        .zip(&level)
        .filter(|(n, _)| !n.finally)
        .filter_map(|(_, l)| *l)
        .max();
    let finally_level = last.map_or(0, |l| l + 1);
    let mut rows: HashMap<usize, usize> = HashMap::new();
    for (n, l) in nodes.iter_mut().zip(&level) {
        n.level = if n.finally {
            finally_level
        } else {
            l.unwrap_or(0)
        };
        let row = rows.entry(n.level).or_insert(0);
        n.row = *row;
        *row += 1;
    }
    nodes
}

/// The length of the longest chain of dependencies before node `i` (a cycle counts as
/// none).
fn depth(
    i: usize,
    nodes: &[Node],
    level: &mut Vec<Option<usize>>,
    visiting: &mut Vec<bool>,
) -> usize {
    if let Some(l) = level[i] {
        return l;
    }
    if visiting[i] {
        return 0;
    }
    visiting[i] = true;
    let mut l = 0;
    for &d in &nodes[i].after {
        if !nodes[d].finally {
            l = l.max(depth(d, nodes, level, visiting) + 1);
        }
    }
    visiting[i] = false;
    level[i] = Some(l);
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, after: &[&str], finally: bool) -> GraphNode {
        GraphNode {
            name: name.into(),
            after: after.iter().map(|s| s.to_string()).collect(),
            finally,
        }
    }

    fn task_run(pipeline_task: &str, status: Status, attempt: i32, secs: i64) -> TaskRunRecord {
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        TaskRunRecord {
            id: Uuid::now_v7(),
            run_id: Uuid::nil(),
            name: format!("run-{pipeline_task}"),
            pipeline_task: Some(pipeline_task.into()),
            task: None,
            matrix_index: None,
            attempt,
            finally: false,
            params: serde_json::json!({}),
            status,
            reason: String::new(),
            message: None,
            queued_at: t0,
            started_at: Some(t0 + chrono::Duration::seconds(secs)),
            finished_at: status
                .is_final()
                .then(|| t0 + chrono::Duration::seconds(secs + 2)),
            results: serde_json::json!({}),
        }
    }

    /// (name, column, row) of every box.
    fn places(graph: Option<&[GraphNode]>, runs: &[TaskRunRecord]) -> Vec<(String, usize, usize)> {
        layout(graph, runs)
            .into_iter()
            .map(|n| (n.name, n.level, n.row))
            .collect()
    }

    #[test]
    fn columns_follow_the_longest_dependency_chain() {
        let graph = [
            task("fetch", &[], false),
            task("lint", &["fetch"], false),
            task("build", &["fetch"], false),
            task("test", &["build", "lint"], false),
            task("deploy", &["test", "fetch"], false),
            task("notify", &[], true),
            task("cleanup", &["notify"], true),
        ];
        let want = [
            ("fetch", 0, 0),
            ("lint", 1, 0),
            ("build", 1, 1),
            ("test", 2, 0),
            ("deploy", 3, 0),
            ("notify", 4, 0),
            ("cleanup", 4, 1),
        ];
        let got = places(Some(&graph), &[]);
        assert_eq!(got, want.map(|(n, l, r)| (n.to_owned(), l, r)).to_vec());
    }

    #[test]
    fn a_cycle_or_an_unknown_name_does_not_break_the_layout() {
        let graph = [
            task("a", &["b", "ghost"], false),
            task("b", &["a"], false),
            task("c", &["c"], false),
        ];
        let got = places(Some(&graph), &[]);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|(_, l, _)| *l <= 2), "{got:?}");
    }

    #[test]
    fn without_a_graph_task_runs_stack_in_start_order() {
        let runs = [
            task_run("second", Status::Running, 0, 5),
            task_run("first", Status::Succeeded, 0, 1),
        ];
        assert_eq!(
            places(None, &runs),
            vec![("first".to_owned(), 0, 0), ("second".to_owned(), 0, 1)]
        );
    }

    #[test]
    fn the_latest_attempt_decides_a_tasks_status() {
        let runs = [
            task_run("build", Status::Failed, 0, 0),
            task_run("build", Status::Succeeded, 1, 3),
            task_run("test", Status::Running, 0, 6),
        ];
        let graph = [
            task("build", &[], false),
            task("test", &["build"], false),
            task("ship", &["test"], false),
        ];
        let now = DateTime::<Utc>::from_timestamp(1_700_000_010, 0).unwrap();
        let svg = render(Some(&graph), &runs, now);
        assert!(
            svg.contains("<g class=\"node st-succeeded\" data-task=\"build\">"),
            "{svg}"
        );
        assert!(svg.contains("<g class=\"node st-running\" data-task=\"test\">"));
        assert!(svg.contains("<g class=\"node st-pending\" data-task=\"ship\">"));
        // build ran from 0 s (first attempt) to 5 s (the retry's end); test runs for 4 s now.
        assert!(svg.contains(">5.0s</tspan>"), "{svg}");
        assert!(svg.contains(">4.0s</tspan>"));
        assert_eq!(svg.matches("class=\"edge\"").count(), 2);
        assert_eq!(
            render(None, &[], now),
            "<p class=\"muted\">No tasks yet.</p>"
        );
    }

    #[test]
    fn names_are_escaped_and_shortened() {
        let graph = [task("<script>x</script>&more-and-more", &[], false)];
        let svg = render(Some(&graph), &[], Utc::now());
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("<title>&lt;script&gt;x&lt;/script&gt;&amp;more-and-more</title>"));
        assert!(
            svg.contains(">&lt;script&gt;x&lt;/script&gt;&amp;more…</text>"),
            "{svg}"
        );
    }
}
