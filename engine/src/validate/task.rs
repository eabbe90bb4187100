//! Task specs, wherever they appear (a Task, a pipeline task's `taskSpec`, a TaskRun's
//! `taskSpec`): steps, sidecars, params, results, workspaces and the references in them.
//!
//! The errors follow Tekton's admission checks (`task_validation.go`,
//! `container_validation.go`) and what a pod certainly cannot run (two containers of one
//! name); the rest are warnings.

use std::collections::HashMap;

use crate::diagnostic::{Code, Diagnostics, did_you_mean};
use crate::model::Resource;
use crate::model::k8s::{EnvVar, VolumeMount};
use crate::model::param::{Param, ParamValue};
use crate::model::result::StepResult;
use crate::model::step::{OnError, Sidecar, Step};
use crate::model::task::TaskSpec;
use crate::model::workspace::WorkspaceUsage;
use crate::source::Span;
use crate::spanned::Spanned;
use crate::validate::pipeline::check_when;
use crate::validate::refs::{self, PipelineScope, Place, Scope, TaskScope};
use crate::validate::structure::first_line;
use crate::validate::{Context, duplicates, is_dns_label};
use crate::{duration, validate::params};

/// The sidecar name Tekton keeps for itself (results read from logs).
const RESERVED_SIDECAR_NAME: &str = "tekton-log-results";

/// What the strings of `spec` can refer to.
pub fn task_scope(spec: &TaskSpec) -> TaskScope<'_> {
    TaskScope {
        params: spec
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.effective_type()))
            .collect(),
        results: spec.results.iter().map(|r| r.name.as_str()).collect(),
        workspaces: spec.workspaces.iter().map(|w| w.name.as_str()).collect(),
        steps: spec
            .steps
            .iter()
            .filter_map(|s| s.name.as_ref().map(|n| n.as_str()))
            .collect(),
    }
}

/// Checks one task spec; `pipeline` is the enclosing pipeline's scope for an embedded spec.
pub fn check_task_spec(
    ctx: &Context<'_>,
    spec: &TaskSpec,
    pipeline: Option<&PipelineScope<'_>>,
    diags: &mut Diagnostics,
) {
    let scope_t = task_scope(spec);
    let c = Checker {
        ctx,
        spec,
        scope: Scope {
            task: Some(&scope_t),
            pipeline,
        },
    };

    if spec.steps.is_empty() {
        c.no_steps(diags);
    }

    params::check_specs(&spec.params, diags);
    duplicates(
        diags,
        "step",
        spec.steps.iter().filter_map(|s| s.name.as_ref()),
    );
    duplicates(
        diags,
        "sidecar",
        spec.sidecars.iter().filter_map(|s| s.name.as_ref()),
    );
    duplicates(diags, "volume", spec.volumes.iter().map(|v| &v.name));
    c.check_results(diags);
    c.check_workspaces(diags);

    if let Some(t) = spec.step_template.as_ref() {
        c.texts(diags, t.image.iter());
        c.texts(diags, t.command.iter());
        c.texts(diags, t.args.iter());
        c.texts(diags, t.working_dir.iter());
        c.env(diags, &t.env);
        c.volume_mounts(diags, &t.volume_mounts);
    }
    for step in &spec.steps {
        c.check_step(step, diags);
    }
    for sidecar in &spec.sidecars {
        c.check_sidecar(sidecar, diags);
    }
}

struct Checker<'c, 'a> {
    ctx: &'c Context<'a>,
    spec: &'c TaskSpec,
    scope: Scope<'c, 'c>,
}

impl Checker<'_, '_> {
    /// Checks the references in each string.
    fn texts<'v>(
        &self,
        diags: &mut Diagnostics,
        values: impl IntoIterator<Item = &'v Spanned<String>>,
    ) {
        for v in values {
            refs::check(self.ctx, diags, v, &self.scope, Place::Text);
        }
    }

    fn env(&self, diags: &mut Diagnostics, env: &[EnvVar]) {
        self.texts(diags, env.iter().filter_map(|e| e.value.as_ref()));
    }

    fn param_value(&self, diags: &mut Diagnostics, value: &Spanned<ParamValue>) {
        match &value.value {
            ParamValue::String(s) => {
                self.texts(diags, [&Spanned::new(value.span, s.clone())]);
            }
            ParamValue::Array(items) => self.texts(diags, items),
            ParamValue::Object(map) => self.texts(diags, map.values()),
        }
    }

    fn params(&self, diags: &mut Diagnostics, params: &[Param]) {
        for p in params {
            self.param_value(diags, &p.value);
        }
    }

    /// Only the first line of `span`, so a whole step is not underlined.
    fn head(&self, span: Span) -> Span {
        let text = self.ctx.loaded.sources.get(span.file).slice(span);
        first_line(span, Some(text))
    }

    /// A task without steps: Tekton requires at least one.
    fn no_steps(&self, diags: &mut Diagnostics) {
        let spec = self.spec;
        // The Task or TaskRun this spec belongs to, if it is one of the loaded resources.
        let owner = self
            .ctx
            .loaded
            .resources
            .iter()
            .find_map(|r| match &r.resource {
                Resource::Task(t) if std::ptr::eq(&t.spec, spec) => t
                    .metadata
                    .name
                    .as_ref()
                    .map(|n| n.span)
                    .or(Some(t.kind.span)),
                Resource::TaskRun(tr) => tr
                    .spec
                    .task_spec
                    .as_ref()
                    .filter(|ts| std::ptr::eq(&ts.value, spec))
                    .map(|ts| self.head(ts.span)),
                _ => None,
            });
        let inside = || {
            spec.display_name
                .as_ref()
                .map(|d| d.span)
                .or_else(|| spec.params.first().map(|p| p.name.span))
                .or_else(|| spec.workspaces.first().map(|w| w.name.span))
                .or_else(|| spec.results.first().map(|r| r.name.span))
                .or_else(|| spec.volumes.first().map(|v| v.name.span))
                .or_else(|| spec.sidecars.first().map(|s| self.head(s.span)))
                .or_else(|| spec.resources.as_ref().map(|r| self.head(r.span)))
        };
        // Without any span the problem cannot be placed; the schema pass has the spec itself.
        let Some(span) = owner.or_else(inside) else {
            return;
        };
        diags
            .error(Code::MissingField, span, "this task has no steps")
            .label("this task has no steps")
            .hint("add at least one step under `steps:` (`- name: NAME`, `image: IMAGE`, `script: ...`)");
    }

    fn check_results(&self, diags: &mut Diagnostics) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for r in &self.spec.results {
            result_name(&r.name, diags);
            if let Some(first) = seen.get(r.name.as_str()) {
                // Tekton accepts it; both declarations name one file.
                diags
                    .warning(
                        Code::DuplicateName,
                        r.name.span,
                        format!("duplicate result name `{}`", r.name),
                    )
                    .label("declared again here")
                    .related(*first, "first declared here")
                    .hint("result names should be unique");
            } else {
                seen.insert(r.name.as_str(), r.name.span);
            }
            if let Some(v) = &r.value {
                self.param_value(diags, v);
            }
        }
    }

    /// Workspace names and mount paths are unique, mount paths also against the steps'
    /// and the step template's volume mounts (compared as cleaned paths, like Tekton).
    fn check_workspaces(&self, diags: &mut Diagnostics) {
        let spec = self.spec;
        duplicates(diags, "workspace", spec.workspaces.iter().map(|w| &w.name));
        let mut paths: HashMap<String, Span> = HashMap::new();
        let mounts = spec
            .steps
            .iter()
            .flat_map(|s| s.volume_mounts.iter())
            .chain(
                spec.step_template
                    .iter()
                    .flat_map(|t| t.volume_mounts.iter()),
            );
        for m in mounts {
            paths
                .entry(clean_path(&m.mount_path))
                .or_insert(m.mount_path.span);
        }
        let mut names: Vec<&str> = Vec::new();
        for w in &spec.workspaces {
            if names.contains(&w.name.as_str()) {
                continue; // already reported as a duplicate name
            }
            names.push(w.name.as_str());
            let path = clean_path(&w.effective_mount_path());
            let at = w.mount_path.as_ref().map_or(w.name.span, |p| p.span);
            if let Some(first) = paths.get(&path) {
                diags
                    .error(
                        Code::DuplicateName,
                        at,
                        format!("workspace `{}` is mounted at `{path}`, which is already in use", w.name),
                    )
                    .label("mount path used twice")
                    .related(*first, "already mounted here")
                    .hint("workspace mount paths must be unique; give this workspace another `mountPath`");
            } else {
                paths.insert(path, at);
            }
            self.texts(diags, w.mount_path.iter());
        }
    }

    /// Step and sidecar workspaces must name a workspace of the task.
    fn workspace_usages(&self, diags: &mut Diagnostics, usages: &[WorkspaceUsage]) {
        let declared: Vec<&str> = self
            .spec
            .workspaces
            .iter()
            .map(|w| w.name.as_str())
            .collect();
        for u in usages {
            if !declared.contains(&u.name.as_str()) {
                diags
                    .error(
                        Code::UnresolvedReference,
                        u.name.span,
                        format!("the task declares no workspace `{}`", u.name),
                    )
                    .label("undefined workspace")
                    .hint(
                        did_you_mean(&u.name, declared.iter().copied()).unwrap_or_else(|| {
                            "declare it under the task's `workspaces:`".to_owned()
                        }),
                    );
            }
            self.texts(diags, u.mount_path.iter());
        }
    }

    fn volume_mounts(&self, diags: &mut Diagnostics, mounts: &[VolumeMount]) {
        for m in mounts {
            let path = clean_path(&m.mount_path);
            if path.starts_with("/tekton/") && !path.starts_with("/tekton/home") {
                diags
                    .error(
                        Code::InvalidValue,
                        m.mount_path.span,
                        format!("volume `{}` cannot be mounted under /tekton/", m.name),
                    )
                    .label("reserved for Tekton")
                    .hint("Tekton keeps /tekton/ for itself (only /tekton/home may be used); mount it elsewhere");
            }
            if m.name.starts_with("tekton-internal-") {
                diags
                    .error(
                        Code::InvalidValue,
                        m.name.span,
                        format!(
                            "volume mount name `{}` cannot start with `tekton-internal-`",
                            m.name
                        ),
                    )
                    .label("reserved prefix");
            }
            self.texts(diags, [&m.name, &m.mount_path]);
            self.texts(diags, m.sub_path.iter());
        }
    }

    /// A step or sidecar name must be a DNS-1123 label: it names the container.
    fn container_name(&self, what: &str, name: &Spanned<String>, diags: &mut Diagnostics) {
        if !is_dns_label(name) {
            let suggestion = dns_label_from(name);
            let hint = if !suggestion.is_empty() && suggestion != name.as_str() {
                format!(
                    "{what} names are DNS labels (lowercase letters, digits and `-`, at most 63); e.g. `{suggestion}`"
                )
            } else {
                format!(
                    "{what} names are DNS labels (lowercase letters, digits and `-`, at most 63)"
                )
            };
            diags
                .error(
                    Code::InvalidValue,
                    name.span,
                    format!("invalid {what} name `{name}`"),
                )
                .label("not a DNS label")
                .hint(hint);
        }
    }

    fn check_step(&self, step: &Spanned<Step>, diags: &mut Diagnostics) {
        let s = &step.value;
        let at = s
            .name
            .as_ref()
            .map_or_else(|| self.head(step.span), |n| n.span);
        if let Some(name) = &s.name {
            self.container_name("step", name, diags);
        }

        if let Some(r) = &s.r#ref {
            let ref_at = self.head(r.span);
            let mut conflict = |field: &str, span: Span| {
                diags
                    .error(Code::Conflict, span, format!("`{field}` cannot be used with `ref`"))
                    .label(format!("`{field}` beside `ref`"))
                    .related(ref_at, "the step runs this StepAction")
                    .hint(format!("the StepAction provides the container; remove `{field}` (pass values through `params`)"));
            };
            if let Some(image) = &s.image {
                conflict("image", image.span);
            }
            if let Some(c) = s.command.first() {
                conflict("command", c.span);
            }
            if let Some(a) = s.args.first() {
                conflict("args", a.span);
            }
            if let Some(script) = &s.script {
                conflict("script", self.head(script.span));
            }
            if let Some(w) = &s.working_dir {
                conflict("workingDir", w.span);
            }
            if let Some(e) = s.env.first() {
                conflict("env", e.name.span);
            }
            if let Some(m) = s.volume_mounts.first() {
                conflict("volumeMounts", m.name.span);
            }
            if let Some(res) = s.results.first() {
                conflict("results", res.name.span);
            }
            if let Some(sr) = &r.name {
                self.texts(diags, [sr]);
            }
            self.params(diags, &r.params);
        } else {
            if let Some(p) = s.params.first() {
                diags
                    .error(Code::Conflict, p.name.span, "`params` can only be used with `ref`")
                    .label("params without `ref`")
                    .hint("step params are passed to a StepAction; use them in `env` or `script` through the task's params instead");
            }
            let template = self.spec.step_template.as_ref();
            if s.image.is_none() && template.and_then(|t| t.image.as_ref()).is_none() {
                diags
                    .error(Code::MissingField, at, "step has no `image`")
                    .label("needs `image`")
                    .hint("give the step an `image` (e.g. `image: busybox`), set one in `stepTemplate`, or run a StepAction with `ref`");
            }
            if let Some(script) = &s.script {
                let command = s
                    .command
                    .first()
                    .map(|c| (c.span, "the command"))
                    .or_else(|| {
                        template
                            .and_then(|t| t.command.first())
                            .map(|c| (c.span, "the step template's command"))
                    });
                if let Some((command_at, what)) = command {
                    diags
                        .error(Code::Conflict, self.head(script.span), "`script` cannot be used with `command`")
                        .label("`script` beside `command`")
                        .related(command_at, what)
                        .hint("a script runs as the container's command: drop `command` (a `#!` line picks the interpreter), or move the script into `args`");
                }
            }
        }

        if let Some(on_error) = &s.on_error
            && OnError::parse(on_error).is_none()
            && !on_error.contains("$(")
        {
            diags
                .error(Code::InvalidValue, on_error.span, format!("invalid `onError` value `{on_error}`"))
                .label("expected `continue` or `stopAndFail`")
                .hint(did_you_mean(on_error, ["continue", "stopAndFail"]).unwrap_or_else(|| {
                    "`onError` is `continue` or `stopAndFail` (or a `$(params.NAME)` reference)".to_owned()
                }));
        }
        if let Some(timeout) = &s.timeout {
            check_duration(timeout, diags);
        }
        for r in &s.results {
            result_name(&r.name, diags);
        }
        step_result_duplicates(&s.results, diags);
        self.workspace_usages(diags, &s.workspaces);

        self.texts(diags, s.image.iter());
        self.texts(diags, s.command.iter());
        self.texts(diags, s.args.iter());
        self.texts(diags, s.script.iter());
        self.texts(diags, s.working_dir.iter());
        self.texts(diags, s.on_error.iter());
        self.env(diags, &s.env);
        self.volume_mounts(diags, &s.volume_mounts);
        self.params(diags, &s.params);
        let output_paths = [&s.stdout_config, &s.stderr_config];
        self.texts(
            diags,
            output_paths
                .into_iter()
                .flatten()
                .filter_map(|c| c.path.as_ref()),
        );
        check_when(self.ctx, &s.when, &self.scope, diags);
    }

    fn check_sidecar(&self, sidecar: &Spanned<Sidecar>, diags: &mut Diagnostics) {
        let s = &sidecar.value;
        let at = s
            .name
            .as_ref()
            .map_or_else(|| self.head(sidecar.span), |n| n.span);
        if let Some(name) = &s.name {
            self.container_name("sidecar", name, diags);
            if name.as_str() == RESERVED_SIDECAR_NAME {
                diags
                    .error(
                        Code::InvalidValue,
                        name.span,
                        format!("sidecar name `{name}` is reserved by Tekton"),
                    )
                    .label("reserved name")
                    .hint("Tekton uses this sidecar to read results from logs; pick another name");
            }
        }
        if s.image.is_none() {
            diags
                .error(Code::MissingField, at, "sidecar has no `image`")
                .label("needs `image`")
                .hint("give the sidecar an `image`; sidecars do not use `stepTemplate`");
        }
        if let (Some(script), Some(command)) = (&s.script, s.command.first()) {
            diags
                .error(Code::Conflict, self.head(script.span), "`script` cannot be used with `command`")
                .label("`script` beside `command`")
                .related(command.span, "the command")
                .hint("a script runs as the container's command: drop `command` (a `#!` line picks the interpreter)");
        }
        self.workspace_usages(diags, &s.workspaces);
        self.texts(diags, s.image.iter());
        self.texts(diags, s.command.iter());
        self.texts(diags, s.args.iter());
        self.texts(diags, s.script.iter());
        self.texts(diags, s.working_dir.iter());
        self.env(diags, &s.env);
        self.volume_mounts(diags, &s.volume_mounts);
    }
}

/// A `timeout` must be a Go duration (Tekton reads it as one) and not negative.
fn check_duration(value: &Spanned<String>, diags: &mut Diagnostics) {
    if let Err(e) = duration::parse(value) {
        diags
            .error(
                Code::InvalidDuration,
                value.span,
                format!("invalid `timeout` `{value}`: {e}"),
            )
            .label("not a duration")
            .hint("write a duration such as `30s`, `10m` or `1h30m`");
    }
}

/// Task and step result names: letters, digits, `-`, `_` and `.`, starting and ending with a
/// letter or digit (Tekton's `ResultNameFormat`).
fn result_name(name: &Spanned<String>, diags: &mut Diagnostics) {
    let b = name.as_bytes();
    let valid = !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if !valid {
        diags
            .error(Code::InvalidValue, name.span, format!("invalid result name `{name}`"))
            .label("invalid name")
            .hint("result names contain letters, digits, `-`, `_` and `.`, and start and end with a letter or digit");
    }
}

/// Two results of one step under one name (accepted by Tekton; a warning).
fn step_result_duplicates(results: &[StepResult], diags: &mut Diagnostics) {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for r in results {
        if let Some(first) = seen.get(r.name.as_str()) {
            diags
                .warning(
                    Code::DuplicateName,
                    r.name.span,
                    format!("duplicate step result name `{}`", r.name),
                )
                .label("declared again here")
                .related(*first, "first declared here");
        } else {
            seen.insert(r.name.as_str(), r.name.span);
        }
    }
}

/// A close DNS label for a suggestion: lowercased, other characters as `-`.
fn dns_label_from(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    trimmed
        .chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

/// Go's `filepath.Clean` for `/` paths: no empty or `.` parts, `..` resolved.
fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Severity;
    use crate::load::Loaded;

    /// `(line, col, code, severity)` of every diagnostic for `text`.
    fn diags(text: &str) -> Vec<(u32, u32, Code, Severity)> {
        let mut loaded = Loaded::new();
        loaded.add_source("t.yaml", text);
        crate::validate::validate(&loaded)
            .iter()
            .map(|d| (d.span.line, d.span.col, d.code, d.severity))
            .collect()
    }

    fn errors(text: &str) -> Vec<(u32, u32, Code)> {
        diags(text)
            .into_iter()
            .filter(|d| d.3 == Severity::Error)
            .map(|(l, c, code, _)| (l, c, code))
            .collect()
    }

    fn task(spec: &str) -> String {
        format!("apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: t\nspec:\n{spec}")
    }

    #[test]
    fn valid_task_is_clean() {
        let t = task(
            "  params:\n    - name: who\n  workspaces:\n    - name: src\n  results:\n    - name: out\n  steps:\n    - name: hi\n      image: busybox\n      workingDir: $(workspaces.src.path)\n      script: echo $(params.who) > $(results.out.path)\n",
        );
        assert_eq!(diags(&t), vec![]);
    }

    #[test]
    fn no_steps_points_at_the_task_name() {
        let t = task("  params:\n    - name: who\n");
        assert_eq!(errors(&t), vec![(4, 9, Code::MissingField)]);
    }

    #[test]
    fn image_is_required_unless_ref_or_template() {
        let t = task("  steps:\n    - name: a\n      script: echo\n");
        assert_eq!(errors(&t), vec![(7, 13, Code::MissingField)]);
        let t = task(
            "  stepTemplate:\n    image: busybox\n  steps:\n    - name: a\n      script: echo\n",
        );
        assert_eq!(errors(&t), vec![]);
        let t = task("  steps:\n    - ref:\n        name: act\n");
        assert_eq!(errors(&t), vec![]);
    }

    #[test]
    fn script_with_command_conflicts() {
        let t = task("  steps:\n    - image: busybox\n      command: [sh]\n      script: echo\n");
        assert_eq!(errors(&t), vec![(9, 15, Code::Conflict)]);
        let t = task(
            "  sidecars:\n    - image: busybox\n      command: [sh]\n      script: echo\n  steps:\n    - image: busybox\n",
        );
        assert_eq!(errors(&t), vec![(9, 15, Code::Conflict)]);
    }

    #[test]
    fn ref_excludes_container_fields() {
        let t = task(
            "  steps:\n    - ref:\n        name: act\n      image: busybox\n      args: [x]\n",
        );
        assert_eq!(
            errors(&t),
            vec![(9, 14, Code::Conflict), (10, 14, Code::Conflict)]
        );
        let t = task(
            "  steps:\n    - image: busybox\n      params:\n        - name: p\n          value: v\n",
        );
        assert_eq!(errors(&t), vec![(9, 17, Code::Conflict)]);
    }

    #[test]
    fn names_are_unique_and_dns_labels() {
        let t = task(
            "  steps:\n    - name: a\n      image: busybox\n    - name: a\n      image: busybox\n    - name: Bad_Name\n      image: busybox\n",
        );
        assert_eq!(
            errors(&t),
            vec![(9, 13, Code::DuplicateName), (11, 13, Code::InvalidValue)]
        );
        let t = task(
            "  volumes:\n    - name: v\n      emptyDir: {}\n    - name: v\n      emptyDir: {}\n  steps:\n    - image: busybox\n",
        );
        assert_eq!(errors(&t), vec![(9, 13, Code::DuplicateName)]);
    }

    #[test]
    fn duplicate_results_warn_and_bad_names_fail() {
        let t = task(
            "  results:\n    - name: r\n    - name: r\n    - name: -bad\n  steps:\n    - image: busybox\n",
        );
        assert_eq!(
            diags(&t),
            vec![
                (8, 13, Code::DuplicateName, Severity::Warning),
                (9, 13, Code::InvalidValue, Severity::Error)
            ]
        );
    }

    #[test]
    fn workspaces_unique_by_name_and_mount_path() {
        let t = task(
            "  workspaces:\n    - name: a\n    - name: a\n    - name: b\n      mountPath: /workspace/a/\n  steps:\n    - image: busybox\n",
        );
        assert_eq!(
            errors(&t),
            vec![(8, 13, Code::DuplicateName), (10, 18, Code::DuplicateName)]
        );
        let t = task(
            "  workspaces:\n    - name: a\n      mountPath: /data\n  steps:\n    - image: busybox\n      volumeMounts:\n        - name: v\n          mountPath: /data\n",
        );
        assert_eq!(errors(&t), vec![(8, 18, Code::DuplicateName)]);
    }

    #[test]
    fn on_error_and_timeout() {
        let t = task("  steps:\n    - image: busybox\n      onError: ignore\n      timeout: 10x\n");
        assert_eq!(
            errors(&t),
            vec![(8, 16, Code::InvalidValue), (9, 16, Code::InvalidDuration)]
        );
        let t = task(
            "  params:\n    - name: e\n  steps:\n    - image: busybox\n      onError: $(params.e)\n      timeout: 1h30m\n",
        );
        assert_eq!(diags(&t), vec![]);
    }

    #[test]
    fn undefined_step_workspace_is_an_error() {
        let t = task(
            "  workspaces:\n    - name: src\n  steps:\n    - image: busybox\n      workspaces:\n        - name: scr\n",
        );
        assert_eq!(errors(&t), vec![(11, 17, Code::UnresolvedReference)]);
    }

    #[test]
    fn references_are_checked_everywhere() {
        let t = task(
            "  steps:\n    - image: $(params.img)\n      env:\n        - name: X\n          value: $(params.x)\n  sidecars:\n    - image: busybox\n      args: [$(params.y)]\n",
        );
        let unknown: Vec<(u32, u32)> = diags(&t)
            .into_iter()
            .filter(|d| d.2 == Code::UnknownVariable)
            .map(|d| (d.0, d.1))
            .collect();
        assert_eq!(unknown, vec![(7, 14), (10, 18), (13, 14)]);
    }

    #[test]
    fn step_when_compares_text() {
        let t = task(
            "  steps:\n    - image: busybox\n      when:\n        - input: \"$(cat f)\"\n          operator: in\n          values: [a]\n      script: echo $(ls | wc -l)\n",
        );
        assert_eq!(
            diags(&t),
            vec![(9, 19, Code::UnknownVariable, Severity::Warning)]
        );
    }

    #[test]
    fn cleans_paths_like_go() {
        assert_eq!(clean_path("/a//b/./c/../"), "/a/b");
        assert_eq!(clean_path("/../x"), "/x");
        assert_eq!(clean_path("a/.."), ".");
        assert_eq!(dns_label_from("Build_Step"), "build-step");
    }
}
