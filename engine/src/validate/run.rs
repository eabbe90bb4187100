//! TaskRuns and PipelineRuns: what they run (a reference resolved in the input, or an
//! embedded spec), the params and workspaces they bind, their timeouts and status.

use std::time::Duration;

use crate::diagnostic::{Code, Diagnostics, did_you_mean};
use crate::duration;
use crate::model::meta::ObjectMeta;
use crate::model::param::{Param, ParamSpec};
use crate::model::pipeline::PipelineSpec;
use crate::model::run::{PipelineRun, TaskRun};
use crate::model::task::TaskSpec;
use crate::model::workspace::WorkspaceBinding;
use crate::source::{FileId, Span};
use crate::spanned::Spanned;
use crate::validate::params::{self, DeclaredWorkspace};
use crate::validate::refs::PipelineScope;
use crate::validate::{Context, duplicates, local_task_name, pipeline, task};

const TASK_RUN_STATUSES: &[&str] = &["TaskRunCancelled", "TaskRunPending"];
const PIPELINE_RUN_STATUSES: &[&str] = &[
    "Cancelled",
    "CancelledRunFinally",
    "StoppedRunFinally",
    "PipelineRunPending",
];

/// Where to point when the run as a whole is at fault: its name.
fn anchor(file: FileId, meta: &ObjectMeta) -> Span {
    meta.name
        .as_ref()
        .or(meta.generate_name.as_ref())
        .map_or_else(|| Span::file_start(file), |n| n.span)
}

pub fn check_task_run(ctx: &Context<'_>, file: FileId, run: &TaskRun, diags: &mut Diagnostics) {
    let at = anchor(file, &run.metadata);
    let spec = &run.spec;
    both_or_neither(
        diags,
        at,
        spec.task_ref.as_ref().map(|r| r.span),
        spec.task_spec.is_some(),
        "taskRef",
        "taskSpec",
    );
    check_common(diags, &spec.params, &spec.workspaces);
    check_status(diags, spec.status.as_ref(), TASK_RUN_STATUSES);
    if let Some(m) = &spec.status_message
        && !m.is_empty()
        && spec.status.as_ref().is_none_or(|s| s.is_empty())
    {
        diags
            .error(
                Code::InvalidValue,
                m.span,
                "`statusMessage` is set but `status` is not",
            )
            .label("message without a status")
            .hint("set `status` (e.g. `TaskRunCancelled`) or remove `statusMessage`");
    }
    if let Some(r) = &spec.task_ref {
        ref_names_something(diags, r.span, &r.name, &r.resolver, &r.bundle, "taskRef");
    }
    if let Some(t) = &spec.timeout {
        parse_duration(diags, t, "timeout");
    }
    if let Some(r) = &spec.retries
        && r.value < 0
    {
        diags
            .error(
                Code::InvalidValue,
                r.span,
                format!("`retries` must not be negative, found {}", r.value),
            )
            .label("negative");
    }

    let given: Vec<&Param> = spec.params.iter().collect();
    let (task_spec, callee, embedded): (Option<&TaskSpec>, String, bool) =
        match (&spec.task_spec, &spec.task_ref) {
            (Some(embedded), _) => {
                // Params and workspaces of the run propagate into an embedded spec.
                let outer = PipelineScope {
                    params: spec
                        .params
                        .iter()
                        .map(|p| (p.name.as_str(), p.value.param_type()))
                        .collect(),
                    workspaces: spec.workspaces.iter().map(|w| w.name.as_str()).collect(),
                    ..Default::default()
                };
                task::check_task_spec(ctx, embedded, Some(&outer), diags);
                (Some(&embedded.value), "the embedded task".to_owned(), true)
            }
            (None, Some(r)) => match local_task_name(r) {
                // A Task outside the input (a catalog, the cluster) is normal; its params and
                // workspaces are checked only when its definition is among the input.
                Some(name) => (ctx.find_task(name, file), format!("task `{name}`"), false),
                None => (None, String::new(), false),
            },
            (None, None) => (None, String::new(), false),
        };
    let Some(task_spec) = task_spec else { return };
    check_params(given, &task_spec.params, embedded, &callee, at, diags);
    let declared = declared_workspaces(task_spec.workspaces.iter().map(|w| (&w.name, w.optional)));
    // Workspaces bound around an embedded spec but not declared by it are propagated.
    let bound: Vec<&Spanned<String>> = spec
        .workspaces
        .iter()
        .map(|w| &w.name)
        .filter(|n| !embedded || declared.iter().any(|d| d.name.as_str() == n.as_str()))
        .collect();
    params::check_workspace_bindings(&declared, &bound, &callee, at, diags);
}

pub fn check_pipeline_run(
    ctx: &Context<'_>,
    file: FileId,
    run: &PipelineRun,
    diags: &mut Diagnostics,
) {
    let at = anchor(file, &run.metadata);
    let spec = &run.spec;
    both_or_neither(
        diags,
        at,
        spec.pipeline_ref.as_ref().map(|r| r.span),
        spec.pipeline_spec.is_some(),
        "pipelineRef",
        "pipelineSpec",
    );
    check_common(diags, &spec.params, &spec.workspaces);
    check_status(diags, spec.status.as_ref(), PIPELINE_RUN_STATUSES);
    if let Some(r) = &spec.pipeline_ref {
        ref_names_something(
            diags,
            r.span,
            &r.name,
            &r.resolver,
            &r.bundle,
            "pipelineRef",
        );
    }
    if let Some(t) = &spec.timeouts {
        check_timeouts(
            diags,
            t.pipeline.as_ref(),
            t.tasks.as_ref(),
            t.finally.as_ref(),
        );
    }

    let (pipeline_spec, callee, embedded): (Option<&PipelineSpec>, String, bool) =
        match (&spec.pipeline_spec, &spec.pipeline_ref) {
            (Some(embedded), _) => {
                let bound: Vec<&str> = spec.workspaces.iter().map(|w| w.name.as_str()).collect();
                pipeline::check_pipeline_spec(ctx, file, embedded, &bound, diags);
                (
                    Some(&embedded.value),
                    "the embedded pipeline".to_owned(),
                    true,
                )
            }
            (None, Some(r))
                if r.resolver.is_none() && r.bundle.is_none() && r.api_version.is_none() =>
            {
                match &r.name {
                    Some(name) => (
                        ctx.find_pipeline(name, file),
                        format!("pipeline `{name}`"),
                        false,
                    ),
                    None => (None, String::new(), false),
                }
            }
            _ => (None, String::new(), false),
        };
    let Some(pipeline_spec) = pipeline_spec else {
        return;
    };

    let task_names: Vec<&str> = pipeline_spec
        .tasks
        .iter()
        .chain(&pipeline_spec.finally)
        .map(|t| t.name.as_str())
        .collect();
    let named: Vec<&Spanned<String>> = spec
        .task_run_specs
        .iter()
        .filter_map(|s| s.pipeline_task_name.as_ref())
        .collect();
    duplicates(
        diags,
        "taskRunSpecs pipelineTaskName",
        named.iter().copied(),
    );
    for name in named {
        if !task_names.contains(&name.as_str()) {
            diags
                .error(
                    Code::UnresolvedReference,
                    name.span,
                    format!(
                        "`taskRunSpecs` names pipeline task `{name}`, which {callee} does not have"
                    ),
                )
                .label("no such pipeline task")
                .maybe_hint(did_you_mean(name, task_names.iter().copied()));
        }
    }

    let given: Vec<&Param> = spec.params.iter().collect();
    check_params(given, &pipeline_spec.params, embedded, &callee, at, diags);
    let declared = declared_workspaces(
        pipeline_spec
            .workspaces
            .iter()
            .map(|w| (&w.name, w.optional)),
    );
    let bound: Vec<&Spanned<String>> = spec.workspaces.iter().map(|w| &w.name).collect();
    // Tekton fails a PipelineRun only for a required workspace left unbound; a binding the
    // pipeline does not declare is ignored (a typo, usually), so it is only a warning.
    let (known, unknown): (Vec<&Spanned<String>>, Vec<&Spanned<String>>) = bound
        .into_iter()
        .partition(|n| declared.iter().any(|d| d.name.as_str() == n.as_str()));
    params::check_workspace_bindings(&declared, &known, &callee, at, diags);
    if !embedded {
        let names: Vec<&str> = declared.iter().map(|d| d.name.as_str()).collect();
        for b in unknown {
            diags
                .warning(
                    Code::UnresolvedReference,
                    b.span,
                    format!("{callee} declares no workspace `{b}`; the binding is ignored"),
                )
                .label("not declared")
                .maybe_hint(did_you_mean(b, names.iter().copied()));
        }
    }
}

/// A `taskRef`/`pipelineRef` must name something: a `name`, a `resolver` (or a v1beta1
/// `bundle`); Tekton rejects an empty one.
fn ref_names_something(
    diags: &mut Diagnostics,
    at: Span,
    name: &Option<Spanned<String>>,
    resolver: &Option<Spanned<String>>,
    bundle: &Option<Spanned<String>>,
    field: &str,
) {
    if name.is_none() && resolver.is_none() && bundle.is_none() {
        diags
            .error(
                Code::MissingField,
                at,
                format!("`{field}` without `name` or `resolver`"),
            )
            .label("names nothing")
            .hint(format!(
                "add `name: NAME` to `{field}`, or a `resolver` with its params"
            ));
    }
}

/// Checks the params a run gives against what it runs. For an embedded spec, params the spec
/// does not declare are propagated into it (Tekton's param propagation), so only declared
/// ones are compared with the declarations.
fn check_params(
    given: Vec<&Param>,
    declared: &[ParamSpec],
    embedded: bool,
    callee: &str,
    at: Span,
    diags: &mut Diagnostics,
) {
    let given: Vec<&Param> = given
        .into_iter()
        .filter(|g| !embedded || declared.iter().any(|d| d.name.as_str() == g.name.as_str()))
        .collect();
    params::check_bindings(declared, &given, callee, at, diags);
}

fn declared_workspaces<'a>(
    workspaces: impl Iterator<Item = (&'a Spanned<String>, Option<bool>)>,
) -> Vec<DeclaredWorkspace<'a>> {
    workspaces
        .map(|(name, optional)| DeclaredWorkspace {
            name,
            optional: optional.unwrap_or(false),
        })
        .collect()
}

fn both_or_neither(
    diags: &mut Diagnostics,
    at: Span,
    reference: Option<Span>,
    embedded: bool,
    ref_field: &str,
    spec_field: &str,
) {
    match (reference, embedded) {
        (Some(span), true) => {
            diags
                .error(Code::Conflict, span, format!("both `{ref_field}` and `{spec_field}` are given"))
                .label(format!("`{ref_field}` here"))
                .hint(format!("use `{ref_field}` to run a resource by name, or embed it with `{spec_field}`, not both"));
        }
        (None, false) => {
            diags
                .error(
                    Code::MissingField,
                    at,
                    format!("this run has neither `{ref_field}` nor `{spec_field}`"),
                )
                .label("runs nothing")
                .hint(format!(
                    "add `{ref_field}: {{name: NAME}}` or an embedded `{spec_field}`"
                ));
        }
        _ => {}
    }
}

/// Params and workspace bindings: unique names; each binding has exactly one volume source.
fn check_common(diags: &mut Diagnostics, params: &[Param], workspaces: &[WorkspaceBinding]) {
    duplicates(diags, "param", params.iter().map(|p| &p.name));
    duplicates(
        diags,
        "workspace binding",
        workspaces.iter().map(|w| &w.name),
    );
    for w in workspaces {
        let sources = [
            w.empty_dir.is_some(),
            w.persistent_volume_claim.is_some(),
            w.volume_claim_template.is_some(),
            w.config_map.is_some(),
            w.secret.is_some(),
            w.projected.is_some(),
            w.csi.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if sources != 1 {
            let message = if sources == 0 {
                format!("workspace binding `{}` has no volume source", w.name)
            } else {
                format!(
                    "workspace binding `{}` has {sources} volume sources",
                    w.name
                )
            };
            diags
                .error(if sources == 0 { Code::MissingField } else { Code::Conflict }, w.name.span, message)
                .label("expected exactly one source")
                .hint("give one of `emptyDir: {}`, `persistentVolumeClaim`, `volumeClaimTemplate`, `configMap`, `secret`, `projected` or `csi`");
        }
    }
}

fn check_status(diags: &mut Diagnostics, status: Option<&Spanned<String>>, allowed: &[&str]) {
    let Some(status) = status else { return };
    if status.is_empty() || allowed.contains(&status.as_str()) {
        return;
    }
    let list = allowed
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ");
    diags
        .error(
            Code::InvalidValue,
            status.span,
            format!("invalid `status` `{status}`"),
        )
        .label(format!("expected one of {list}"))
        .hint(
            did_you_mean(status, allowed.iter().copied())
                .unwrap_or_else(|| format!("allowed: {list}")),
        );
}

fn parse_duration(
    diags: &mut Diagnostics,
    value: &Spanned<String>,
    field: &str,
) -> Option<Duration> {
    match duration::parse(value) {
        Ok(d) => Some(d),
        Err(e) => {
            diags
                .error(
                    Code::InvalidDuration,
                    value.span,
                    format!("invalid `{field}` `{value}`: {e}"),
                )
                .label("not a duration")
                .hint("durations look like `1h`, `30m`, `1h30m`, `90s`; `0` means no timeout");
            None
        }
    }
}

/// `timeouts`: each parses; with a pipeline timeout (not `0`), tasks and finally fit in it.
fn check_timeouts(
    diags: &mut Diagnostics,
    pipeline: Option<&Spanned<String>>,
    tasks: Option<&Spanned<String>>,
    finally: Option<&Spanned<String>>,
) {
    let p = pipeline.and_then(|v| parse_duration(diags, v, "timeouts.pipeline"));
    let t = tasks.and_then(|v| parse_duration(diags, v, "timeouts.tasks"));
    let f = finally.and_then(|v| parse_duration(diags, v, "timeouts.finally"));
    let Some(limit) = p.filter(|d| !d.is_zero()) else {
        return;
    };
    let fmt = |d: Duration| format!("{}s", d.as_secs());
    for (value, parsed, field) in [(tasks, t, "tasks"), (finally, f, "finally")] {
        if let (Some(v), Some(d)) = (value, parsed)
            && (d > limit || d.is_zero())
        {
            diags
                .error(Code::InvalidValue, v.span, format!("`timeouts.{field}` ({}) exceeds `timeouts.pipeline` ({})", fmt(d), fmt(limit)))
                .label("longer than the pipeline's timeout")
                .hint("`tasks` and `finally` must each fit in `pipeline`; `0` there means no limit, which a limited pipeline cannot give");
            return;
        }
    }
    if let (Some(td), Some(fd), Some(v)) = (t, f, finally)
        && td + fd > limit
    {
        diags
            .error(
                Code::InvalidValue,
                v.span,
                format!(
                    "`timeouts.tasks` + `timeouts.finally` ({}) exceed `timeouts.pipeline` ({})",
                    fmt(td + fd),
                    fmt(limit)
                ),
            )
            .label("tasks + finally too long")
            .hint("together, `tasks` and `finally` must fit in `pipeline`");
    }
}

#[cfg(test)]
mod tests {
    use crate::load::Loaded;

    fn codes(text: &str) -> Vec<(u32, u32, &'static str)> {
        let mut loaded = Loaded::new();
        loaded.add_source("t.yaml", text);
        crate::validate::validate(&loaded)
            .iter()
            .filter(|d| d.is_error())
            .map(|d| (d.span.line, d.span.col, d.code.as_str()))
            .collect()
    }

    const RUN: &str = "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata: {name: r}\nspec:\n";

    #[test]
    fn status_must_be_a_known_value() {
        let ok = format!("{RUN}  status: Cancelled\n  pipelineRef: {{name: p}}\n");
        assert!(codes(&ok).is_empty());
        let bad = format!("{RUN}  status: Canceled\n  pipelineRef: {{name: p}}\n");
        assert_eq!(codes(&bad), [(5, 11, "invalid-value")]);
    }

    #[test]
    fn timeouts_fit_in_the_pipeline_timeout() {
        let ok = format!(
            "{RUN}  timeouts: {{pipeline: 1h, tasks: 40m, finally: 20m}}\n  pipelineRef: {{name: p}}\n"
        );
        assert!(codes(&ok).is_empty());
        let unlimited =
            format!("{RUN}  timeouts: {{pipeline: '0', tasks: 2h}}\n  pipelineRef: {{name: p}}\n");
        assert!(codes(&unlimited).is_empty());
        let bad =
            format!("{RUN}  timeouts: {{pipeline: 1h, tasks: 2h}}\n  pipelineRef: {{name: p}}\n");
        assert_eq!(codes(&bad), [(5, 35, "invalid-value")]);
        let sum = format!(
            "{RUN}  timeouts: {{pipeline: 1h, tasks: 50m, finally: 20m}}\n  pipelineRef: {{name: p}}\n"
        );
        assert_eq!(codes(&sum), [(5, 49, "invalid-value")]);
        let unparsable =
            format!("{RUN}  timeouts: {{pipeline: 1 hour}}\n  pipelineRef: {{name: p}}\n");
        assert_eq!(codes(&unparsable), [(5, 24, "invalid-duration")]);
    }

    #[test]
    fn exactly_one_of_ref_and_spec_and_one_volume_source() {
        assert_eq!(
            codes(RUN.trim_end_matches("spec:\n")),
            [(3, 18, "missing-field")]
        );
        let both = format!(
            "{RUN}  pipelineRef: {{name: p}}\n  pipelineSpec: {{tasks: [{{name: a, taskRef: {{name: t}}}}]}}\n"
        );
        assert_eq!(codes(&both), [(5, 16, "conflict")]);
        let ws = format!(
            "{RUN}  pipelineRef: {{name: p}}\n  workspaces:\n    - name: src\n    - name: out\n      emptyDir: {{}}\n      secret: {{secretName: s}}\n"
        );
        assert_eq!(codes(&ws), [(7, 13, "missing-field"), (8, 13, "conflict")]);
    }

    #[test]
    fn a_task_run_binds_what_its_task_declares() {
        let text = "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\nspec:\n  params: [{name: a}]\n  workspaces: [{name: w}]\n  steps: [{image: x, script: 'true'}]\n---\napiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {name: r}\nspec:\n  taskRef: {name: t}\n";
        assert_eq!(
            codes(text),
            [(11, 18, "missing-field"), (11, 18, "missing-field")]
        );
    }

    /// Every diagnostic as (line, col, code, is_error).
    fn all(text: &str) -> Vec<(u32, u32, &'static str, bool)> {
        let mut loaded = Loaded::new();
        loaded.add_source("t.yaml", text);
        crate::validate::validate(&loaded)
            .iter()
            .map(|d| (d.span.line, d.span.col, d.code.as_str(), d.is_error()))
            .collect()
    }

    const TASK_RUN: &str = "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {name: r}\nspec:\n";

    #[test]
    fn task_run_status_message_and_retries() {
        let pending = format!("{TASK_RUN}  status: TaskRunPending\n  taskRef: {{name: t}}\n");
        assert!(codes(&pending).is_empty());
        let message = format!("{TASK_RUN}  statusMessage: why\n  taskRef: {{name: t}}\n");
        assert_eq!(codes(&message), [(5, 18, "invalid-value")]);
        let retries = format!("{TASK_RUN}  retries: -1\n  taskRef: {{name: t}}\n");
        assert_eq!(codes(&retries), [(5, 12, "invalid-value")]);
        let timeout = format!("{TASK_RUN}  timeout: 5 min\n  taskRef: {{name: t}}\n");
        assert_eq!(codes(&timeout), [(5, 12, "invalid-duration")]);
    }

    #[test]
    fn references_must_name_something_and_may_live_elsewhere() {
        let empty = format!("{TASK_RUN}  taskRef: {{}}\n");
        assert_eq!(codes(&empty), [(5, 12, "missing-field")]);
        let remote =
            format!("{TASK_RUN}  taskRef: {{resolver: git, params: [{{name: url, value: u}}]}}\n");
        assert!(all(&remote).is_empty());
        // A Task outside the input is normal (a catalog, the cluster): nothing to say.
        let elsewhere = format!("{TASK_RUN}  taskRef: {{name: not-here}}\n");
        assert!(all(&elsewhere).is_empty());
    }

    #[test]
    fn an_embedded_task_takes_propagated_params_and_workspaces() {
        let text = format!(
            "{TASK_RUN}  params: [{{name: extra, value: x}}]\n  workspaces: [{{name: w, emptyDir: {{}}}}]\n  taskSpec:\n    steps: [{{image: x, script: 'echo $(params.extra) $(workspaces.w.path)'}}]\n"
        );
        assert!(codes(&text).is_empty());
    }

    #[test]
    fn a_pipeline_run_binding_an_undeclared_workspace_is_warned_about() {
        let text = "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  workspaces: [{name: source}]\n  tasks: [{name: a, taskRef: {name: t}}]\n---\napiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata: {name: r}\nspec:\n  pipelineRef: {name: p}\n  workspaces: [{name: sources, emptyDir: {}}]\n";
        let found: Vec<_> = all(text).into_iter().filter(|d| d.0 >= 8).collect();
        assert_eq!(
            found,
            [
                (10, 18, "missing-field", true),
                (13, 23, "unresolved-reference", false)
            ]
        );
    }

    #[test]
    fn task_run_specs_name_pipeline_tasks() {
        let text = format!(
            "{RUN}  pipelineSpec: {{tasks: [{{name: build, taskSpec: {{steps: [{{image: x, script: 'true'}}]}}}}]}}\n  taskRunSpecs:\n    - pipelineTaskName: biuld\n    - pipelineTaskName: build\n    - pipelineTaskName: build\n"
        );
        assert_eq!(
            codes(&text),
            [(7, 25, "unresolved-reference"), (9, 25, "duplicate-name")]
        );
    }
}
