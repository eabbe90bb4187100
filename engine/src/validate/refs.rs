//! Checks the `$(…)` references in a string against what is in scope: the task's params,
//! results, workspaces and steps, and, inside a pipeline, the pipeline's params, workspaces
//! and tasks. A reference to something that does not exist is a warning (Tekton leaves it as
//! literal text); result and status references that Tekton rejects are errors.

use std::collections::HashMap;

use crate::diagnostic::{Code, Diagnostics, did_you_mean};
use crate::model::param::ParamType;
use crate::spanned::Spanned;
use crate::validate::Context;
use crate::vars::{self, Var};

/// The context variables Tekton substitutes.
pub const CONTEXT_VARIABLES: &[&str] = &[
    "taskRun.name",
    "taskRun.namespace",
    "taskRun.uid",
    "task.name",
    "task.retry-count",
    "pipelineRun.name",
    "pipelineRun.namespace",
    "pipelineRun.uid",
    "pipeline.name",
    "pipelineTask.retries",
];

/// What a task's strings can refer to.
#[derive(Debug, Default)]
pub struct TaskScope<'a> {
    pub params: Vec<(&'a str, ParamType)>,
    pub results: Vec<&'a str>,
    pub workspaces: Vec<&'a str>,
    pub steps: Vec<&'a str>,
}

/// What a pipeline's strings can refer to.
#[derive(Debug, Default)]
pub struct PipelineScope<'a> {
    pub params: Vec<(&'a str, ParamType)>,
    pub workspaces: Vec<&'a str>,
    /// Every pipeline task (and finally task) by name, with the results it declares when its
    /// Task is known.
    /// Shared (`Rc`) because each embedded spec gets a scope of its own with the same tasks.
    pub tasks: std::rc::Rc<HashMap<&'a str, Option<Vec<&'a str>>>>,
    /// Whether the string belongs to a finally task (which may read task status).
    pub finally: bool,
}

/// Where a string sits, for the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Anything that is not a `when` expression.
    Text,
    /// A `when` input or value: `$(…)` that is not a variable is compared as text.
    When,
}

pub struct Scope<'s, 'a> {
    pub task: Option<&'s TaskScope<'a>>,
    pub pipeline: Option<&'s PipelineScope<'a>>,
}

impl Scope<'_, '_> {
    fn param_names(&self) -> impl Iterator<Item = &str> {
        let task = self
            .task
            .into_iter()
            .flat_map(|t| t.params.iter().map(|(n, _)| *n));
        let pipeline = self
            .pipeline
            .into_iter()
            .flat_map(|p| p.params.iter().map(|(n, _)| *n));
        task.chain(pipeline)
    }

    fn workspace_names(&self) -> impl Iterator<Item = &str> {
        let task = self
            .task
            .into_iter()
            .flat_map(|t| t.workspaces.iter().copied());
        let pipeline = self
            .pipeline
            .into_iter()
            .flat_map(|p| p.workspaces.iter().copied());
        task.chain(pipeline)
    }
}

/// Checks every reference in `value`.
pub fn check(
    ctx: &Context<'_>,
    diags: &mut Diagnostics,
    value: &Spanned<String>,
    scope: &Scope<'_, '_>,
    place: Place,
) {
    for r in vars::scan(value) {
        let span = ctx.sub_span(value, r.start, r.end);
        let shown = &value.value[r.start..r.end];
        let mut unknown = |what: &str, hint: Option<String>| {
            diags
                .warning(
                    Code::UnknownVariable,
                    span,
                    format!("`{shown}` refers to no {what}; Tekton leaves it as literal text"),
                )
                .label(format!("unknown {what}"))
                .maybe_hint(hint);
        };
        match r.var {
            Var::Param { name, .. } => {
                if !scope.param_names().any(|p| p == name) {
                    unknown("param", did_you_mean(name, scope.param_names()));
                }
            }
            Var::TaskResult { name, attr } => match scope.task {
                Some(t) if !t.results.contains(&name) => {
                    unknown("result", did_you_mean(name, t.results.iter().copied()));
                }
                Some(_) if attr != "path" => unknown(
                    "result attribute",
                    Some(format!("use `$(results.{name}.path)`")),
                ),
                _ => {}
            },
            Var::StepResult { step, .. } | Var::StepExitCode { step } => {
                if let Some(t) = scope.task {
                    let bare = step.strip_prefix("step-").unwrap_or(step);
                    if !t.steps.iter().any(|s| *s == step || *s == bare) {
                        unknown("step", did_you_mean(bare, t.steps.iter().copied()));
                    }
                }
            }
            Var::Workspace { name, .. } => {
                if (scope.task.is_some() || scope.pipeline.is_some())
                    && !scope.workspace_names().any(|w| w == name)
                {
                    unknown("workspace", did_you_mean(name, scope.workspace_names()));
                }
            }
            Var::Context { path } => {
                if !CONTEXT_VARIABLES.contains(&path) {
                    unknown(
                        "context variable",
                        did_you_mean(path, CONTEXT_VARIABLES.iter().copied()),
                    );
                }
            }
            Var::PipelineTaskResult { task, name, .. } => {
                let Some(p) = scope.pipeline else { continue };
                match p.tasks.get(task) {
                    None => {
                        diags
                            .error(
                                Code::InvalidResultReference,
                                span,
                                format!("`{shown}` refers to pipeline task `{task}`, which does not exist"),
                            )
                            .label("no such pipeline task")
                            .maybe_hint(did_you_mean(task, p.tasks.keys().copied()));
                    }
                    Some(Some(results)) if !results.contains(&name) => {
                        let hint = did_you_mean(name, results.iter().copied()).or_else(|| {
                            Some(if results.is_empty() {
                                format!("task `{task}` declares no results")
                            } else {
                                format!(
                                    "task `{task}` declares: {}",
                                    results
                                        .iter()
                                        .map(|r| format!("`{r}`"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            })
                        });
                        diags
                            .error(
                                Code::InvalidResultReference,
                                span,
                                format!("pipeline task `{task}` has no result `{name}`"),
                            )
                            .label("no such result")
                            .maybe_hint(hint);
                    }
                    Some(_) => {}
                }
            }
            Var::PipelineTaskStatus { task, .. } | Var::MatrixLength { task, .. } => {
                let Some(p) = scope.pipeline else { continue };
                if !p.tasks.contains_key(task) {
                    diags
                        .error(
                            Code::UnresolvedReference,
                            span,
                            format!(
                                "`{shown}` refers to pipeline task `{task}`, which does not exist"
                            ),
                        )
                        .label("no such pipeline task")
                        .maybe_hint(did_you_mean(task, p.tasks.keys().copied()));
                }
                if matches!(r.var, Var::PipelineTaskStatus { .. }) && !p.finally {
                    status_outside_finally(diags, span, shown);
                }
            }
            Var::AggregateStatus => {
                if let Some(p) = scope.pipeline
                    && !p.finally
                {
                    status_outside_finally(diags, span, shown);
                }
            }
            Var::Malformed { root } => {
                diags
                    .warning(
                        Code::UnknownVariable,
                        span,
                        format!("`{shown}` is not a valid `{root}` reference; Tekton leaves it as literal text"),
                    )
                    .label("malformed reference");
            }
            Var::NotAVariable if place == Place::When => {
                diags
                    .warning(
                        Code::UnknownVariable,
                        span,
                        format!("`{shown}` is not a Tekton variable: it is compared as literal text, not run"),
                    )
                    .label("literal text")
                    .hint("`when` compares strings; to decide on a command's output, write it to a result and compare `$(tasks.NAME.results.RESULT)` or `$(steps.NAME.results.RESULT)`");
            }
            Var::NotAVariable
            | Var::Credentials
            | Var::PipelineResource
            | Var::OwnStepResult { .. } => {}
        }
    }
}

fn status_outside_finally(diags: &mut Diagnostics, span: crate::source::Span, shown: &str) {
    diags
        .error(
            Code::InvalidResultReference,
            span,
            format!("`{shown}` can only be used in `finally` tasks"),
        )
        .label("not allowed here")
        .hint("Tekton gives task status to finally tasks only; move this task under `finally`");
}
