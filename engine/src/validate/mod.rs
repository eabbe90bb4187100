//! Validation: passes over the loaded documents that each add diagnostics, all run in one go
//! so the user sees every problem at once. `structure` runs while loading (on the YAML tree);
//! the semantic passes run here on the typed model: `task` (Task specs wherever they appear),
//! `pipeline` (Pipeline specs), `dag` (cycles), `run` (TaskRun and PipelineRun against what
//! they run), with `refs` checking `$(…)` references for all of them.
//!
//! Errors are what Tekton would reject (at admission, or certainly at run time); everything
//! else is a warning.

pub mod dag;
pub mod params;
pub mod pipeline;
pub mod refs;
pub mod run;
pub mod structure;
pub mod task;

use std::collections::HashMap;
use std::path::Component;

use crate::diagnostic::{Code, Diagnostics};
use crate::load::{Loaded, LoadedResource};
use crate::model::Resource;
use crate::model::pipeline::{PipelineSpec, TaskRef};
use crate::model::task::TaskSpec;
use crate::source::{FileId, Span};
use crate::spanned::Spanned;

/// Runs every semantic pass over what was loaded and returns all diagnostics, the loader's
/// (syntax, structure, conversion) included, sorted by position.
pub fn validate(loaded: &Loaded) -> Diagnostics {
    let ctx = Context::new(loaded);
    let mut diags = loaded.diagnostics.clone();
    for res in &loaded.resources {
        match &res.resource {
            Resource::Task(t) => task::check_task_spec(&ctx, &t.spec, None, &mut diags),
            Resource::Pipeline(p) => {
                pipeline::check_pipeline_spec(&ctx, res.file, &p.spec, &[], &mut diags)
            }
            Resource::TaskRun(tr) => run::check_task_run(&ctx, res.file, tr, &mut diags),
            Resource::PipelineRun(pr) => run::check_pipeline_run(&ctx, res.file, pr, &mut diags),
            Resource::StepAction(_) | Resource::ConfigMap(_) | Resource::Secret(_) => {}
        }
    }
    diags.sort();
    diags
}

/// What the passes share: the sources (to point inside strings) and an index of the Tasks and
/// Pipelines defined in the input, for references by name.
pub struct Context<'a> {
    pub loaded: &'a Loaded,
    tasks: HashMap<&'a str, Vec<&'a LoadedResource>>,
    pipelines: HashMap<&'a str, Vec<&'a LoadedResource>>,
}

impl<'a> Context<'a> {
    pub fn new(loaded: &'a Loaded) -> Self {
        let mut tasks: HashMap<&str, Vec<&LoadedResource>> = HashMap::new();
        let mut pipelines: HashMap<&str, Vec<&LoadedResource>> = HashMap::new();
        for res in &loaded.resources {
            let Some(name) = res.resource.name() else {
                continue;
            };
            match &res.resource {
                Resource::Task(_) => tasks.entry(name.as_str()).or_default().push(res),
                Resource::Pipeline(_) => pipelines.entry(name.as_str()).or_default().push(res),
                _ => {}
            }
        }
        Context {
            loaded,
            tasks,
            pipelines,
        }
    }

    /// The definition nearest to `from` among several of one name: the same file, else the
    /// one whose path shares the longest prefix with `from` (a catalog's `tests/run.yaml`
    /// finds the task version beside it).
    fn nearest(
        &self,
        candidates: &[&'a LoadedResource],
        from: FileId,
    ) -> Option<&'a LoadedResource> {
        let here = self.loaded.sources.path(from);
        let shared = |r: &&LoadedResource| {
            if r.file == from {
                return usize::MAX;
            }
            here.components()
                .zip(self.loaded.sources.path(r.file).components())
                .take_while(|(a, b)| a == b && !matches!(a, Component::CurDir))
                .count()
        };
        candidates.iter().copied().max_by_key(shared)
    }

    /// The Task named `name` defined in the input, if any.
    pub fn find_task(&self, name: &str, from: FileId) -> Option<&'a TaskSpec> {
        let found = self.nearest(self.tasks.get(name)?, from)?;
        match &found.resource {
            Resource::Task(t) => Some(&t.spec),
            _ => None,
        }
    }

    /// The Pipeline named `name` defined in the input, if any.
    pub fn find_pipeline(&self, name: &str, from: FileId) -> Option<&'a PipelineSpec> {
        let found = self.nearest(self.pipelines.get(name)?, from)?;
        match &found.resource {
            Resource::Pipeline(p) => Some(&p.spec),
            _ => None,
        }
    }

    /// The span of `value[start..end]` in the source: exact when that text appears inside the
    /// value's span as written (true for `$(…)` references in plain, quoted and block
    /// scalars), else the value's whole span.
    pub fn sub_span(&self, value: &Spanned<String>, start: usize, end: usize) -> Span {
        let span = value.span;
        let Some(needle) = value.value.get(start..end) else {
            return span;
        };
        let text = self.loaded.sources.get(span.file).slice(span);
        // Prefer the occurrence at the same relative position, for repeated references.
        let nth = value.value[..start].matches(needle).count();
        match text.match_indices(needle).nth(nth) {
            Some((i, _)) => {
                let start = span.start + i as u32;
                self.loaded.sources.get(span.file).span(
                    span.file,
                    start,
                    start + needle.len() as u32,
                )
            }
            None => span,
        }
    }
}

/// The name of the Task a reference runs, when that Task can be in the input: no resolver,
/// bundle or custom kind.
pub fn local_task_name(r: &TaskRef) -> Option<&Spanned<String>> {
    if r.resolver.is_some() || r.bundle.is_some() || r.api_version.is_some() {
        return None;
    }
    if r.kind.as_ref().is_some_and(|k| k.as_str() != "Task") {
        return None;
    }
    r.name.as_ref()
}

/// Reports every name that repeats an earlier one in `names` (`what` is e.g. "param").
pub fn duplicates<'n>(
    diags: &mut Diagnostics,
    what: &str,
    names: impl IntoIterator<Item = &'n Spanned<String>>,
) {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for name in names {
        if let Some(first) = seen.get(name.as_str()) {
            diags
                .error(
                    Code::DuplicateName,
                    name.span,
                    format!("duplicate {what} name `{name}`"),
                )
                .label("declared again here")
                .related(*first, "first declared here")
                .hint(format!("{what} names must be unique"));
        } else {
            seen.insert(name.as_str(), name.span);
        }
    }
}

/// Whether `name` is a DNS-1123 label (lowercase letters, digits, `-`; at most 63; starts and
/// ends with a letter or digit), as Kubernetes and Tekton require of task and step names.
pub fn is_dns_label(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}
