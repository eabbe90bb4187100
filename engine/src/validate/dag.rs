//! The dependencies between a pipeline's tasks, and the check that they form no cycle. A
//! task depends on every task in its `runAfter` and on every task whose results it reads
//! (`$(tasks.X.results.Y)` in its params, `when` or matrix). The scheduler builds its DAG
//! from the same [`dependencies`].

use std::collections::HashMap;

use petgraph::algo::tarjan_scc;
use std::collections::VecDeque;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::diagnostic::{Code, Diagnostics};
use crate::model::param::ParamValue;
use crate::model::pipeline::PipelineTask;
use crate::source::Span;
use crate::spanned::Spanned;
use crate::vars::{self, Var};

/// Why one task waits for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    RunAfter,
    Result,
}

/// `task` depends on `on`, because of what is written at `span`.
#[derive(Debug, Clone)]
pub struct Dependency<'a> {
    pub task: &'a str,
    pub on: String,
    pub via: Via,
    pub span: Span,
}

/// Every string of a param value, with the span to report it at.
pub fn param_strings(value: &Spanned<ParamValue>) -> Vec<Spanned<String>> {
    match &value.value {
        ParamValue::String(s) => vec![Spanned::new(value.span, s.clone())],
        ParamValue::Array(items) => items.clone(),
        ParamValue::Object(map) => map.values().cloned().collect(),
    }
}

/// The strings of a pipeline task that may reference other tasks' results.
pub fn referencing_strings(task: &PipelineTask) -> Vec<Spanned<String>> {
    let mut out: Vec<Spanned<String>> = task
        .params
        .iter()
        .flat_map(|p| param_strings(&p.value))
        .collect();
    for w in &task.when {
        out.extend(w.input.iter().cloned());
        out.extend(w.values.iter().cloned());
    }
    if let Some(m) = task.matrix.as_ref() {
        for p in m
            .params
            .iter()
            .chain(m.include.iter().flat_map(|i| i.params.iter()))
        {
            out.extend(param_strings(&p.value));
        }
    }
    out
}

/// The dependencies of `tasks` on each other (references to unknown tasks are left out; the
/// reference checks report those).
pub fn dependencies<'a>(
    tasks: &'a [Spanned<PipelineTask>],
    locate: &dyn Fn(&Spanned<String>, usize, usize) -> Span,
) -> Vec<Dependency<'a>> {
    let names: std::collections::HashSet<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    let known = |name: &str| names.contains(name);
    let mut deps = Vec::new();
    for t in tasks {
        for r in &t.run_after {
            if known(r) {
                deps.push(Dependency {
                    task: t.name.as_str(),
                    on: r.value.clone(),
                    via: Via::RunAfter,
                    span: r.span,
                });
            }
        }
        for s in referencing_strings(t) {
            for r in vars::scan(&s) {
                if let Var::PipelineTaskResult { task, .. } = r.var
                    && known(task)
                {
                    deps.push(Dependency {
                        task: t.name.as_str(),
                        on: task.to_owned(),
                        via: Via::Result,
                        span: locate(&s, r.start, r.end),
                    });
                }
            }
        }
    }
    deps
}

/// Reports every cycle among the dependencies, with its path.
pub fn check_cycles(
    tasks: &[Spanned<PipelineTask>],
    deps: &[Dependency<'_>],
    diags: &mut Diagnostics,
) {
    let mut graph: DiGraph<&str, Span> = DiGraph::new();
    let mut index: HashMap<&str, NodeIndex> = HashMap::new();
    for t in tasks {
        index
            .entry(t.name.as_str())
            .or_insert_with(|| graph.add_node(t.name.as_str()));
    }
    for d in deps {
        if d.task == d.on {
            continue; // a task waiting for itself is reported where runAfter/refs are checked
        }
        if let (Some(&from), Some(&to)) = (index.get(d.on.as_str()), index.get(d.task)) {
            graph.add_edge(from, to, d.span);
        }
    }
    for scc in tarjan_scc(&graph) {
        if scc.len() < 2 {
            continue;
        }
        // Walk the cycle inside the component, starting from the task written first.
        let Some(&start) = scc.iter().min_by_key(|n| {
            tasks
                .iter()
                .position(|t| t.name.as_str() == graph[**n])
                .unwrap_or(usize::MAX)
        }) else {
            continue;
        };
        let Some((path, edges)) = shortest_cycle(&graph, &scc, start) else {
            continue;
        };
        let names: Vec<&str> = path.iter().map(|n| graph[*n]).collect();
        let cycle = names.join(" → ");
        let Some(first) = edges.first().copied() else {
            continue;
        };
        let mut d = diags
            .error(
                Code::Cycle,
                first,
                format!("pipeline tasks depend on each other in a cycle: {cycle}"),
            )
            .label(format!(
                "`{}` waits for `{}` here",
                names.get(1).copied().unwrap_or(""),
                names[0]
            ))
            .hint(
                "a task cannot (even indirectly) wait for itself; remove one of these dependencies",
            );
        for (i, span) in edges.iter().enumerate().skip(1) {
            d = d.related(
                *span,
                format!(
                    "`{}` waits for `{}`",
                    names.get(i + 1).copied().unwrap_or(""),
                    names[i]
                ),
            );
        }
    }
}

/// The shortest way from `start` back to itself inside a strongly connected component: the
/// nodes (start first and last) and the spans of the edges taken.
fn shortest_cycle(
    graph: &DiGraph<&str, Span>,
    scc: &[NodeIndex],
    start: NodeIndex,
) -> Option<(Vec<NodeIndex>, Vec<Span>)> {
    let mut parent: HashMap<NodeIndex, (NodeIndex, Span)> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for edge in graph.edges(node) {
            let next = edge.target();
            if !scc.contains(&next) || parent.contains_key(&next) {
                continue;
            }
            parent.insert(next, (node, *edge.weight()));
            if next == start {
                let mut path = vec![start];
                let mut spans = Vec::new();
                let mut at = start;
                while let Some(&(from, span)) = parent.get(&at) {
                    path.push(from);
                    spans.push(span);
                    at = from;
                    if at == start {
                        break;
                    }
                }
                path.reverse();
                spans.reverse();
                return Some((path, spans));
            }
            queue.push_back(next);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::load::Loaded;

    fn cycles(tasks: &[(&str, &[&str])]) -> Vec<String> {
        let mut yaml = String::from(
            "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  tasks:\n",
        );
        for (name, after) in tasks {
            yaml.push_str(&format!(
                "    - name: {name}\n      runAfter: [{}]\n      taskRef: {{name: t}}\n",
                after.join(", ")
            ));
        }
        let mut loaded = Loaded::new();
        loaded.add_source("p.yaml", yaml);
        crate::validate::validate(&loaded)
            .iter()
            .filter(|d| d.code == crate::Code::Cycle)
            .map(|d| d.message.clone())
            .collect()
    }

    #[test]
    fn a_cycle_is_printed_from_its_first_task_back_to_it() {
        // b and c also form an inner loop; the path printed must still return to `a`.
        let got = cycles(&[("a", &["c"]), ("b", &["a", "c"]), ("c", &["b"])]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].ends_with(": a → b → c → a"), "{got:?}");
    }

    #[test]
    fn no_cycle_no_error() {
        assert!(cycles(&[("a", &[]), ("b", &["a"]), ("c", &["a", "b"])]).is_empty());
    }

    #[test]
    fn separate_cycles_are_reported_separately() {
        let got = cycles(&[("a", &["b"]), ("b", &["a"]), ("c", &["d"]), ("d", &["c"])]);
        assert_eq!(got.len(), 2, "{got:?}");
    }
}
