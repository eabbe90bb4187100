//! From loaded documents to runs: which documents run (every PipelineRun and TaskRun in the
//! files; else the one Pipeline; else the one Task), their names, their params with
//! defaults and `-p` overrides, their workspaces on the host, every `taskRef` resolved.
//! A problem found here does not abort: the run is still made, as a [`Refusal`] that the
//! engine records as Failed with Tekton's reason (`ParameterMissing`, `CouldntGetTask`,
//! `InvalidWorkspaceBindings`, ...).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;

use super::EngineConfig;
use super::pipeline::{PipelinePlan, ResolvedTask, Timeouts, WorkspaceSource, make_dir};
use super::scope::{to_json, value_of};
use super::taskrun::{BoundWorkspace, StepActions, TaskInstance};
use super::volumes;
use crate::load::Loaded;
use crate::model::param::{ParamSpec, ParamType};
use crate::model::pipeline::PipelineSpec;
use crate::model::run::PipelineRunSpec;
use crate::model::task::TaskSpec;
use crate::model::workspace::WorkspaceBinding;
use crate::model::{ObjectMeta, Resource};
use crate::resolve::Catalog;
use crate::store::RunKind;
use crate::subst::Value;

/// What the user asked for on top of the documents.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `-p NAME=VALUE`: an array param takes comma-separated items, an object param
    /// `key:value` pairs separated by commas (as `tkn` reads them).
    pub params: Vec<(String, String)>,
    /// `-w NAME=PATH`: a host directory for a workspace, whatever the run binds.
    pub workspaces: Vec<(String, PathBuf)>,
    /// Which Pipeline (or Task) to run when the files hold several and no run.
    pub target: Option<String>,
    /// The id to give the run (the server's queued run), for files that hold one run;
    /// otherwise each run gets a new id.
    pub run_id: Option<Uuid>,
    /// The name to give the run (the server's queued run's), instead of the document's
    /// name or one generated.
    pub run_name: Option<String>,
}

/// A run that cannot start, and Tekton's reason for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

/// What a prepared run executes.
#[derive(Debug, Clone)]
pub enum Body {
    Pipeline(Box<PipelinePlan>),
    Task(Box<TaskInstance>),
}

/// A run, ready for [`super::Engine::execute`].
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: Uuid,
    pub name: String,
    pub kind: RunKind,
    /// The Pipeline's or Task's name.
    pub target: String,
    pub params: serde_json::Value,
    pub body: Result<Body, Refusal>,
}

/// Why nothing could be prepared at all.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PrepareError {
    #[error("nothing to run: the files hold no PipelineRun, TaskRun, Pipeline or Task")]
    NothingToRun,
    #[error("the files hold several {kind}s ({}); choose one with --target NAME", names.join(", "))]
    Ambiguous {
        kind: &'static str,
        names: Vec<String>,
    },
    #[error("no {kind} named `{name}` in the files (there are: {})", available.join(", "))]
    NoSuchTarget {
        kind: &'static str,
        name: String,
        available: Vec<String>,
    },
}

fn random_suffix() -> String {
    // Five characters of [a-z0-9], like Kubernetes' generateName.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    // The low bits of a v7 uuid are random.
    let bits = Uuid::now_v7().as_u128();
    (0..5)
        .map(|i| ALPHABET[((bits >> (i * 8)) % ALPHABET.len() as u128) as usize] as char)
        .collect()
}

fn run_name(meta: &ObjectMeta, fallback: &str) -> String {
    if let Some(n) = &meta.name
        && !n.is_empty()
    {
        return n.value.clone();
    }
    if let Some(g) = &meta.generate_name
        && !g.is_empty()
    {
        return format!("{}{}", g.value, random_suffix());
    }
    format!("{fallback}-run-{}", random_suffix())
}

fn name_of(meta: &ObjectMeta) -> String {
    meta.name
        .as_ref()
        .map_or_else(String::new, |n| n.value.clone())
}

/// Prepares every run the documents describe.
pub fn prepare(
    loaded: &Loaded,
    catalog: &Catalog,
    opts: &RunOptions,
    config: &EngineConfig,
) -> Result<Vec<Prepared>, PrepareError> {
    let mut out = Vec::new();
    for r in &loaded.resources {
        match &r.resource {
            Resource::PipelineRun(pr) => {
                out.push(prepare_pipeline_run(
                    loaded,
                    catalog,
                    opts,
                    config,
                    opts.run_name
                        .clone()
                        .unwrap_or_else(|| run_name(&pr.metadata, "pipeline")),
                    &pr.spec,
                    None,
                ));
            }
            Resource::TaskRun(tr) => {
                let name = opts
                    .run_name
                    .clone()
                    .unwrap_or_else(|| run_name(&tr.metadata, "task"));
                let id = opts.run_id.unwrap_or_else(Uuid::now_v7);
                // A TaskRun carries its Task's annotations and its own.
                let mut annotations = BTreeMap::new();
                let (target, spec, embedded) = match (&tr.spec.task_ref, &tr.spec.task_spec) {
                    (Some(r), _) => match catalog.task(r) {
                        Ok(t) => {
                            annotations.clone_from(&t.annotations);
                            (t.name.clone(), Ok(t.spec.clone()), false)
                        }
                        Err(e) => (
                            r.name
                                .as_ref()
                                .map_or_else(String::new, |n| n.value.clone()),
                            Err(Refusal {
                                reason: "CouldntGetTask",
                                message: e.to_string(),
                            }),
                            false,
                        ),
                    },
                    (None, Some(s)) => (String::new(), Ok(s.value.clone()), true),
                    (None, None) => (
                        String::new(),
                        Err(Refusal {
                            reason: "TaskRunValidationFailed",
                            message: "the TaskRun has neither taskRef nor taskSpec".to_owned(),
                        }),
                        false,
                    ),
                };
                let given: Vec<(String, Value)> = tr
                    .spec
                    .params
                    .iter()
                    .map(|p| (p.name.value.clone(), value_of(&p.value)))
                    .collect();
                let timeout =
                    timeout_or(tr.spec.timeout.as_ref().map(|t| t.value.as_str()), config);
                let retries = tr
                    .spec
                    .retries
                    .as_ref()
                    .map_or(0, |r| r.value.max(0) as u32);
                let body = spec.and_then(|mut spec| {
                    // The pod template's volumes are the pod's: the steps may mount them.
                    if let Some(pod) = &tr.spec.pod_template {
                        let own: Vec<String> =
                            spec.volumes.iter().map(|v| v.name.value.clone()).collect();
                        spec.volumes.extend(
                            pod.volumes
                                .iter()
                                .filter(|v| !own.contains(&v.name.value))
                                .cloned(),
                        );
                    }
                    annotations.extend(tr.metadata.annotations.clone());
                    task_body(
                        id,
                        &name,
                        (!target.is_empty()).then(|| target.clone()),
                        annotations,
                        spec,
                        embedded,
                        given,
                        Some(&tr.spec.workspaces),
                        loaded,
                        catalog,
                        opts,
                        config,
                        timeout?,
                        retries,
                    )
                });
                out.push(Prepared {
                    id,
                    params: params_json(&body),
                    name,
                    kind: RunKind::TaskRun,
                    target,
                    body,
                });
            }
            _ => {}
        }
    }
    if !out.is_empty() {
        return Ok(out);
    }
    let pipelines: Vec<(&ObjectMeta, &PipelineSpec)> = loaded
        .resources
        .iter()
        .filter_map(|r| match &r.resource {
            Resource::Pipeline(p) => Some((&p.metadata, &p.spec)),
            _ => None,
        })
        .collect();
    let tasks: Vec<(&ObjectMeta, &TaskSpec)> = loaded
        .resources
        .iter()
        .filter_map(|r| match &r.resource {
            Resource::Task(t) => Some((&t.metadata, &t.spec)),
            _ => None,
        })
        .collect();
    if !pipelines.is_empty() {
        let (meta, spec) = choose("Pipeline", &pipelines, opts)?;
        let name = name_of(meta);
        let mut p = prepare_pipeline_run(
            loaded,
            catalog,
            opts,
            config,
            opts.run_name
                .clone()
                .unwrap_or_else(|| format!("{name}-run-{}", random_suffix())),
            &PipelineRunSpec::default(),
            Some(spec),
        );
        p.target = name.clone();
        if let Ok(Body::Pipeline(plan)) = &mut p.body {
            plan.pipeline_name = name;
        }
        return Ok(vec![p]);
    }
    if !tasks.is_empty() {
        let (meta, spec) = choose("Task", &tasks, opts)?;
        let target = name_of(meta);
        let name = opts
            .run_name
            .clone()
            .unwrap_or_else(|| format!("{target}-run-{}", random_suffix()));
        let id = opts.run_id.unwrap_or_else(Uuid::now_v7);
        let body = timeout_or(None, config).and_then(|timeout| {
            task_body(
                id,
                &name,
                Some(target.clone()),
                meta.annotations.clone(),
                spec.clone(),
                false,
                Vec::new(),
                None,
                loaded,
                catalog,
                opts,
                config,
                timeout,
                0,
            )
        });
        return Ok(vec![Prepared {
            id,
            params: params_json(&body),
            name,
            kind: RunKind::TaskRun,
            target,
            body,
        }]);
    }
    Err(PrepareError::NothingToRun)
}

fn choose<'a, T>(
    kind: &'static str,
    found: &[(&'a ObjectMeta, &'a T)],
    opts: &RunOptions,
) -> Result<(&'a ObjectMeta, &'a T), PrepareError> {
    let names: Vec<String> = found.iter().map(|(m, _)| name_of(m)).collect();
    match &opts.target {
        Some(want) => found
            .iter()
            .find(|(m, _)| name_of(m) == *want)
            .copied()
            .ok_or_else(|| PrepareError::NoSuchTarget {
                kind,
                name: want.clone(),
                available: names,
            }),
        None if found.len() == 1 => Ok(found[0]),
        None => Err(PrepareError::Ambiguous { kind, names }),
    }
}

fn params_json(body: &Result<Body, Refusal>) -> serde_json::Value {
    let pairs: Vec<(String, serde_json::Value)> = match body {
        Ok(Body::Pipeline(p)) => p
            .params
            .iter()
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect(),
        Ok(Body::Task(t)) => t
            .params
            .iter()
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect(),
        Err(_) => Vec::new(),
    };
    serde_json::Value::Object(pairs.into_iter().collect())
}

fn timeout_or(
    text: Option<&str>,
    config: &EngineConfig,
) -> Result<Option<std::time::Duration>, Refusal> {
    match text {
        None => Ok(config.default_timeout),
        Some(t) => match crate::duration::parse(t) {
            Ok(d) if d.is_zero() => Ok(None),
            Ok(d) => Ok(Some(d)),
            Err(e) => Err(Refusal {
                reason: "InvalidTimeout",
                message: format!("timeout `{t}`: {e}"),
            }),
        },
    }
}

/// A `-p` value read by the declared type.
fn cli_value(spec: Option<&ParamSpec>, text: &str) -> Value {
    match spec.map(ParamSpec::effective_type) {
        Some(ParamType::Array) => Value::Array(if text.is_empty() {
            Vec::new()
        } else {
            text.split(',').map(str::to_owned).collect()
        }),
        Some(ParamType::Object) => Value::Object(
            text.split(',')
                .filter_map(|kv| kv.split_once(':'))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ),
        _ => Value::String(text.to_owned()),
    }
}

/// Binds declared params: given values (then `-p`), then defaults. Missing required params
/// are a `ParameterMissing` refusal.
fn bind_params(
    specs: &[ParamSpec],
    given: Vec<(String, Value)>,
    opts: &RunOptions,
    what: &str,
) -> Result<Vec<(String, Value)>, Refusal> {
    let mut values: BTreeMap<String, Value> = given.into_iter().collect();
    for (k, v) in &opts.params {
        let spec = specs.iter().find(|s| s.name.as_str() == k);
        values.insert(k.clone(), cli_value(spec, v));
    }
    let mut missing = Vec::new();
    let mut out = Vec::new();
    for spec in specs {
        let name = spec.name.as_str();
        match (values.remove(name), &spec.default) {
            (Some(v), _) => out.push((name.to_owned(), v)),
            (None, Some(d)) => out.push((name.to_owned(), value_of(&d.value))),
            (None, None) => missing.push(name.to_owned()),
        }
    }
    if !missing.is_empty() {
        return Err(Refusal {
            reason: "ParameterMissing",
            message: format!(
                "{what} is missing values for params: {} (give them with -p NAME=VALUE)",
                missing.join(", ")
            ),
        });
    }
    // Values for undeclared params are kept: Tekton propagates them to embedded specs.
    out.extend(values);
    Ok(out)
}

fn cli_workspace(opts: &RunOptions, name: &str) -> Option<PathBuf> {
    opts.workspaces
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, p)| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
}

/// Writes a ConfigMap's or Secret's keys as files, as Kubernetes mounts them.
fn materialize(
    loaded: &Loaded,
    binding: &WorkspaceBinding,
    dir: &Path,
) -> Result<Option<()>, Refusal> {
    let write = |files: Vec<(&str, &[u8])>| -> Result<Option<()>, Refusal> {
        volumes::write_files(dir, files).map_err(|message| Refusal {
            reason: "InvalidWorkspaceBindings",
            message,
        })?;
        Ok(Some(()))
    };
    let missing = |what: &str, name: &str, verb: &str| Refusal {
        reason: "InvalidWorkspaceBindings",
        message: format!(
            "workspace `{}` {verb} {what} `{name}`, which is not in the files",
            binding.name.value
        ),
    };
    let name_of_source = |n: &Option<crate::Spanned<String>>| {
        n.as_ref().map(|n| n.value.clone()).unwrap_or_default()
    };
    let kind = |config_map: bool| if config_map { "ConfigMap" } else { "Secret" };
    if let Some(projected) = &binding.projected {
        let mut all = Vec::new();
        for source in &projected.sources {
            let (config_map, obj) = match (&source.config_map, &source.secret) {
                (Some(o), _) => (true, o),
                (None, Some(o)) => (false, o),
                _ => continue,
            };
            let name = name_of_source(&obj.name);
            let keys = volumes::keys_in(loaded, config_map, &name)
                .ok_or_else(|| missing(kind(config_map), &name, "projects"))?;
            all.push((keys, &obj.items));
        }
        return write(
            all.iter()
                .flat_map(|(keys, items)| volumes::select(keys, items))
                .collect(),
        );
    }
    let single = match (&binding.config_map, &binding.secret) {
        (Some(cm), _) => Some((true, name_of_source(&cm.name), &cm.items)),
        (None, Some(s)) => Some((false, name_of_source(&s.secret_name), &s.items)),
        _ => None,
    };
    if let Some((config_map, name, items)) = single {
        let keys = volumes::keys_in(loaded, config_map, &name)
            .ok_or_else(|| missing(kind(config_map), &name, "binds"))?;
        return write(volumes::select(&keys, items));
    }
    Ok(None)
}

/// The value of a ConfigMap's or Secret's key among the documents.
fn key_value(loaded: &Loaded, config_map: bool, name: &str, key: &str) -> Option<String> {
    let (_, data) = volumes::keys_in(loaded, config_map, name)?
        .into_iter()
        .find(|(k, _)| k == key)?;
    String::from_utf8(data).ok()
}

/// Resolves `env[].valueFrom` with `configMapKeyRef`/`secretKeyRef` from the ConfigMaps and
/// Secrets in the files, as the kubelet would; other sources are left for the TaskRun to
/// report.
fn resolve_env(spec: &mut TaskSpec, loaded: &Loaded) {
    let fix = |env: &mut Vec<crate::model::k8s::EnvVar>| {
        for e in env.iter_mut() {
            let Some(from) = &e.value_from else { continue };
            let found = match (&from.config_map_key_ref, &from.secret_key_ref) {
                (Some(k), _) => k
                    .name
                    .as_ref()
                    .and_then(|n| key_value(loaded, true, n, &k.key)),
                (None, Some(k)) => k
                    .name
                    .as_ref()
                    .and_then(|n| key_value(loaded, false, n, &k.key)),
                _ => None,
            };
            if let Some(v) = found {
                e.value = Some(crate::Spanned::new(e.name.span, v));
                e.value_from = None;
            }
        }
    };
    for step in spec.steps.iter_mut() {
        fix(&mut step.value.env);
    }
    for sidecar in spec.sidecars.iter_mut() {
        fix(&mut sidecar.value.env);
    }
    if let Some(t) = spec.step_template.as_mut() {
        fix(&mut t.env);
    }
}

/// The StepActions the steps of `spec` reference, resolved from the catalog.
fn resolve_step_actions(spec: &TaskSpec, catalog: &Catalog) -> Result<StepActions, Refusal> {
    let mut out = HashMap::new();
    for (i, step) in spec.steps.iter().enumerate() {
        if let Some(r) = &step.r#ref {
            let found = catalog.step_ref(r).map_err(|e| Refusal {
                reason: "CouldntGetTask",
                message: format!("step {}: {e}", i + 1),
            })?;
            out.insert(i, Arc::new(found.spec));
        }
    }
    Ok(Arc::new(out))
}

fn workspace_refusal(message: String) -> Refusal {
    Refusal {
        reason: "InvalidWorkspaceBindings",
        message,
    }
}

/// [`WorkspaceSource::host_dir`], refused as Tekton refuses bad bindings.
fn host_dir(host: PathBuf, name: &str) -> Result<WorkspaceSource, Refusal> {
    WorkspaceSource::host_dir(host, name).map_err(workspace_refusal)
}

/// Where a workspace binding lives on the host.
fn source_of(
    loaded: &Loaded,
    binding: &WorkspaceBinding,
    run_dir: &Path,
    config: &EngineConfig,
) -> Result<WorkspaceSource, Refusal> {
    let name = binding.name.value.clone();
    let sub = |host: PathBuf| match &binding.sub_path {
        Some(s) if !s.is_empty() => host.join(&s.value),
        _ => host,
    };
    if binding.empty_dir.is_some() {
        return Ok(WorkspaceSource::EmptyDir);
    }
    if let Some(pvc) = &binding.persistent_volume_claim {
        let claim = pvc.claim_name.value.clone();
        let host = sub(config.volumes_dir.join(&claim));
        make_dir(&host).map_err(workspace_refusal)?;
        return Ok(WorkspaceSource::Dir {
            host,
            claim,
            volume: format!("ws-{name}"),
        });
    }
    let dir = run_dir.join("workspaces").join(&name);
    if materialize(loaded, binding, &dir)?.is_some() {
        return Ok(WorkspaceSource::Dir {
            host: sub(dir),
            claim: String::new(),
            volume: format!("ws-{name}"),
        });
    }
    // volumeClaimTemplate, projected, csi and anything else: a fresh directory per run.
    let host = sub(dir);
    make_dir(&host).map_err(workspace_refusal)?;
    let claim = if binding.volume_claim_template.is_some() {
        format!("pvc-{}", random_suffix())
    } else {
        String::new()
    };
    Ok(WorkspaceSource::Dir {
        host,
        claim,
        volume: format!("ws-{name}"),
    })
}

fn prepare_pipeline_run(
    loaded: &Loaded,
    catalog: &Catalog,
    opts: &RunOptions,
    config: &EngineConfig,
    name: String,
    pr: &PipelineRunSpec,
    // The Pipeline of a bare Pipeline run from the CLI (no PipelineRun document).
    bare_spec: Option<&PipelineSpec>,
) -> Prepared {
    let bare = bare_spec.is_some();
    let id = opts.run_id.unwrap_or_else(Uuid::now_v7);
    let mut target = String::new();
    let body = (|| -> Result<Body, Refusal> {
        let (pipeline_name, mut spec) = match (&pr.pipeline_ref, &pr.pipeline_spec) {
            _ if bare_spec.is_some() => (name.clone(), bare_spec.cloned().unwrap_or_default()),
            (Some(r), _) => {
                target = r
                    .name
                    .as_ref()
                    .map_or_else(String::new, |n| n.value.clone());
                let p = catalog.pipeline(r).map_err(|e| Refusal {
                    reason: "CouldntGetPipeline",
                    message: e.to_string(),
                })?;
                (p.name, p.spec)
            }
            (None, Some(s)) => (name.clone(), s.value.clone()),
            (None, None) => {
                return Err(Refusal {
                    reason: "PipelineRunValidationFailed",
                    message: "the PipelineRun has neither pipelineRef nor pipelineSpec".to_owned(),
                });
            }
        };
        let given = pr
            .params
            .iter()
            .map(|p| (p.name.value.clone(), value_of(&p.value)))
            .collect();
        let params = bind_params(
            &spec.params,
            given,
            opts,
            &format!("PipelineRun \"{name}\""),
        )?;
        let mut tasks = HashMap::new();
        // Tasks referenced by several pipeline tasks are resolved (and held) once.
        let mut by_ref: HashMap<String, Arc<TaskSpec>> = HashMap::new();
        for t in spec.tasks.iter_mut().chain(spec.finally.iter_mut()) {
            let embedded = t.task_spec.take();
            let resolved = match (t.task_ref.as_ref(), embedded) {
                (Some(r), _) => {
                    let found = catalog.task(r).map_err(|e| Refusal {
                        reason: "CouldntGetTask",
                        message: format!("pipeline task `{}`: {e}", t.name.value),
                    })?;
                    let key = format!(
                        "{}@{}",
                        found.name,
                        found.version.clone().unwrap_or_default()
                    );
                    let spec = by_ref
                        .entry(key)
                        .or_insert_with(|| {
                            let mut spec = found.spec;
                            resolve_env(&mut spec, loaded);
                            Arc::new(spec)
                        })
                        .clone();
                    ResolvedTask {
                        step_actions: resolve_step_actions(&spec, catalog)?,
                        spec,
                        name: Some(found.name),
                        embedded: false,
                        annotations: found.annotations,
                    }
                }
                // The embedded spec moves out of the pipeline task: it is needed only here.
                (None, Some(s)) if !s.is_custom() => {
                    let annotations = s
                        .value
                        .metadata
                        .as_ref()
                        .map(|m| m.annotations.clone())
                        .unwrap_or_default();
                    let mut spec = s.value.into_task_spec();
                    resolve_env(&mut spec, loaded);
                    ResolvedTask {
                        step_actions: resolve_step_actions(&spec, catalog)?,
                        spec: Arc::new(spec),
                        name: None,
                        embedded: true,
                        annotations,
                    }
                }
                _ => {
                    return Err(Refusal {
                        reason: "CouldntGetTask",
                        message: format!(
                            "pipeline task `{}` runs a custom task or a pipeline, which runnel cannot run",
                            t.name.value
                        ),
                    });
                }
            };
            tasks.insert(t.name.value.clone(), resolved);
        }
        let run_dir = config.work_dir.join(id.to_string());
        let mut workspaces = HashMap::new();
        for decl in &spec.workspaces {
            let wname = decl.name.as_str();
            if let Some(host) = cli_workspace(opts, wname) {
                workspaces.insert(wname.to_owned(), host_dir(host, wname)?);
                continue;
            }
            match pr.workspaces.iter().find(|b| b.name.as_str() == wname) {
                Some(b) => {
                    workspaces.insert(wname.to_owned(), source_of(loaded, b, &run_dir, config)?);
                }
                // A bare Pipeline run from the CLI gets a fresh directory per workspace.
                // A PipelineRun document must bind it (Tekton's ValidateWorkspaceBindings).
                None if bare && decl.optional != Some(true) => {
                    let host = run_dir.join("workspaces").join(wname);
                    workspaces.insert(wname.to_owned(), host_dir(host, wname)?);
                }
                None if decl.optional == Some(true) => {}
                None => {
                    return Err(Refusal {
                        reason: "InvalidWorkspaceBindings",
                        message: format!(
                            "pipeline requires workspace with name \"{wname}\" be provided by pipelinerun (or give it with -w {wname}=PATH)"
                        ),
                    });
                }
            }
        }
        // Bindings the pipeline does not declare are still propagated to its tasks, as
        // Tekton does for an embedded pipelineSpec.
        for b in &pr.workspaces {
            let wname = b.name.as_str();
            if !workspaces.contains_key(wname) {
                let source = match cli_workspace(opts, wname) {
                    Some(host) => host_dir(host, wname)?,
                    None => source_of(loaded, b, &run_dir, config)?,
                };
                workspaces.insert(wname.to_owned(), source);
            }
        }
        let t = pr.timeouts.as_ref().map(|t| &t.value);
        let pipeline = timeout_or(
            t.and_then(|t| t.pipeline.as_ref())
                .map(|s| s.value.as_str()),
            config,
        )?;
        let opt = |s: Option<&crate::Spanned<String>>| match s {
            Some(s) => timeout_or(Some(&s.value), config),
            None => Ok(None),
        };
        let timeouts = Timeouts {
            pipeline,
            tasks: opt(t.and_then(|t| t.tasks.as_ref()))?,
            finally: opt(t.and_then(|t| t.finally.as_ref()))?,
        };
        Ok(Body::Pipeline(Box::new(PipelinePlan {
            run_id: id,
            name: name.clone(),
            pipeline_name,
            spec,
            tasks,
            params,
            workspaces,
            timeouts,
        })))
    })();
    if target.is_empty() {
        target = name.clone();
    }
    Prepared {
        id,
        params: params_json(&body),
        name,
        kind: RunKind::PipelineRun,
        target,
        body,
    }
}

#[allow(clippy::too_many_arguments)]
fn task_body(
    run_id: Uuid,
    name: &str,
    task_name: Option<String>,
    annotations: BTreeMap<String, String>,
    spec: TaskSpec,
    embedded: bool,
    given: Vec<(String, Value)>,
    // The TaskRun's bindings; `None` for a bare Task run from the CLI.
    bindings: Option<&[WorkspaceBinding]>,
    loaded: &Loaded,
    catalog: &Catalog,
    opts: &RunOptions,
    config: &EngineConfig,
    timeout: Option<std::time::Duration>,
    retries: u32,
) -> Result<Body, Refusal> {
    let mut spec = spec;
    resolve_env(&mut spec, loaded);
    // Tekton's TaskRun reconciler fails missing params as a validation failure.
    let params =
        bind_params(&spec.params, given, opts, &format!("TaskRun \"{name}\"")).map_err(|r| {
            Refusal {
                reason: "TaskRunValidationFailed",
                ..r
            }
        })?;
    let run_dir = config.work_dir.join(run_id.to_string());
    let mut workspaces = Vec::new();
    for decl in &spec.workspaces {
        let wname = decl.name.as_str();
        let source = if let Some(host) = cli_workspace(opts, wname) {
            Some(host_dir(host, wname)?)
        } else if let Some(b) = bindings
            .unwrap_or_default()
            .iter()
            .find(|b| b.name.as_str() == wname)
        {
            Some(source_of(loaded, b, &run_dir, config)?)
        } else if decl.optional == Some(true) {
            None
        } else if bindings.is_some() {
            // A TaskRun document must bind it (Tekton's workspace.ValidateBindings).
            return Err(Refusal {
                reason: "TaskRunValidationFailed",
                message: format!(
                    "declared workspace \"{wname}\" is required but has not been bound (or give it with -w {wname}=PATH)"
                ),
            });
        } else {
            // A bare Task run from the CLI gets a fresh directory per workspace.
            Some(host_dir(run_dir.join("workspaces").join(wname), wname)?)
        };
        workspaces.push(match source {
            Some(source) => source
                .bind(wname, wname, None, || run_dir.join("emptydir").join(wname))
                .map_err(workspace_refusal)?,
            None => BoundWorkspace::unbound(wname),
        });
    }
    let step_actions = resolve_step_actions(&spec, catalog)?;
    Ok(Body::Task(Box::new(TaskInstance {
        step_actions,
        run_id,
        pipeline_task: None,
        finally: false,
        name: name.to_owned(),
        task_name,
        annotations,
        spec: Arc::new(spec),
        embedded,
        params,
        workspaces,
        timeout,
        retries,
        matrix_index: None,
        failure_ignored: false,
        outer: super::scope::Scope::new(),
    })))
}
