//! tekton.dev/v1beta1 → v1, in place, the way Tekton's v1beta1 `ConvertTo` functions do it:
//! step/sidecar `resources` become `computeResources`, a PipelineRun's `timeout`,
//! `serviceAccountName` and `podTemplate` move under `timeouts`/`taskRunTemplate`,
//! `stepOverrides` become `stepSpecs`, a `bundle` becomes a `bundles` resolver reference.
//! Fields v1 dropped (PipelineResources, container fields of steps) are removed with a warning.

use super::Resource;
use super::boxed::OptionBox;
use super::k8s::YamlValue;
use super::param::{Param, ParamValue};
use super::pipeline::{EmbeddedTask, PipelineRef, PipelineSpec, PipelineTask, TaskRef};
use super::run::{
    PipelineRunSpec, PipelineTaskRunSpec, PipelineTaskRunTemplate, TaskRunSpec,
    TaskRunStepOverride, TaskRunStepSpec, TimeoutFields,
};
use super::step::{Sidecar, Step, StepTemplate};
use super::task::TaskSpec;
use crate::diagnostic::{Code, Diagnostics};
use crate::{Span, Spanned};

/// Converts a resource read from a tekton.dev/v1beta1 document to the v1 shape, warning about
/// fields v1 no longer has. Resources without a v1beta1 form are left alone.
pub fn to_v1(resource: &mut Resource, diags: &mut Diagnostics) {
    match resource {
        Resource::Task(t) => task_spec(&mut t.spec, diags),
        Resource::Pipeline(p) => pipeline_spec(&mut p.spec, diags),
        Resource::TaskRun(r) => task_run_spec(&mut r.spec, diags),
        Resource::PipelineRun(r) => pipeline_run_spec(&mut r.spec, diags),
        Resource::StepAction(_) | Resource::ConfigMap(_) | Resource::Secret(_) => {}
    }
}

const RESOURCES_HINT: &str = "tekton.dev/v1 removed PipelineResources; use workspaces, params and results (for example a git-clone Task writing to a workspace)";

/// Warns about `resources` (PipelineResources), already taken out of its field.
fn pipeline_resources(taken: Option<Spanned<YamlValue>>, what: &str, diags: &mut Diagnostics) {
    if let Some(value) = taken {
        diags
            .warning(
                Code::Deprecated,
                value.span,
                format!("{what} `resources` (PipelineResources) are ignored"),
            )
            .label("PipelineResources")
            .hint(RESOURCES_HINT);
    }
}

/// [`compute_resources`] for the boxed fields of steps and step templates.
fn boxed_compute_resources<T>(
    resources: &mut OptionBox<Spanned<T>>,
    compute: &mut OptionBox<Spanned<T>>,
    diags: &mut Diagnostics,
) {
    let (mut r, mut c) = (resources.take(), compute.take());
    compute_resources(&mut r, &mut c, diags);
    (*resources, *compute) = (r.into(), c.into());
}

/// Moves v1beta1 `resources` to `computeResources` (which v1beta1 does not have).
fn compute_resources<T>(
    resources: &mut Option<Spanned<T>>,
    compute: &mut Option<Spanned<T>>,
    diags: &mut Diagnostics,
) {
    let Some(r) = resources.take() else { return };
    match compute {
        Some(existing) => {
            diags
                .error(
                    Code::Conflict,
                    r.span,
                    "both `resources` and `computeResources` are set",
                )
                .related(existing.span, "`computeResources` here")
                .hint("`resources` is the v1beta1 name of `computeResources`; keep one");
        }
        None => *compute = Some(r),
    }
}

fn dropped_field(
    field: &mut OptionBox<Spanned<YamlValue>>,
    name: &str,
    container: &str,
    diags: &mut Diagnostics,
) {
    if let Some(value) = field.take() {
        diags
            .warning(
                Code::Deprecated,
                value.span,
                format!("`{name}` of a {container} is ignored: tekton.dev/v1 dropped it"),
            )
            .label("dropped in tekton.dev/v1")
            .hint(format!(
                "remove `{name}`; tekton.dev/v1 steps only have the container fields that matter to a step"
            ));
    }
}

fn step(step: &mut Step, diags: &mut Diagnostics) {
    boxed_compute_resources(&mut step.resources, &mut step.compute_resources, diags);
    let what = "step";
    dropped_field(&mut step.ports, "ports", what, diags);
    dropped_field(&mut step.liveness_probe, "livenessProbe", what, diags);
    dropped_field(&mut step.readiness_probe, "readinessProbe", what, diags);
    dropped_field(&mut step.startup_probe, "startupProbe", what, diags);
    dropped_field(&mut step.lifecycle, "lifecycle", what, diags);
    dropped_field(
        &mut step.termination_message_path,
        "terminationMessagePath",
        what,
        diags,
    );
    dropped_field(
        &mut step.termination_message_policy,
        "terminationMessagePolicy",
        what,
        diags,
    );
    dropped_field(&mut step.stdin, "stdin", what, diags);
    dropped_field(&mut step.stdin_once, "stdinOnce", what, diags);
    dropped_field(&mut step.tty, "tty", what, diags);
}

fn step_template(t: &mut StepTemplate, diags: &mut Diagnostics) {
    boxed_compute_resources(&mut t.resources, &mut t.compute_resources, diags);
    let what = "stepTemplate";
    dropped_field(&mut t.name, "name", what, diags);
    dropped_field(&mut t.ports, "ports", what, diags);
    dropped_field(&mut t.liveness_probe, "livenessProbe", what, diags);
    dropped_field(&mut t.readiness_probe, "readinessProbe", what, diags);
    dropped_field(&mut t.startup_probe, "startupProbe", what, diags);
    dropped_field(&mut t.lifecycle, "lifecycle", what, diags);
    dropped_field(
        &mut t.termination_message_path,
        "terminationMessagePath",
        what,
        diags,
    );
    dropped_field(
        &mut t.termination_message_policy,
        "terminationMessagePolicy",
        what,
        diags,
    );
    dropped_field(&mut t.stdin, "stdin", what, diags);
    dropped_field(&mut t.stdin_once, "stdinOnce", what, diags);
    dropped_field(&mut t.tty, "tty", what, diags);
}

fn sidecar(s: &mut Sidecar, diags: &mut Diagnostics) {
    compute_resources(&mut s.resources, &mut s.compute_resources, diags);
}

fn task_spec(spec: &mut TaskSpec, diags: &mut Diagnostics) {
    pipeline_resources(spec.resources.take(), "Task", diags);
    for s in &mut spec.steps {
        step(s, diags);
    }
    if let Some(t) = spec.step_template.as_mut() {
        step_template(t, diags);
    }
    for s in &mut spec.sidecars {
        sidecar(s, diags);
    }
}

fn embedded_task(task: &mut EmbeddedTask, diags: &mut Diagnostics) {
    let mut spec = task.to_task_spec();
    task_spec(&mut spec, diags);
    task.set_task_spec(spec);
}

/// A string param for a resolver.
fn string_param(name: &str, value: &str, span: Span) -> Param {
    Param {
        name: Spanned::new(span, name.to_owned()),
        value: Spanned::new(span, ParamValue::String(value.to_owned())),
    }
}

fn bundle_warning(bundle: &Spanned<String>, kind: &str, diags: &mut Diagnostics) {
    diags
        .warning(
            Code::Deprecated,
            bundle.span,
            format!("`bundle` is deprecated; the {kind} is resolved with the `bundles` resolver"),
        )
        .label("deprecated")
        .hint(format!(
            "write `resolver: bundles` with params `bundle: {}`, `name` and `kind: {}`",
            bundle.as_str(),
            kind.to_ascii_lowercase()
        ));
}

/// A v1beta1 `bundle` becomes `resolver: bundles` with params bundle/name/kind, as Tekton's
/// conversion did while it supported the field.
fn task_ref(r: &mut TaskRef, diags: &mut Diagnostics) {
    let Some(bundle) = r.bundle.take() else {
        return;
    };
    if bundle.is_empty() {
        return;
    }
    bundle_warning(&bundle, "Task", diags);
    let span = bundle.span;
    let name = r.name.take().map(|n| n.value).unwrap_or_default();
    r.kind = None;
    r.resolver = Some(Spanned::new(span, "bundles".to_owned()));
    r.params = vec![
        string_param("bundle", bundle.as_str(), span),
        string_param("name", &name, span),
        string_param("kind", "Task", span),
    ];
}

fn pipeline_ref(r: &mut PipelineRef, diags: &mut Diagnostics) {
    let Some(bundle) = r.bundle.take() else {
        return;
    };
    if bundle.is_empty() {
        return;
    }
    bundle_warning(&bundle, "Pipeline", diags);
    let span = bundle.span;
    let name = r.name.take().map(|n| n.value).unwrap_or_default();
    r.resolver = Some(Spanned::new(span, "bundles".to_owned()));
    r.params = vec![
        string_param("bundle", bundle.as_str(), span),
        string_param("name", &name, span),
        string_param("kind", "Pipeline", span),
    ];
}

fn pipeline_task(t: &mut PipelineTask, diags: &mut Diagnostics) {
    pipeline_resources(t.resources.take(), "pipeline task", diags);
    if let Some(r) = t.task_ref.as_mut() {
        task_ref(r, diags);
    }
    if let Some(spec) = t.task_spec.as_mut() {
        embedded_task(spec, diags);
    }
}

fn pipeline_spec(spec: &mut PipelineSpec, diags: &mut Diagnostics) {
    pipeline_resources(spec.resources.take(), "Pipeline", diags);
    for t in spec.tasks.iter_mut().chain(spec.finally.iter_mut()) {
        pipeline_task(t, diags);
    }
}

fn overrides_to_specs(overrides: Vec<TaskRunStepOverride>, specs: &mut Vec<TaskRunStepSpec>) {
    specs.extend(overrides.into_iter().map(|o| TaskRunStepSpec {
        name: o.name,
        compute_resources: o.resources,
    }));
}

fn task_run_spec(spec: &mut TaskRunSpec, diags: &mut Diagnostics) {
    pipeline_resources(spec.resources.take(), "TaskRun", diags);
    if let Some(r) = &mut spec.task_ref {
        task_ref(r, diags);
    }
    if let Some(t) = &mut spec.task_spec {
        task_spec(t, diags);
    }
    overrides_to_specs(
        std::mem::take(&mut spec.step_overrides),
        &mut spec.step_specs,
    );
    overrides_to_specs(
        std::mem::take(&mut spec.sidecar_overrides),
        &mut spec.sidecar_specs,
    );
}

fn pipeline_task_run_spec(spec: &mut PipelineTaskRunSpec) {
    if let Some(sa) = spec.task_service_account_name.take() {
        spec.service_account_name.get_or_insert(sa);
    }
    if let Some(pt) = spec.task_pod_template.take() {
        spec.pod_template.get_or_insert(pt.value);
    }
    overrides_to_specs(
        std::mem::take(&mut spec.step_overrides),
        &mut spec.step_specs,
    );
    overrides_to_specs(
        std::mem::take(&mut spec.sidecar_overrides),
        &mut spec.sidecar_specs,
    );
}

fn pipeline_run_spec(spec: &mut PipelineRunSpec, diags: &mut Diagnostics) {
    pipeline_resources(spec.resources.take(), "PipelineRun", diags);
    if let Some(r) = &mut spec.pipeline_ref {
        pipeline_ref(r, diags);
    }
    if let Some(p) = &mut spec.pipeline_spec {
        pipeline_spec(p, diags);
    }

    // `timeout` replaces `timeouts` entirely, as in Tekton's conversion; v1beta1 validation
    // rejects the two together.
    if let Some(timeout) = spec.timeout.take() {
        if let Some(existing) = &spec.timeouts {
            diags
                .error(
                    Code::Conflict,
                    timeout.span,
                    "`timeout` and `timeouts` cannot both be set",
                )
                .related(existing.span, "`timeouts` here")
                .hint("`timeout` is the v1beta1 form of `timeouts: {pipeline: …}`; keep one");
        }
        spec.timeouts = Some(Spanned::new(
            timeout.span,
            TimeoutFields {
                pipeline: Some(timeout),
                ..TimeoutFields::default()
            },
        ));
    }

    let sa = spec.service_account_name.take();
    let pod = spec.pod_template.take();
    if sa.is_some() || pod.is_some() {
        let template = spec
            .task_run_template
            .get_or_insert_with(PipelineTaskRunTemplate::default);
        if let Some(sa) = sa {
            template.service_account_name.get_or_insert(sa);
        }
        if let Some(pod) = pod {
            template.pod_template.get_or_insert(pod.value);
        }
    }

    for trs in &mut spec.task_run_specs {
        pipeline_task_run_spec(trs);
    }

    // `serviceAccountNames` (removed from v1beta1 before v1 existed) maps onto taskRunSpecs.
    for entry in std::mem::take(&mut spec.service_account_names) {
        diags
            .warning(
                Code::Deprecated,
                entry.span,
                "`serviceAccountNames` was removed from Tekton; runnel reads it as `taskRunSpecs`",
            )
            .label("removed field")
            .hint("write `taskRunSpecs: [{pipelineTaskName: …, serviceAccountName: …}]`");
        let entry = entry.value;
        let (Some(task), Some(sa)) = (entry.task_name, entry.service_account_name) else {
            continue;
        };
        match spec
            .task_run_specs
            .iter_mut()
            .find(|t| t.pipeline_task_name.as_ref() == Some(&task))
        {
            Some(existing) => {
                existing.service_account_name.get_or_insert(sa);
            }
            None => spec.task_run_specs.push(PipelineTaskRunSpec {
                pipeline_task_name: Some(task),
                service_account_name: Some(sa),
                ..PipelineTaskRunSpec::default()
            }),
        }
    }
}
