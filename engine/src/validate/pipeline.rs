//! Pipeline specs: tasks and finally tasks, their names, references, params, workspaces,
//! `when` expressions, timeouts and matrices.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::diagnostic::{Code, Diagnostics, did_you_mean};
use crate::duration;
use crate::model::param::{Param, ParamValue};
use crate::model::pipeline::{PipelineSpec, PipelineTask, WhenExpression};
use crate::model::step::OnError;
use crate::model::task::TaskSpec;
use crate::source::{FileId, Span};
use crate::spanned::Spanned;
use crate::validate::refs::{self, PipelineScope, Place, Scope};
use crate::validate::{Context, dag, duplicates, is_dns_label, local_task_name, params, task};

/// Checks `when` expressions (of a pipeline task or a step): the operator is `in` or `notin`,
/// there is an input and at least one value, and their references resolve.
pub fn check_when(
    ctx: &Context<'_>,
    when: &[WhenExpression],
    scope: &Scope<'_, '_>,
    diags: &mut Diagnostics,
) {
    for w in when {
        if let Some(cel) = &w.cel {
            diags
                .warning(Code::InvalidWhen, cel.span, "CEL `when` expressions need Tekton's alpha `enable-cel-in-whenexpression` flag")
                .label("CEL expression");
            continue;
        }
        match &w.operator {
            Some(op) if op.as_str() == "in" || op.as_str() == "notin" => {}
            Some(op) => {
                diags
                    .error(
                        Code::InvalidWhen,
                        op.span,
                        format!("invalid `when` operator `{op}`"),
                    )
                    .label("expected `in` or `notin`")
                    .hint(did_you_mean(op, ["in", "notin"]).unwrap_or_else(|| {
                        "Tekton's `when` supports `in` and `notin` only".to_owned()
                    }));
            }
            None => {
                let at = w.input.as_ref().map(|i| i.span).unwrap_or_default();
                diags
                    .error(
                        Code::InvalidWhen,
                        at,
                        "`when` expression without `operator`",
                    )
                    .label("needs `operator: in` or `operator: notin`");
            }
        }
        match &w.input {
            Some(input) => refs::check(ctx, diags, input, scope, Place::When),
            None => {
                let at = w.operator.as_ref().map(|o| o.span).unwrap_or_default();
                diags
                    .error(Code::InvalidWhen, at, "`when` expression without `input`")
                    .label("needs an `input`");
            }
        }
        if w.values.is_empty() {
            let at = w
                .operator
                .as_ref()
                .or(w.input.as_ref())
                .map(|o| o.span)
                .unwrap_or_default();
            diags
                .error(Code::InvalidWhen, at, "`when` expression with no `values`")
                .label("`values` is empty")
                .hint("give at least one value to compare the input with");
        }
        for v in &w.values {
            refs::check(ctx, diags, v, scope, Place::When);
        }
    }
}

/// The Task a pipeline task runs, when it is known: embedded, or referenced by name and
/// defined in the input. Custom tasks, resolvers and bundles are not known.
fn resolve_task<'a>(
    ctx: &Context<'a>,
    file: FileId,
    t: &PipelineTask,
) -> Option<Cow<'a, TaskSpec>> {
    if let Some(spec) = t.task_spec.as_ref() {
        return (!spec.is_custom()).then(|| Cow::Owned(spec.to_task_spec()));
    }
    let name = local_task_name(t.task_ref.as_ref()?)?;
    ctx.find_task(name, file).map(Cow::Borrowed)
}

/// Somewhere to point at when the spec as a whole is at fault.
fn spec_anchor(file: FileId, spec: &PipelineSpec) -> Span {
    spec.params
        .first()
        .map(|p| p.name.span)
        .or_else(|| spec.workspaces.first().map(|w| w.name.span))
        .or_else(|| spec.results.first().map(|r| r.name.span))
        .unwrap_or_else(|| Span::file_start(file))
}

/// Checks a pipeline spec (of a Pipeline or a PipelineRun's `pipelineSpec`).
///
/// `propagated` are the workspaces a PipelineRun binds around an embedded spec: Tekton
/// propagates them into the spec and its tasks without a declaration.
pub fn check_pipeline_spec(
    ctx: &Context<'_>,
    file: FileId,
    spec: &PipelineSpec,
    propagated: &[&str],
    diags: &mut Diagnostics,
) {
    if spec.tasks.is_empty() {
        diags
            .error(
                Code::MissingField,
                spec_anchor(file, spec),
                "the pipeline has no `tasks`",
            )
            .label("this pipeline has no tasks")
            .hint("a Pipeline needs at least one task under `spec.tasks`");
    }
    params::check_specs(&spec.params, diags);
    duplicates(diags, "workspace", spec.workspaces.iter().map(|w| &w.name));
    duplicates(diags, "result", spec.results.iter().map(|r| &r.name));
    duplicates(
        diags,
        "pipeline task",
        spec.tasks.iter().chain(&spec.finally).map(|t| &t.name),
    );

    let mut resolved: HashMap<&str, Cow<'_, TaskSpec>> =
        HashMap::with_capacity(spec.tasks.len() + spec.finally.len());
    resolved.extend(
        spec.tasks
            .iter()
            .chain(&spec.finally)
            .filter_map(|t| Some((t.name.as_str(), resolve_task(ctx, file, t)?))),
    );
    let mut scope = PipelineScope {
        params: spec
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.effective_type()))
            .collect(),
        workspaces: spec
            .workspaces
            .iter()
            .map(|w| w.name.as_str())
            .chain(propagated.iter().copied())
            .collect(),
        tasks: std::rc::Rc::new(
            spec.tasks
                .iter()
                .chain(&spec.finally)
                .map(|t| {
                    let results = resolved
                        .get(t.name.as_str())
                        .map(|ts| ts.results.iter().map(|r| r.name.as_str()).collect());
                    (t.name.as_str(), results)
                })
                .collect(),
        ),
        finally: false,
    };

    for t in &spec.tasks {
        check_pipeline_task(
            ctx,
            spec,
            t,
            resolved.get(t.name.as_str()).map(|r| &**r),
            &scope,
            false,
            diags,
        );
    }
    scope.finally = true;
    for t in &spec.finally {
        check_pipeline_task(
            ctx,
            spec,
            t,
            resolved.get(t.name.as_str()).map(|r| &**r),
            &scope,
            true,
            diags,
        );
    }
    let pipeline_scope = Scope {
        task: None,
        pipeline: Some(&scope),
    };
    for r in &spec.results {
        for s in dag::param_strings(&r.value) {
            refs::check(ctx, diags, &s, &pipeline_scope, Place::Text);
        }
    }

    let locate = |s: &Spanned<String>, a: usize, b: usize| ctx.sub_span(s, a, b);
    let deps = dag::dependencies(&spec.tasks, &locate);
    dag::check_cycles(&spec.tasks, &deps, diags);
}

fn check_pipeline_task(
    ctx: &Context<'_>,
    spec: &PipelineSpec,
    t: &Spanned<PipelineTask>,
    resolved: Option<&TaskSpec>,
    scope: &PipelineScope<'_>,
    finally: bool,
    diags: &mut Diagnostics,
) {
    let name = &t.name;
    if !is_dns_label(name) {
        diags
            .error(
                Code::InvalidValue,
                name.span,
                format!("invalid pipeline task name `{name}`"),
            )
            .label("not a DNS-1123 label")
            .hint(
                "task names use lowercase letters, digits and `-` (at most 63), e.g. `unit-tests`",
            );
    }
    let nested_pipeline = t.pipeline_ref.is_some() || t.pipeline_spec.is_some();
    match (t.task_ref.as_ref(), t.task_spec.as_ref()) {
        (Some(r), Some(_)) => {
            diags
                .error(
                    Code::Conflict,
                    r.span,
                    format!("pipeline task `{name}` has both `taskRef` and `taskSpec`"),
                )
                .label("`taskRef` here")
                .hint("use `taskRef` to run a Task by name, or `taskSpec` to embed one, not both");
        }
        (None, None) if !nested_pipeline => {
            diags
                .error(
                    Code::MissingField,
                    name.span,
                    format!("pipeline task `{name}` has neither `taskRef` nor `taskSpec`"),
                )
                .label("what does this task run?")
                .hint("add `taskRef: {name: TASK}` or an embedded `taskSpec`");
        }
        _ => {}
    }
    if let Some(r) = t.task_ref.as_ref()
        && r.name.is_none()
        && r.resolver.is_none()
        && r.bundle.is_none()
    {
        diags
            .error(
                Code::MissingField,
                r.span,
                "`taskRef` without `name` or `resolver`",
            )
            .label("names no task");
    }
    // A taskRef to a Task outside the given files is normal (a catalog, the cluster): its
    // params and workspaces are checked only when its definition is among the input.

    // runAfter
    let is_dag_task =
        |n: &str| scope.tasks.contains_key(n) && !spec.finally.iter().any(|f| f.name.as_str() == n);
    if finally && let Some(first) = t.run_after.first() {
        diags
            .error(
                Code::Conflict,
                first.span,
                format!("finally task `{name}` cannot use `runAfter`"),
            )
            .label("not allowed in `finally`")
            .hint("finally tasks run after all `tasks`, in parallel; remove `runAfter`");
    } else {
        for r in &t.run_after {
            if r.as_str() == name.as_str() {
                diags
                    .error(
                        Code::Cycle,
                        r.span,
                        format!("pipeline task `{name}` runs after itself"),
                    )
                    .label("refers to its own task")
                    .hint("remove it from `runAfter`");
            } else if !is_dag_task(r.as_str()) {
                let in_finally = spec.finally.iter().any(|f| f.name.as_str() == r.as_str());
                diags
                    .error(
                        Code::UnresolvedReference,
                        r.span,
                        format!("`runAfter` names `{r}`, which is not a task of this pipeline"),
                    )
                    .label("no such task")
                    .maybe_hint(if in_finally {
                        Some(format!(
                            "`{r}` is a finally task; tasks cannot wait for finally tasks"
                        ))
                    } else {
                        did_you_mean(r, spec.tasks.iter().map(|o| o.name.as_str()))
                    });
            }
        }
    }

    if let Some(retries) = &t.retries
        && retries.value < 0
    {
        diags
            .error(
                Code::InvalidValue,
                retries.span,
                format!("`retries` must not be negative, found {}", retries.value),
            )
            .label("negative");
    }
    if let Some(timeout) = &t.timeout
        && let Err(e) = duration::parse(timeout)
    {
        diags
            .error(
                Code::InvalidDuration,
                timeout.span,
                format!("invalid `timeout` `{timeout}`: {e}"),
            )
            .label("not a duration")
            .hint("durations look like `1h`, `30m`, `1h30m`, `90s`; `0` means no timeout");
    }
    if let Some(on_error) = &t.on_error
        && !on_error.contains("$(")
        && OnError::parse(on_error).is_none()
    {
        diags
            .error(
                Code::InvalidValue,
                on_error.span,
                format!("invalid `onError` `{on_error}`"),
            )
            .label("expected `continue` or `stopAndFail`")
            .maybe_hint(did_you_mean(on_error, ["continue", "stopAndFail"]));
    }

    let ref_scope = Scope {
        task: None,
        pipeline: Some(scope),
    };
    check_when(ctx, &t.when, &ref_scope, diags);
    duplicates(diags, "param", t.params.iter().map(|p| &p.name));
    // A param value reaches the task as text, and Tekton substitutes workspace variables at
    // task level after params: `$(workspaces.X.path)` there names the task's workspace.
    let task_side = refs::TaskScope {
        workspaces: t
            .workspaces
            .iter()
            .map(|w| w.name.as_str())
            .chain(
                resolved
                    .into_iter()
                    .flat_map(|r| r.workspaces.iter().map(|w| w.name.as_str())),
            )
            .collect(),
        ..Default::default()
    };
    let param_scope = Scope {
        task: Some(&task_side),
        pipeline: Some(scope),
    };
    for p in &t.params {
        for s in dag::param_strings(&p.value) {
            refs::check(ctx, diags, &s, &param_scope, Place::Text);
        }
    }

    // Matrix: array params that fan the task out, never also given as plain params.
    let given: Vec<&Param> = t.params.iter().collect();
    if let Some(m) = t.matrix.as_ref() {
        for p in &m.params {
            if t.params.iter().any(|q| q.name.as_str() == p.name.as_str()) {
                diags
                    .error(Code::Conflict, p.name.span, format!("param `{}` is given both in `params` and in `matrix`", p.name))
                    .label("also in `params`")
                    .hint("a matrix param fans the task out over its values; give it in one place only");
            }
            let is_reference =
                matches!(&p.value.value, ParamValue::String(s) if s.trim_start().starts_with("$("));
            if !matches!(p.value.value, ParamValue::Array(_)) && !is_reference {
                diags
                    .error(
                        Code::ParamTypeMismatch,
                        p.value.span,
                        format!("matrix param `{}` must be an array", p.name),
                    )
                    .label("not an array")
                    .hint("a matrix fans out over the values of an array, e.g. `value: [a, b]`");
            }
            for s in dag::param_strings(&p.value) {
                refs::check(ctx, diags, &s, &ref_scope, Place::Text);
            }
        }
        for inc in &m.include {
            for p in &inc.params {
                for s in dag::param_strings(&p.value) {
                    refs::check(ctx, diags, &s, &ref_scope, Place::Text);
                }
            }
        }
    }

    // Workspaces: each binding names a pipeline workspace.
    let pipeline_workspaces = &scope.workspaces;
    duplicates(
        diags,
        "workspace binding",
        t.workspaces.iter().map(|w| &w.name),
    );
    for w in &t.workspaces {
        let target = w.workspace.as_ref().unwrap_or(&w.name);
        if !pipeline_workspaces.contains(&target.as_str()) {
            diags
                .error(
                    Code::UnresolvedReference,
                    target.span,
                    format!("pipeline task `{name}` binds workspace `{target}`, which the pipeline does not declare"),
                )
                .label("not a pipeline workspace")
                .hint(did_you_mean(target, pipeline_workspaces.iter().copied()).unwrap_or_else(|| {
                    format!("declare it under the pipeline's `spec.workspaces` (`- name: {target}`)")
                }));
        }
    }

    // What the task itself takes, when it is known.
    if let Some(task_spec) = resolved {
        let callee = match t.task_ref.as_ref() {
            Some(r) => format!("task `{}`", r.name.as_ref().map_or("?", |n| n.as_str())),
            None => format!("the embedded task of `{name}`"),
        };
        let fanned: Vec<&Param> = t
            .matrix
            .iter()
            .flat_map(|m| {
                m.params
                    .iter()
                    .chain(m.include.iter().flat_map(|i| i.params.iter()))
            })
            .filter(|p| !given.iter().any(|g| g.name.as_str() == p.name.as_str()))
            .collect();
        // Matrix results arrive as arrays; propagated pipeline params may fill embedded specs.
        // In an embedded spec, a declared param that the pipeline task does not pass is
        // filled by the pipeline's param of the same name (propagation): not missing.
        let propagated: Vec<_> = task_spec
            .params
            .iter()
            .filter(|p| {
                let passed = given.iter().any(|g| g.name.as_str() == p.name.as_str());
                let from_pipeline = spec
                    .params
                    .iter()
                    .any(|q| q.name.as_str() == p.name.as_str());
                passed || !(t.task_spec.is_some() && from_pipeline)
            })
            .cloned()
            .collect();
        // An embedded spec may use params it does not declare (propagation): only a Task
        // referenced by name is told about params it does not take.
        let given: Vec<&Param> = if t.task_spec.is_some() {
            given
                .into_iter()
                .filter(|g| {
                    task_spec
                        .params
                        .iter()
                        .any(|p| p.name.as_str() == g.name.as_str())
                })
                .collect()
        } else {
            given
        };
        params::check_bindings_fanned(&propagated, &given, &fanned, &callee, name.span, diags);
        let declared: Vec<params::DeclaredWorkspace<'_>> = task_spec
            .workspaces
            .iter()
            .map(|w| params::DeclaredWorkspace {
                name: &w.name,
                optional: w.optional.unwrap_or(false),
            })
            .collect();
        let bound: Vec<&Spanned<String>> = t.workspaces.iter().map(|w| &w.name).collect();
        if t.task_spec.is_none() || !t.workspaces.is_empty() {
            params::check_workspace_bindings(&declared, &bound, &callee, name.span, diags);
        }
        if t.task_spec.is_some() {
            // The pipeline task's params propagate into its embedded spec too.
            let inner = PipelineScope {
                params: scope
                    .params
                    .iter()
                    .copied()
                    .chain(
                        t.params
                            .iter()
                            .map(|p| (p.name.as_str(), p.value.param_type())),
                    )
                    .collect(),
                workspaces: scope.workspaces.clone(),
                tasks: scope.tasks.clone(),
                finally: scope.finally,
            };
            task::check_task_spec(ctx, task_spec, Some(&inner), diags);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::load::Loaded;

    /// (line, col, code) of every diagnostic, errors and warnings, for a Pipeline with the
    /// given `spec.tasks` (indented four spaces under `tasks:`) and optional extra spec keys.
    fn check(spec: &str) -> Vec<(u32, u32, &'static str)> {
        let text = format!(
            "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {{name: p}}\nspec:\n{spec}"
        );
        let mut loaded = Loaded::new();
        loaded.add_source("p.yaml", text);
        crate::validate::validate(&loaded)
            .iter()
            .map(|d| (d.span.line, d.span.col, d.code.as_str()))
            .collect()
    }

    #[test]
    fn a_well_formed_pipeline_has_nothing_to_say() {
        let spec = "  params: [{name: env, default: staging}]\n  workspaces: [{name: src}]\n  tasks:\n    - name: a\n      taskRef: {name: t}\n      workspaces: [{name: out, workspace: src}]\n    - name: b\n      runAfter: [a]\n      when: [{input: $(params.env), operator: in, values: [staging]}]\n      taskRef: {name: t}\n  finally:\n    - name: c\n      params: [{name: s, value: $(tasks.status)}]\n      taskRef: {name: t}\n";
        assert_eq!(check(spec), []);
    }

    #[test]
    fn run_after_must_name_another_task_and_not_a_finally_one() {
        let spec = "  tasks:\n    - name: a\n      runAfter: [zz, a, c]\n      taskRef: {name: t}\n  finally:\n    - name: c\n      taskRef: {name: t}\n";
        assert_eq!(
            check(spec),
            [
                (7, 18, "unresolved-reference"),
                (7, 22, "cycle"),
                (7, 25, "unresolved-reference")
            ]
        );
    }

    #[test]
    fn retries_timeout_and_on_error_are_checked() {
        let spec = "  tasks:\n    - name: a\n      retries: -1\n      timeout: 5x\n      onError: ignore\n      taskRef: {name: t}\n";
        assert_eq!(
            check(spec),
            [
                (7, 16, "invalid-value"),
                (8, 16, "invalid-duration"),
                (9, 16, "invalid-value")
            ]
        );
    }

    #[test]
    fn matrix_params_fan_out_over_a_known_task() {
        // `os` is a string param of the task; the matrix gives it an array: that is the point.
        let text = "  tasks:\n    - name: a\n      matrix: {params: [{name: os, value: [linux, mac]}]}\n      taskSpec:\n        params: [{name: os}]\n        steps: [{image: x, script: echo $(params.os)}]\n";
        assert_eq!(check(text), []);
    }

    #[test]
    fn an_embedded_param_named_like_a_pipeline_param_is_passed_or_propagated() {
        // Passed explicitly: no "declares no param" warning, no missing param.
        let passed = "  params: [{name: who}]\n  tasks:\n    - name: a\n      params: [{name: who, value: $(params.who)}]\n      taskSpec:\n        params: [{name: who}]\n        steps: [{image: x, script: echo $(params.who)}]\n";
        assert_eq!(check(passed), []);
        // Not passed: the pipeline's `who` propagates into the spec.
        let propagated = "  params: [{name: who}]\n  tasks:\n    - name: a\n      taskSpec:\n        params: [{name: who}]\n        steps: [{image: x, script: echo $(params.who)}]\n";
        assert_eq!(check(propagated), []);
    }

    #[test]
    fn embedded_specs_see_the_params_their_pipeline_task_passes() {
        let text = "  tasks:\n    - name: a\n      params: [{name: extra, value: x}]\n      taskSpec:\n        steps: [{image: x, script: echo $(params.extra) $(params.nope)}]\n";
        assert_eq!(check(text), [(9, 57, "unknown-variable")]);
    }
}
