//! Finding the Task, Pipeline or StepAction a reference names.
//!
//! Tekton resolves a `taskRef` when the run starts, from the cluster or a remote resolver.
//! `runnel run` has no cluster: it resolves from a [`Catalog`], a list of places searched in
//! order. The caller decides the places; `runnel run` adds the documents of the files the
//! user gave first ([`Catalog::add_loaded`]), then catalog directories ([`Catalog::add_dir`]).
//!
//! A reference finds a definition by name:
//!
//! - `name: git-clone`: the first place that defines `git-clone` wins; when that place holds
//!   several versions of it (label `app.kubernetes.io/version`), the highest version.
//! - `name: git-clone@0.9`: the definition labelled version `0.9`, in the first place that has
//!   it.
//! - `resolver: hub`, `bundles` or `cluster` with params `name` (and optionally `version` and
//!   `kind`): looked up in the catalog the same way, a local stand-in for Tekton Hub, OCI
//!   bundles and the cluster. `bundle`, `catalog`, `namespace` and other params are ignored.
//! - Any other resolver (`git`, `http`, ...) fetches from the network, which runnel does not
//!   do: the reference resolves only if it also has a `name` param, and otherwise fails with
//!   [`ResolveError::Remote`].
//!
//! Tasks and ClusterTasks share one set of names: without a cluster, a ClusterTask is just a
//! Task that came from elsewhere, so `kind: ClusterTask` finds Tasks and `kind: Task` finds
//! ClusterTasks. The loader does not read ClusterTask documents (it reports them as an
//! unknown kind); the catalog reads `tekton.dev/v1beta1` ClusterTasks itself, as Tasks.
//!
//! Every spec returned is in its tekton.dev/v1 shape (the loader converts v1beta1).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Code, Diagnostics, did_you_mean};
use crate::load::{self, LoadError, Loaded};
use crate::model::pipeline::PipelineRef;
use crate::model::step::StepRef;
use crate::model::{
    self, ApiVersion, Kind, ParamValue, PipelineSpec, Resource, StepActionSpec, Task, TaskSpec,
};
use crate::model::{Param, TaskRef};
use crate::source::{FileId, SourceMap, Span};
use crate::validate::structure;
use crate::yaml::{self, Node};

/// The label holding a catalog resource's version.
pub const VERSION_LABEL: &str = "app.kubernetes.io/version";

/// What a reference asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefKind {
    /// A Task or ClusterTask (`taskRef`).
    Task,
    /// A Pipeline (`pipelineRef`).
    Pipeline,
    /// A StepAction (a step's `ref`).
    StepAction,
}

impl RefKind {
    /// The kind as written in YAML: `Task`, `Pipeline`, `StepAction`.
    pub fn as_str(self) -> &'static str {
        match self {
            RefKind::Task => "Task",
            RefKind::Pipeline => "Pipeline",
            RefKind::StepAction => "StepAction",
        }
    }

    /// "3 tasks", "1 pipeline", "0 step actions".
    fn count(self, n: usize) -> String {
        let noun = match self {
            RefKind::Task => "task",
            RefKind::Pipeline => "pipeline",
            RefKind::StepAction => "step action",
        };
        if n == 1 {
            format!("1 {noun}")
        } else {
            format!("{n} {noun}s")
        }
    }

    /// The values a resolver's `kind` param may take for this kind (compared ignoring case).
    fn resolver_kinds(self) -> &'static [&'static str] {
        match self {
            RefKind::Task => &["task", "clustertask"],
            RefKind::Pipeline => &["pipeline"],
            RefKind::StepAction => &["stepaction"],
        }
    }
}

impl fmt::Display for RefKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a resolved Task was written as a Task or as a (v1beta1) ClusterTask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskKind {
    Task,
    ClusterTask,
}

/// Where a resolved definition came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The place it was found in, as listed in [`ResolveError::NotFound`] (`tasks/`, or the
    /// label given to [`Catalog::add_loaded`]).
    pub place: String,
    /// The catalog directory it came from; `None` for documents given to
    /// [`Catalog::add_loaded`].
    pub dir: Option<PathBuf>,
    /// The file it is written in.
    pub path: PathBuf,
    /// The first line of its document (its span). The spans in a resolved spec, and this one,
    /// point into [`Catalog::sources`] when `dir` is set, and into the source map of the
    /// [`Loaded`] given to [`Catalog::add_loaded`] otherwise.
    pub span: Span,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.span.line)
    }
}

/// The Task a `taskRef` names.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedTask {
    /// `metadata.name`.
    pub name: String,
    /// The `app.kubernetes.io/version` label, if any.
    pub version: Option<String>,
    /// Task or ClusterTask, as written.
    pub kind: TaskKind,
    /// The API version it was written in.
    pub api_version: ApiVersion,
    /// The spec, in its tekton.dev/v1 shape.
    pub spec: TaskSpec,
    /// Where it was found.
    pub origin: Origin,
    /// `metadata.annotations` (a TaskRun of it carries them).
    pub annotations: BTreeMap<String, String>,
}

/// The Pipeline a `pipelineRef` names.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPipeline {
    /// `metadata.name`.
    pub name: String,
    /// The `app.kubernetes.io/version` label, if any.
    pub version: Option<String>,
    /// The API version it was written in.
    pub api_version: ApiVersion,
    /// The spec, in its tekton.dev/v1 shape.
    pub spec: PipelineSpec,
    /// Where it was found.
    pub origin: Origin,
}

/// The StepAction a step's `ref` names.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedStepAction {
    /// `metadata.name`.
    pub name: String,
    /// The `app.kubernetes.io/version` label, if any.
    pub version: Option<String>,
    /// The API version it was written in (StepActions are v1beta1 or v1alpha1, read as v1beta1).
    pub api_version: ApiVersion,
    /// The spec.
    pub spec: StepActionSpec,
    /// Where it was found.
    pub origin: Origin,
}

/// Why a reference could not be resolved, or a catalog directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No place defines the name (and version).
    #[error("{}", not_found_message(*kind, name, version.as_deref(), looked, versions, suggestion.as_deref()))]
    NotFound {
        /// What was looked for.
        kind: RefKind,
        /// The name looked for.
        name: String,
        /// The version asked for, if one was.
        version: Option<String>,
        /// Every place searched, in order, with what it holds: "tasks/ (12 tasks)".
        looked: Vec<String>,
        /// When a version was asked for: the versions of `name` that exist.
        versions: Vec<String>,
        /// "did you mean `git-clone`?", when a defined name is close.
        suggestion: Option<String>,
    },
    /// A `taskRef` to a custom task (an `apiVersion` outside tekton.dev).
    #[error(
        "custom tasks (apiVersion {api_version}, kind {kind}) are not supported by runnel run; only Tasks and ClusterTasks can run locally"
    )]
    CustomTask { api_version: String, kind: String },
    /// A `pipelineRef` with an `apiVersion` outside tekton.dev.
    #[error(
        "a Pipeline reference with apiVersion `{api_version}` is not supported by runnel run; it resolves tekton.dev Pipelines only"
    )]
    UnsupportedApiVersion { api_version: String },
    /// A reference whose `kind` runnel cannot resolve for it (`taskRef` with `kind: Pipeline`).
    #[error("a {expected} reference with kind `{kind}` is not supported by runnel run; use kind {}", expected_kinds(*expected))]
    UnsupportedKind { expected: RefKind, kind: String },
    /// A resolver's `kind` param names another kind than the reference needs.
    #[error(
        "the `{resolver}` resolver's `kind` param is `{kind}`, but this reference needs a {expected}"
    )]
    WrongResolverKind {
        resolver: String,
        kind: String,
        expected: RefKind,
    },
    /// A remote resolver without a `name` param to look up locally.
    #[error("{}", remote_message(*kind, resolver, params, looked))]
    Remote {
        kind: RefKind,
        /// `git`, `http`, ...
        resolver: String,
        /// The resolver's params, as `name: value`.
        params: Vec<String>,
        /// Every place searched, in order.
        looked: Vec<String>,
    },
    /// A reference with neither a name nor a resolver.
    #[error("this {kind} reference has neither `name` nor `resolver`, so it names nothing to run")]
    NoName { kind: RefKind },
    /// A catalog directory that could not be listed (it exists, but reading it failed).
    #[error("cannot use the catalog directory {}: {source}", dir.display())]
    Dir {
        dir: PathBuf,
        #[source]
        source: LoadError,
    },
}

fn expected_kinds(kind: RefKind) -> &'static str {
    match kind {
        RefKind::Task => "Task or ClusterTask",
        RefKind::Pipeline => "Pipeline",
        RefKind::StepAction => "StepAction",
    }
}

fn looked_lines(looked: &[String]) -> String {
    if looked.is_empty() {
        return "\n  nowhere: no files or catalog directories were given".to_owned();
    }
    looked.iter().map(|l| format!("\n  {l}")).collect()
}

fn not_found_message(
    kind: RefKind,
    name: &str,
    version: Option<&str>,
    looked: &[String],
    versions: &[String],
    suggestion: Option<&str>,
) -> String {
    let mut out = match version {
        Some(v) => format!("{kind} `{name}` version {v} not found; looked in:"),
        None => format!("{kind} `{name}` not found; looked in:"),
    };
    out.push_str(&looked_lines(looked));
    if !versions.is_empty() {
        out.push_str(&format!(
            "\nversions of `{name}` found: {}",
            versions.join(", ")
        ));
    }
    if let Some(s) = suggestion {
        out.push('\n');
        out.push_str(s);
    }
    out
}

fn remote_message(kind: RefKind, resolver: &str, params: &[String], looked: &[String]) -> String {
    let what = if params.is_empty() {
        String::new()
    } else {
        format!(" ({})", params.join(", "))
    };
    format!(
        "this {kind} reference uses the `{resolver}` resolver{what}, which fetches from the network; runnel run resolves references only from local files, and the reference has no `name` param to look up there. Looked in:{}\nto run it, save the {kind}'s YAML in one of these places and refer to it by name",
        looked_lines(looked)
    )
}

/// A place searched for definitions.
#[derive(Debug)]
struct Place {
    label: String,
    state: PlaceState,
    entries: Vec<Entry>,
}

#[derive(Debug)]
enum PlaceState {
    /// Documents given to [`Catalog::add_loaded`].
    Given,
    /// A directory read, with how many of its files had errors.
    Dir { files_with_errors: usize },
    /// A directory that does not exist.
    Missing,
    /// A directory that could not be read.
    Unreadable,
}

#[derive(Debug)]
struct Entry {
    name: String,
    version: Option<String>,
    api_version: ApiVersion,
    origin: Origin,
    body: Body,
}

// Entries are few and long-lived, so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Body {
    Task(TaskKind, TaskSpec, BTreeMap<String, String>),
    Pipeline(PipelineSpec),
    StepAction(StepActionSpec),
}

impl Entry {
    fn kind(&self) -> RefKind {
        match self.body {
            Body::Task(..) => RefKind::Task,
            Body::Pipeline(_) => RefKind::Pipeline,
            Body::StepAction(_) => RefKind::StepAction,
        }
    }
}

/// The places references are resolved from, searched in the order they were added.
#[derive(Debug, Default)]
pub struct Catalog {
    places: Vec<Place>,
    /// The documents of every catalog directory.
    loaded: Loaded,
}

impl Catalog {
    /// An empty catalog: every reference fails to resolve until places are added.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// Adds the Tasks, ClusterTasks, Pipelines and StepActions of already loaded documents
    /// (the files the user gave) as the next place searched, listed in errors as `place`
    /// (such as "the given files (pipeline.yaml)"). Their definitions are copied.
    pub fn add_loaded(&mut self, loaded: &Loaded, place: impl Into<String>) {
        let label = place.into();
        let mut entries = entries_of(&loaded.sources, &loaded.resources, &label, None);
        for (id, _) in loaded.sources.files() {
            // The loader has reported these documents as of an unknown kind already.
            let mut ignored = Diagnostics::new();
            for found in cluster_tasks(&loaded.sources, id, &mut ignored) {
                entries.push(found.into_entry(&loaded.sources, &label, None));
            }
        }
        self.places.push(Place {
            label,
            state: PlaceState::Given,
            entries,
        });
    }

    /// Loads every YAML file under `dir` (recursively, as [`load::collect_files`] finds them)
    /// and adds its Tasks, ClusterTasks, Pipelines and StepActions as the next place searched.
    ///
    /// Returns what loading found wrong (and the warnings, such as v1beta1 fields dropped), for
    /// the caller to show: a broken file does not stop the others from being used. Their spans
    /// point into [`Catalog::sources`]. A directory that does not exist is no error: it is
    /// listed as searched, "(does not exist)". A directory that exists but cannot be read is
    /// listed too, and its error returned.
    pub fn add_dir(&mut self, dir: &Path) -> Result<Diagnostics, ResolveError> {
        let label = dir_label(dir);
        let mut place = Place {
            label,
            state: PlaceState::Missing,
            entries: Vec::new(),
        };
        if !dir.exists() {
            self.places.push(place);
            return Ok(Diagnostics::new());
        }
        let files = match load::collect_files(&[dir.to_path_buf()]) {
            Ok(files) => files,
            Err(source) => {
                place.state = PlaceState::Unreadable;
                self.places.push(place);
                return Err(ResolveError::Dir {
                    dir: dir.to_path_buf(),
                    source,
                });
            }
        };
        let diagnostics_before = self.loaded.diagnostics.len();
        let resources_before = self.loaded.resources.len();
        let mut cluster = Vec::new();
        let mut cluster_diags = Diagnostics::new();
        for file in &files {
            let id = self.loaded.add_file(file);
            cluster.extend(cluster_tasks(&self.loaded.sources, id, &mut cluster_diags));
        }
        place.entries = entries_of(
            &self.loaded.sources,
            &self.loaded.resources[resources_before..],
            &place.label,
            Some(dir),
        );
        let kind_spans: Vec<Span> = cluster.iter().map(|c| c.kind_span).collect();
        for found in cluster {
            place
                .entries
                .push(found.into_entry(&self.loaded.sources, &place.label, Some(dir)));
        }

        // The loader's "unknown kind" errors about the ClusterTasks read here no longer hold.
        let all = std::mem::take(&mut self.loaded.diagnostics);
        let mut new = Diagnostics::new();
        for (i, d) in all.into_iter().enumerate() {
            let read_here = d.code == Code::UnknownKind && kind_spans.contains(&d.span);
            if read_here {
                continue;
            }
            if i >= diagnostics_before {
                new.push(d.clone());
            }
            self.loaded.diagnostics.push(d);
        }
        new.extend(cluster_diags.clone());
        self.loaded.diagnostics.extend(cluster_diags);

        let mut bad_files: Vec<FileId> = new
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.span.file)
            .collect();
        bad_files.sort();
        bad_files.dedup();
        place.state = PlaceState::Dir {
            files_with_errors: bad_files.len(),
        };
        self.places.push(place);
        Ok(new)
    }

    /// The files read from catalog directories, which the spans of their definitions and of
    /// the diagnostics [`Catalog::add_dir`] returns point into.
    pub fn sources(&self) -> &SourceMap {
        &self.loaded.sources
    }

    /// Everything read from catalog directories: sources, resources and diagnostics (without
    /// the ClusterTasks, which the loader does not read).
    pub fn loaded(&self) -> &Loaded {
        &self.loaded
    }

    /// The places searched for `kind`, in order, as error messages list them:
    /// "the given files (pipeline.yaml)", "tasks/ (12 tasks)", ".tekton/ (does not exist)".
    pub fn places(&self, kind: RefKind) -> Vec<String> {
        self.places
            .iter()
            .map(|p| {
                let count = || kind.count(p.entries.iter().filter(|e| e.kind() == kind).count());
                match p.state {
                    PlaceState::Given => p.label.clone(),
                    PlaceState::Missing => format!("{} (does not exist)", p.label),
                    PlaceState::Unreadable => format!("{} (cannot be read)", p.label),
                    PlaceState::Dir {
                        files_with_errors: 0,
                    } => format!("{} ({})", p.label, count()),
                    PlaceState::Dir {
                        files_with_errors: 1,
                    } => format!("{} ({}; 1 file with errors)", p.label, count()),
                    PlaceState::Dir { files_with_errors } => {
                        format!(
                            "{} ({}; {files_with_errors} files with errors)",
                            p.label,
                            count()
                        )
                    }
                }
            })
            .collect()
    }

    /// The Task (or ClusterTask) a `taskRef` names: by `name` (or `name@version`), or by the
    /// `name` and `version` params of a `hub`, `bundles` or `cluster` resolver, which the
    /// catalog stands in for locally (see the module documentation). Custom tasks and remote
    /// resolvers without a `name` param are errors.
    pub fn task(&self, r: &TaskRef) -> Result<ResolvedTask, ResolveError> {
        let kind = r.kind.as_ref().map(|k| k.as_str());
        if let Some(api) = &r.api_version
            && !api.as_str().starts_with("tekton.dev/")
        {
            return Err(ResolveError::CustomTask {
                api_version: api.value.clone(),
                kind: kind.unwrap_or("(none)").to_owned(),
            });
        }
        if let Some(k) = kind
            && k != "Task"
            && k != "ClusterTask"
        {
            return Err(ResolveError::UnsupportedKind {
                expected: RefKind::Task,
                kind: k.to_owned(),
            });
        }
        let (name, version) = self.query(
            RefKind::Task,
            r.name.as_ref().map(|n| n.as_str()),
            r.resolver.as_ref().map(|n| n.as_str()),
            &r.params,
        )?;
        let entry = self.find(RefKind::Task, &name, version.as_deref())?;
        match &entry.body {
            Body::Task(kind, spec, annotations) => Ok(ResolvedTask {
                name: entry.name.clone(),
                version: entry.version.clone(),
                kind: *kind,
                api_version: entry.api_version,
                spec: spec.clone(),
                origin: entry.origin.clone(),
                annotations: annotations.clone(),
            }),
            _ => Err(self.not_found(RefKind::Task, &name, version.as_deref())),
        }
    }

    /// The Pipeline a `pipelineRef` names, found the way [`Catalog::task`] finds Tasks.
    pub fn pipeline(&self, r: &PipelineRef) -> Result<ResolvedPipeline, ResolveError> {
        if let Some(api) = &r.api_version
            && !api.as_str().starts_with("tekton.dev/")
        {
            return Err(ResolveError::UnsupportedApiVersion {
                api_version: api.value.clone(),
            });
        }
        let (name, version) = self.query(
            RefKind::Pipeline,
            r.name.as_ref().map(|n| n.as_str()),
            r.resolver.as_ref().map(|n| n.as_str()),
            &r.params,
        )?;
        let entry = self.find(RefKind::Pipeline, &name, version.as_deref())?;
        match &entry.body {
            Body::Pipeline(spec) => Ok(ResolvedPipeline {
                name: entry.name.clone(),
                version: entry.version.clone(),
                api_version: entry.api_version,
                spec: spec.clone(),
                origin: entry.origin.clone(),
            }),
            _ => Err(self.not_found(RefKind::Pipeline, &name, version.as_deref())),
        }
    }

    /// The StepAction named `name` (or `name@version`).
    pub fn step_action(&self, name: &str) -> Result<ResolvedStepAction, ResolveError> {
        let (name, version) = split_name(name);
        self.step_action_query(name, version)
    }

    /// The StepAction a step's `ref` names: by name, or through a resolver's `name` param,
    /// as for [`Catalog::task`].
    pub fn step_ref(&self, r: &StepRef) -> Result<ResolvedStepAction, ResolveError> {
        let (name, version) = self.query(
            RefKind::StepAction,
            r.name.as_ref().map(|n| n.as_str()),
            r.resolver.as_ref().map(|n| n.as_str()),
            &r.params,
        )?;
        self.step_action_query(&name, version.as_deref())
    }

    fn step_action_query(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<ResolvedStepAction, ResolveError> {
        let entry = self.find(RefKind::StepAction, name, version)?;
        match &entry.body {
            Body::StepAction(spec) => Ok(ResolvedStepAction {
                name: entry.name.clone(),
                version: entry.version.clone(),
                api_version: entry.api_version,
                spec: spec.clone(),
                origin: entry.origin.clone(),
            }),
            _ => Err(self.not_found(RefKind::StepAction, name, version)),
        }
    }

    /// The name and version a reference asks for.
    fn query(
        &self,
        kind: RefKind,
        name: Option<&str>,
        resolver: Option<&str>,
        params: &[Param],
    ) -> Result<(String, Option<String>), ResolveError> {
        let Some(resolver) = resolver else {
            let Some(name) = name else {
                return Err(ResolveError::NoName { kind });
            };
            let (name, version) = split_name(name);
            return Ok((name.to_owned(), version.map(str::to_owned)));
        };
        let param = |key: &str| {
            params
                .iter()
                .find(|p| p.name.as_str() == key)
                .map(|p| p.value.value.clone())
        };
        let string = |key: &str| match param(key) {
            Some(ParamValue::String(s)) => Some(s),
            _ => None,
        };
        if let Some(k) = string("kind")
            && !kind
                .resolver_kinds()
                .iter()
                .any(|allowed| k.eq_ignore_ascii_case(allowed))
        {
            return Err(ResolveError::WrongResolverKind {
                resolver: resolver.to_owned(),
                kind: k,
                expected: kind,
            });
        }
        let Some(name) = string("name") else {
            return Err(ResolveError::Remote {
                kind,
                resolver: resolver.to_owned(),
                params: params
                    .iter()
                    .map(|p| format!("{}: {}", p.name.as_str(), show_value(&p.value.value)))
                    .collect(),
                looked: self.places(kind),
            });
        };
        let (name, at_version) = split_name(&name);
        let version = string("version")
            .filter(|v| !v.is_empty())
            .or(at_version.map(str::to_owned));
        Ok((name.to_owned(), version))
    }

    /// The definition of `kind` named `name` (and `version`), by the catalog's rules.
    fn find(
        &self,
        kind: RefKind,
        name: &str,
        version: Option<&str>,
    ) -> Result<&Entry, ResolveError> {
        for place in &self.places {
            let mut best: Option<&Entry> = None;
            for entry in place
                .entries
                .iter()
                .filter(|e| e.kind() == kind && e.name == name)
            {
                match version {
                    Some(v) if entry.version.as_deref() == Some(v) => return Ok(entry),
                    Some(_) => {}
                    None => {
                        let higher = best.is_none_or(|b| {
                            compare_versions(entry.version.as_deref(), b.version.as_deref())
                                == Ordering::Greater
                        });
                        if higher {
                            best = Some(entry);
                        }
                    }
                }
            }
            if let Some(best) = best {
                return Ok(best);
            }
        }
        Err(self.not_found(kind, name, version))
    }

    fn not_found(&self, kind: RefKind, name: &str, version: Option<&str>) -> ResolveError {
        let entries = || {
            self.places
                .iter()
                .flat_map(|p| &p.entries)
                .filter(move |e| e.kind() == kind)
        };
        let mut versions: Vec<String> = Vec::new();
        if version.is_some() {
            let mut found: Vec<Option<&str>> = entries()
                .filter(|e| e.name == name)
                .map(|e| e.version.as_deref())
                .collect();
            found.sort_by(|a, b| compare_versions(*a, *b));
            found.dedup();
            versions = found
                .into_iter()
                .map(|v| v.map_or_else(|| "(no version label)".to_owned(), str::to_owned))
                .collect();
        }
        let suggestion = if versions.is_empty() {
            let mut names: Vec<&str> = entries()
                .map(|e| e.name.as_str())
                .filter(|n| *n != name)
                .collect();
            names.sort_unstable();
            names.dedup();
            did_you_mean(name, names)
        } else {
            None
        };
        ResolveError::NotFound {
            kind,
            name: name.to_owned(),
            version: version.map(str::to_owned),
            looked: self.places(kind),
            versions,
            suggestion,
        }
    }
}

/// `tasks/` for `tasks`; a path to a file stays as it is.
fn dir_label(dir: &Path) -> String {
    let shown = dir.display().to_string();
    if dir.is_file() || shown.ends_with('/') {
        shown
    } else {
        format!("{shown}/")
    }
}

/// `git-clone@0.9` → (`git-clone`, `0.9`). Kubernetes names cannot contain `@`.
fn split_name(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((name, version)) if !version.is_empty() => (name, Some(version)),
        Some((name, _)) => (name, None),
        None => (name, None),
    }
}

fn show_value(value: &ParamValue) -> String {
    match value {
        ParamValue::String(s) => s.clone(),
        ParamValue::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ParamValue::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Orders versions: dot-separated components compared as numbers when both are numbers and as
/// text otherwise (a leading `v` ignored), more components after equal ones higher
/// (`0.9 < 0.9.1 < 0.10`), and a missing version lowest.
fn compare_versions(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => {
            let trim = |v: &'_ str| -> String { v.strip_prefix('v').unwrap_or(v).to_owned() };
            let (a, b) = (trim(a), trim(b));
            let mut left = a.split('.');
            let mut right = b.split('.');
            loop {
                match (left.next(), right.next()) {
                    (None, None) => return a.cmp(&b),
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some(x), Some(y)) => {
                        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            _ => x.cmp(y),
                        };
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                }
            }
        }
    }
}

/// The catalog entries of loaded resources.
fn entries_of(
    sources: &SourceMap,
    resources: &[load::LoadedResource],
    label: &str,
    dir: Option<&Path>,
) -> Vec<Entry> {
    let mut out = Vec::new();
    for r in resources {
        let body = match &r.resource {
            Resource::Task(t) => Body::Task(
                TaskKind::Task,
                t.spec.clone(),
                t.metadata.annotations.clone(),
            ),
            Resource::Pipeline(p) => Body::Pipeline(p.spec.clone()),
            Resource::StepAction(s) => Body::StepAction(s.spec.clone()),
            _ => continue,
        };
        let Some(name) = r.resource.name() else {
            continue;
        };
        out.push(Entry {
            name: name.value.clone(),
            version: r.resource.metadata().labels.get(VERSION_LABEL).cloned(),
            api_version: r.api_version,
            origin: origin(sources, r.span, label, dir),
            body,
        });
    }
    out
}

fn origin(sources: &SourceMap, span: Span, label: &str, dir: Option<&Path>) -> Origin {
    Origin {
        place: label.to_owned(),
        dir: dir.map(Path::to_path_buf),
        path: sources.path(span.file).to_path_buf(),
        span,
    }
}

/// A ClusterTask document read as a Task.
#[derive(Debug)]
struct ClusterTask {
    task: Task,
    /// The document's first line.
    span: Span,
    /// The value of its `kind`, where the loader reports the unknown kind.
    kind_span: Span,
}

impl ClusterTask {
    fn into_entry(self, sources: &SourceMap, label: &str, dir: Option<&Path>) -> Entry {
        let name = self
            .task
            .metadata
            .name
            .as_ref()
            .map_or_else(String::new, |n| n.value.clone());
        Entry {
            name,
            version: self.task.metadata.labels.get(VERSION_LABEL).cloned(),
            api_version: ApiVersion::V1beta1,
            origin: origin(sources, self.span, label, dir),
            body: Body::Task(
                TaskKind::ClusterTask,
                self.task.spec,
                self.task.metadata.annotations,
            ),
        }
    }
}

/// The tekton.dev/v1beta1 ClusterTask documents of a file (with a name), read as Tasks and
/// converted to v1; what is wrong with them goes to `diags`. Tekton's ClusterTask has exactly
/// the Task's fields, so it is checked against the Task schema (apart from `kind`).
fn cluster_tasks(sources: &SourceMap, id: FileId, diags: &mut Diagnostics) -> Vec<ClusterTask> {
    let file = sources.get(id);
    if !file.text.contains("ClusterTask") {
        return Vec::new();
    }
    // The loader has reported syntax errors already.
    let (docs, _) = yaml::parse(file, id);
    let mut out = Vec::new();
    for doc in docs {
        let root = &doc.root;
        let field = |name: &str| root.get(name).and_then(Node::as_str);
        if field("kind") != Some("ClusterTask") || field("apiVersion") != Some("tekton.dev/v1beta1")
        {
            continue;
        }
        let head = structure::first_line(root.span, Some(file.slice(root.span)));
        let kind_span = root.entry("kind").map_or(head, |(_, v)| v.span);
        let mut found = Diagnostics::new();
        structure::check(
            crate::schema::for_kind(ApiVersion::V1beta1, Kind::Task),
            root,
            head,
            &file.text,
            &mut found,
        );
        let mut structural_errors = false;
        for d in found {
            if d.span != kind_span {
                structural_errors |= d.is_error();
                diags.push(d);
            }
        }
        match Resource::from_node(Kind::Task, root) {
            Ok(mut resource) => {
                model::convert::to_v1(&mut resource, diags);
                if let Resource::Task(task) = resource
                    && task.metadata.name.is_some()
                {
                    out.push(ClusterTask {
                        task,
                        span: head,
                        kind_span,
                    });
                }
            }
            Err(_) if structural_errors => {}
            Err(e) => {
                diags
                    .error(Code::WrongType, e.span.unwrap_or(head), e.message)
                    .label("cannot read this value");
            }
        }
    }
    out
}
