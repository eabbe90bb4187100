//! One TaskRun: its params bound and defaulted, every `$(…)` of its steps substituted, its
//! directories prepared, its attempts run on the runner (retries included), and its results
//! read back.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use runnel_runner::{
    Event, Mount, OnError, Probe, ProbeCheck, PullPolicy, StepJob, StepStatus, TaskDirs, TaskJob,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Shared;
use super::events::{DeploymentMark, ExecEvent, StepInfo};
use super::scope::{Scope, to_json, value_of, with_default};
use super::volumes::{self, Objects, Volumes};
use crate::model::k8s::{
    EnvFromSource, EnvVar, Probe as K8sProbe, ResourceRequirements, SecurityContext, YamlValue,
};
use crate::model::param::ParamType;
use crate::model::step::{Step, StepTemplate};
use crate::model::stepaction::StepActionSpec;
use crate::model::task::TaskSpec;
use crate::model::workspace::WorkspaceUsage;
use crate::store::Status;
use crate::subst::{Value, substitute, substitute_list};

/// Resolved StepActions by the index of the step that references them.
pub type StepActions = Arc<std::collections::HashMap<usize, Arc<StepActionSpec>>>;

/// A workspace as one TaskRun sees it.
#[derive(Debug, Clone)]
pub struct BoundWorkspace {
    /// The Task's name for it.
    pub name: String,
    /// The host directory, or `None` for an optional workspace left unbound.
    pub host: Option<PathBuf>,
    /// `$(workspaces.NAME.claim)`: the claim's name, for a persistentVolumeClaim.
    pub claim: String,
    /// `$(workspaces.NAME.volume)`.
    pub volume: String,
}

impl BoundWorkspace {
    /// An optional workspace nobody bound.
    pub fn unbound(name: &str) -> Self {
        BoundWorkspace {
            name: name.to_owned(),
            host: None,
            claim: String::new(),
            volume: String::new(),
        }
    }
}

/// Everything needed to run one TaskRun (all its attempts).
#[derive(Debug, Clone)]
pub struct TaskInstance {
    pub run_id: Uuid,
    pub pipeline_task: Option<String>,
    pub finally: bool,
    /// The TaskRun's name.
    pub name: String,
    /// The resolved Task's name (None for an embedded spec).
    pub task_name: Option<String>,
    /// The TaskRun's annotations (`runnel.dev/deployment` marks a deployment).
    pub annotations: BTreeMap<String, String>,
    pub spec: Arc<TaskSpec>,
    /// The StepActions of the steps that `ref` one, by step index.
    pub step_actions: StepActions,
    /// An embedded spec also sees the pipeline's params (propagation).
    pub embedded: bool,
    /// Values given for the Task's params (already substituted).
    pub params: Vec<(String, Value)>,
    pub workspaces: Vec<BoundWorkspace>,
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub matrix_index: Option<usize>,
    /// The pipeline task has `onError: continue`: a failure is reported as
    /// `FailureIgnored`, as Tekton does.
    pub failure_ignored: bool,
    /// The pipeline's scope (context, pipeline params, results of other tasks).
    pub outer: Scope,
}

/// How a TaskRun ended.
#[derive(Debug, Clone)]
pub struct TaskEnd {
    pub status: Status,
    pub reason: String,
    pub message: Option<String>,
    pub results: BTreeMap<String, Value>,
    /// How many attempts were retries.
    pub retries_used: u32,
    pub started: Option<DateTime<Utc>>,
    pub finished: DateTime<Utc>,
}

impl TaskEnd {
    /// Ended before running: a problem in the TaskRun itself (a missing param, ...).
    pub fn invalid(reason: &str, message: String) -> Self {
        TaskEnd {
            status: Status::Failed,
            reason: reason.to_owned(),
            message: Some(message),
            results: BTreeMap::new(),
            retries_used: 0,
            started: None,
            finished: Utc::now(),
        }
    }
}

/// Runs `inst`, retrying a failed attempt while retries remain. `cancel` stops it (the
/// caller knows why); a cancelled attempt is not retried.
pub async fn run(shared: &Arc<Shared>, inst: &TaskInstance, cancel: &CancellationToken) -> TaskEnd {
    let mut attempt = 0;
    loop {
        let end = run_attempt(shared, inst, attempt, cancel).await;
        let retriable = end.status == Status::Failed && !cancel.is_cancelled();
        if retriable && attempt < inst.retries {
            attempt += 1;
            continue;
        }
        return TaskEnd {
            retries_used: attempt,
            ..end
        };
    }
}

/// Binds the Task's params: given values, then defaults; object defaults are merged with
/// the keys given. Returns the names of required params nobody gave.
fn bind_params(inst: &TaskInstance, scope: &mut Scope) -> Vec<String> {
    let given: BTreeMap<&str, &Value> = inst.params.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut missing = Vec::new();
    for spec in &inst.spec.params {
        let name = spec.name.as_str();
        let default = spec.default.as_ref().map(|d| value_of(&d.value));
        match with_default(given.get(name).map(|v| (*v).clone()), default) {
            Some(value) => scope.set_param(name, value),
            None => missing.push(name.to_owned()),
        }
    }
    if inst.embedded {
        // Params the pipeline task passes but the embedded spec does not declare are still
        // visible in it, as are the pipeline's own params (inherited below).
        for (k, v) in &inst.params {
            if scope.param(k).is_none() {
                scope.set_param(k, v.clone());
            }
        }
    }
    missing
}

/// The step's fields with the step template's filled in (env merged by name).
fn apply_template<'s>(step: &'s Step, template: Option<&StepTemplate>) -> Cow<'s, Step> {
    let Some(t) = template else {
        return Cow::Borrowed(step);
    };
    let mut s = step.clone();
    if s.image.is_none() {
        s.image = t.image.clone();
    }
    if s.command.is_empty() && s.script.is_none() {
        s.command = t.command.clone();
        if s.args.is_empty() {
            s.args = t.args.clone();
        }
    }
    if s.working_dir.is_none() {
        s.working_dir = t.working_dir.clone();
    }
    if s.compute_resources.is_none() && s.resources.is_none() {
        s.compute_resources = t.compute_resources.clone().or_else(|| t.resources.clone());
    }
    if s.image_pull_policy.is_none() {
        s.image_pull_policy = t.image_pull_policy.clone();
    }
    // The template's volume mounts, but where the step mounts the same path.
    let mut mounts: Vec<_> = t
        .volume_mounts
        .iter()
        .filter(|m| {
            !step
                .volume_mounts
                .iter()
                .any(|own| own.mount_path.value == m.mount_path.value)
        })
        .cloned()
        .collect();
    mounts.extend(step.volume_mounts.iter().cloned());
    s.volume_mounts = mounts;
    if s.security_context.is_none() {
        s.security_context = t.security_context.clone();
    }
    let mut env: Vec<EnvVar> = t
        .env
        .iter()
        .filter(|e| !step.env.iter().any(|se| se.name.value == e.name.value))
        .cloned()
        .collect();
    env.extend(step.env.iter().cloned());
    s.env = env;
    Cow::Owned(s)
}

fn text(v: &Option<crate::Spanned<String>>, scope: &Scope) -> Option<String> {
    v.as_ref().map(|s| substitute(s, scope))
}

fn list(v: &[crate::Spanned<String>], scope: &Scope) -> Vec<String> {
    let items: Vec<String> = v.iter().map(|s| s.value.clone()).collect();
    substitute_list(&items, scope)
}

/// A step that `ref`s a StepAction, with the StepAction's container fields and results,
/// its params bound from the step's `params` (substituted in the task's scope) over the
/// StepAction's defaults, as Tekton resolves them. A value of the wrong type for a param
/// (a string for an object) falls back to the default.
fn inline_step_action(step: &Step, action: &StepActionSpec, task_scope: &Scope) -> Step {
    let mut own = Scope::new();
    own.inherit_without_params(task_scope);
    for p in &action.params {
        let name = p.name.as_str();
        let given = step
            .params
            .iter()
            .find(|g| g.name.as_str() == name)
            .map(|g| super::scope::substitute_value(&g.value, task_scope));
        let default = p.default.as_ref().map(|d| value_of(&d.value));
        let fits = |v: &Value| {
            matches!(
                (v, p.effective_type()),
                (Value::String(_), ParamType::String)
                    | (Value::Array(_), ParamType::Array)
                    | (Value::Object(_), ParamType::Object)
            )
        };
        // A value of the wrong type (a string for an object) gives way to the default.
        let given = given.filter(|v| fits(v) || default.is_none());
        if let Some(value) = with_default(given, default) {
            own.set_param(name, value);
        }
    }
    let one = |s: &crate::Spanned<String>| crate::Spanned::new(s.span, substitute(s, &own));
    let many = |v: &[crate::Spanned<String>]| -> Vec<crate::Spanned<String>> {
        let span = v.first().map(|s| s.span).unwrap_or_default();
        list(v, &own)
            .into_iter()
            .map(|s| crate::Spanned::new(span, s))
            .collect()
    };
    let mut out = step.clone();
    out.r#ref = None;
    out.image = action.image.as_ref().map(one);
    out.command = many(&action.command);
    out.args = many(&action.args);
    out.script = action.script.as_ref().map(one);
    out.working_dir = action.working_dir.as_ref().map(one).or(out.working_dir);
    let mut env: Vec<EnvVar> = action
        .env
        .iter()
        .map(|e| EnvVar {
            value: e.value.as_ref().map(one),
            ..e.clone()
        })
        .collect();
    env.extend(step.env.iter().cloned());
    out.env = env;
    out.results = action.results.clone();
    out
}

/// The step's name as Tekton gives it: its own, or `unnamed-INDEX`.
pub fn step_name(step: &Step, index: usize) -> String {
    match &step.name {
        Some(n) if !n.is_empty() => n.value.clone(),
        _ => format!("unnamed-{index}"),
    }
}

fn parse_timeout(text: &str) -> Result<Option<Duration>, String> {
    let d = crate::duration::parse(text).map_err(|e| e.to_string())?;
    Ok((!d.is_zero()).then_some(d))
}

/// Builds the job for one attempt. Errors are a message for the TaskRun's record.
fn build_job(
    shared: &Shared,
    inst: &TaskInstance,
    scope: &Scope,
    id: Uuid,
    dirs: &TaskDirs,
    volumes: &Volumes,
) -> Result<TaskJob, String> {
    let template = inst.spec.step_template.as_ref();
    let mut steps = Vec::with_capacity(inst.spec.steps.len());
    for (i, raw) in inst.spec.steps.iter().enumerate() {
        let inlined;
        let raw: &Step = match inst.step_actions.get(&i) {
            Some(action) => {
                inlined = inline_step_action(raw, action, scope);
                &inlined
            }
            None if raw.r#ref.is_some() => {
                return Err(format!(
                    "step `{}` references a StepAction that was not resolved",
                    step_name(raw, i)
                ));
            }
            None => raw,
        };
        let step = apply_template(raw, template);
        let name = step_name(&step, i);
        // `$(step.results.NAME.path)` is the step's own directory.
        let step_scope;
        let scope = if step.results.is_empty() {
            scope
        } else {
            let mut own = scope.clone();
            for r in &step.results {
                // Where Tekton puts it, `/tekton/steps/step-NAME/results/RESULT`.
                let host = dirs
                    .steps
                    .join(format!("step-{name}"))
                    .join("results")
                    .join(r.name.as_str());
                if let Some(parent) = host.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                }
                let path = shared.runner.path_in_step(
                    &host,
                    &format!("/tekton/steps/step-{name}/results/{}", r.name.as_str()),
                );
                own.set_step_result_path(r.name.as_str(), path);
            }
            step_scope = own;
            &step_scope
        };
        let mut env = env_from(
            template
                .map(|t| t.env_from.as_slice())
                .unwrap_or_default()
                .iter()
                .chain(&step.env_from),
            &shared.config.objects,
            scope,
            &name,
        )?;
        for e in &step.env {
            match &e.value {
                Some(v) => env.push((e.name.value.clone(), substitute(v, scope))),
                None if e.value_from.is_some() => {
                    return Err(format!(
                        "step `{name}`: env `{}` uses valueFrom, which runnel cannot resolve yet",
                        e.name.value
                    ));
                }
                None => env.push((e.name.value.clone(), String::new())),
            }
        }
        let on_error = match text(&step.on_error, scope).as_deref() {
            None | Some("stopAndFail") => OnError::StopAndFail,
            Some("continue") => OnError::Continue,
            Some(other) => {
                return Err(format!(
                    "step `{name}`: onError must be `continue` or `stopAndFail`, not `{other}`"
                ));
            }
        };
        let timeout = match text(&step.timeout, scope) {
            Some(t) => parse_timeout(&t).map_err(|e| format!("step `{name}`: timeout: {e}"))?,
            None => None,
        };
        let container = container_settings(
            &name,
            step.image_pull_policy.as_ref(),
            step.security_context.as_ref(),
            step.compute_resources.as_ref().or(step.resources.as_ref()),
            scope,
        )?;
        let mut mounts = volumes::mounts(
            volumes,
            &step.volume_mounts,
            scope,
            &format!("step `{name}`"),
        )?;
        mounts.extend(isolated_mounts(inst, &step.workspaces, scope));
        steps.push(StepJob {
            mounts,
            name,
            image: text(&step.image, scope),
            command: list(&step.command, scope),
            args: list(&step.args, scope),
            script: text(&step.script, scope),
            env,
            working_dir: text(&step.working_dir, scope),
            timeout,
            on_error,
            stdout_path: step
                .stdout_config
                .as_ref()
                .and_then(|c| text(&c.path, scope)),
            stderr_path: step
                .stderr_config
                .as_ref()
                .and_then(|c| text(&c.path, scope)),
            guard: super::step_when::guard(&step.when, scope, &dirs.steps),
            ..container
        });
    }
    let mut sidecars = Vec::with_capacity(inst.spec.sidecars.len());
    for (i, s) in inst.spec.sidecars.iter().enumerate() {
        let name = s
            .name
            .as_ref()
            .map_or_else(|| format!("sidecar-{i}"), |n| n.value.clone());
        let container = container_settings(
            &name,
            s.image_pull_policy.as_ref(),
            s.security_context.as_ref(),
            s.compute_resources.as_ref(),
            scope,
        )?;
        let mut mounts = volumes::mounts(
            volumes,
            &s.volume_mounts,
            scope,
            &format!("sidecar `{name}`"),
        )?;
        mounts.extend(isolated_mounts(inst, &s.workspaces, scope));
        sidecars.push(StepJob {
            mounts,
            image: text(&s.image, scope),
            command: list(&s.command, scope),
            args: list(&s.args, scope),
            script: text(&s.script, scope),
            env: {
                let mut env = env_from(s.env_from.iter(), &shared.config.objects, scope, &name)?;
                env.extend(s.env.iter().filter_map(|e| {
                    Some((e.name.value.clone(), substitute(e.value.as_ref()?, scope)))
                }));
                env
            },
            working_dir: text(&s.working_dir, scope),
            readiness: s
                .readiness_probe
                .as_ref()
                .and_then(|p| readiness(&p.value, scope)),
            name,
            ..container
        });
    }
    let mut mounts = vec![
        Mount {
            host_path: dirs.results.clone(),
            mount_path: "/tekton/results".to_owned(),
            read_only: false,
        },
        // Read-only, as in Tekton: a container runner mounts each step's own
        // `step-NAME` directory writable over it.
        Mount {
            host_path: dirs.steps.clone(),
            mount_path: "/tekton/steps".to_owned(),
            read_only: true,
        },
    ];
    // An isolated workspace (one a step or sidecar names in its own `workspaces`) is
    // mounted only into those.
    let isolated = |name: &str| {
        inst.spec
            .steps
            .iter()
            .flat_map(|s| &s.workspaces)
            .chain(inst.spec.sidecars.iter().flat_map(|s| &s.workspaces))
            .any(|u| u.name.value == name)
    };
    for w in &inst.workspaces {
        if let (Some(host), Some(decl)) = (&w.host, inst.spec.workspace(&w.name))
            && !isolated(&w.name)
        {
            mounts.push(Mount {
                host_path: host.clone(),
                mount_path: decl.effective_mount_path(),
                read_only: decl.read_only.unwrap_or(false),
            });
        }
    }
    let exit_codes = steps.iter().any(|s| {
        s.script
            .iter()
            .chain(&s.args)
            .chain(&s.command)
            .any(|t| t.contains("/exitCode"))
            || s.env.iter().any(|(_, v)| v.contains("/exitCode"))
    });
    Ok(TaskJob {
        run: inst.run_id.to_string(),
        id: id.to_string(),
        name: inst.name.clone(),
        dirs: dirs.clone(),
        mounts,
        steps,
        sidecars,
        exit_codes,
        grace: shared.config.grace,
    })
}

/// The variables of `envFrom`: every key of each ConfigMap or Secret (among the files),
/// with its `prefix`. A missing object is an error unless it is `optional`.
fn env_from<'a>(
    sources: impl Iterator<Item = &'a EnvFromSource>,
    objects: &Objects,
    scope: &Scope,
    who: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut env = Vec::new();
    for source in sources {
        let (config_map, reference) = match (&source.config_map_ref, &source.secret_ref) {
            (Some(r), _) => (true, r),
            (None, Some(r)) => (false, r),
            (None, None) => continue,
        };
        let name = reference
            .name
            .as_ref()
            .map(|n| substitute(n, scope))
            .unwrap_or_default();
        let Some(keys) = objects.keys(config_map, &name) else {
            if reference.optional.unwrap_or(false) {
                continue;
            }
            let kind = if config_map { "ConfigMap" } else { "Secret" };
            return Err(format!(
                "`{who}`: envFrom names the {kind} `{name}`, which is not in the files"
            ));
        };
        let prefix = source
            .prefix
            .as_ref()
            .map(|p| substitute(p, scope))
            .unwrap_or_default();
        for (key, value) in keys {
            env.retain(|(k, _): &(String, String)| *k != format!("{prefix}{key}"));
            env.push((
                format!("{prefix}{key}"),
                String::from_utf8_lossy(value).into_owned(),
            ));
        }
    }
    Ok(env)
}

/// The mounts of the workspaces a step or sidecar names in its own `workspaces` (at its
/// `mountPath`, else the workspace's).
fn isolated_mounts(inst: &TaskInstance, usages: &[WorkspaceUsage], scope: &Scope) -> Vec<Mount> {
    usages
        .iter()
        .filter_map(|u| {
            let bound = inst.workspaces.iter().find(|w| w.name == u.name.value)?;
            let decl = inst.spec.workspace(&u.name.value)?;
            Some(Mount {
                host_path: bound.host.clone()?,
                mount_path: u
                    .mount_path
                    .as_ref()
                    .map_or_else(|| decl.effective_mount_path(), |p| substitute(p, scope)),
                read_only: decl.read_only.unwrap_or(false),
            })
        })
        .collect()
}

/// The container settings of a step or sidecar: `imagePullPolicy`,
/// `securityContext.runAsUser`/`runAsGroup` and `computeResources.limits`.
fn container_settings(
    name: &str,
    pull_policy: Option<&crate::Spanned<String>>,
    security: Option<&SecurityContext>,
    resources: Option<&crate::Spanned<ResourceRequirements>>,
    scope: &Scope,
) -> Result<StepJob, String> {
    let pull_policy = match pull_policy.map(|p| substitute(p, scope)) {
        None => None,
        Some(p) => Some(PullPolicy::parse(&p).ok_or_else(|| {
            format!("`{name}`: imagePullPolicy must be Always, IfNotPresent or Never, not `{p}`")
        })?),
    };
    let limit = |key: &str| {
        resources
            .and_then(|r| r.value.limits.get(key))
            .map(|q| q.value.as_str())
    };
    let cpu_limit = match limit("cpu") {
        None => None,
        Some(q) => Some(
            parse_quantity(q)
                .ok_or_else(|| format!("`{name}`: the cpu limit `{q}` is not a quantity"))?,
        ),
    };
    let memory_limit = match limit("memory") {
        None => None,
        // Whole bytes: Kubernetes rounds a fractional memory quantity up.
        Some(q) => Some(
            parse_quantity(q)
                .map(|bytes| bytes.ceil() as i64)
                .ok_or_else(|| format!("`{name}`: the memory limit `{q}` is not a quantity"))?,
        ),
    };
    Ok(StepJob {
        pull_policy,
        run_as_user: security
            .and_then(|s| s.run_as_user.as_ref())
            .map(|u| u.value),
        run_as_group: security
            .and_then(|s| s.run_as_group.as_ref())
            .map(|g| g.value),
        cpu_limit,
        memory_limit,
        ..StepJob::default()
    })
}

/// A Kubernetes quantity as a number: `500m` = 0.5, `1Gi` = 2^30, `1G` = 10^9, `1e3`.
fn parse_quantity(q: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let q = q.trim();
    let (number, factor) = SUFFIXES
        .iter()
        .find_map(|(suffix, factor)| q.strip_suffix(suffix).map(|n| (n, *factor)))
        .unwrap_or((q, 1.0));
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value * factor)
}

/// A sidecar's readiness probe: `exec` or `tcpSocket` (by port number); others (HTTP,
/// gRPC) are not checked, and the sidecar counts as ready once it runs.
fn readiness(probe: &K8sProbe, scope: &Scope) -> Option<Probe> {
    let check = if let Some(exec) = &probe.exec {
        ProbeCheck::Exec(list(&exec.command, scope))
    } else {
        let port = match probe.tcp_socket.as_ref()? {
            YamlValue::Map(m) => match m.get("port")? {
                YamlValue::Int(p) => u16::try_from(*p).ok()?,
                YamlValue::String(p) => substitute(p, scope).parse().ok()?,
                _ => return None,
            },
            _ => return None,
        };
        ProbeCheck::Tcp(port)
    };
    let secs = |s: Option<i64>, default: u64| {
        Duration::from_secs(s.and_then(|s| u64::try_from(s).ok()).unwrap_or(default))
    };
    Some(Probe {
        check,
        initial_delay: secs(probe.initial_delay_seconds, 0),
        period: secs(probe.period_seconds, 10),
        timeout: secs(probe.timeout_seconds, 1),
    })
}

/// A TaskRun attempt's directories: `RUN/KIND/TASKRUN.ATTEMPT` for each kind, so that
/// each costs one `mkdir` once the run's first TaskRun made the parents.
fn create_dirs(run_dir: &Path, leaf: &str, with_results: bool) -> std::io::Result<TaskDirs> {
    let dirs = TaskDirs {
        results: run_dir.join("results").join(leaf),
        steps: run_dir.join("steps").join(leaf),
        scripts: run_dir.join("scripts").join(leaf),
        work: run_dir.join("work").join(leaf),
        home: run_dir.join("home").join(leaf),
    };
    // Only `results` must exist before a step runs (when the Task declares results); the
    // runner creates the others as it needs them. Directories are most of the cost of a
    // TaskRun on a no-op runner, so none is made that nothing will use.
    if with_results {
        std::fs::create_dir_all(&dirs.results)?;
    }
    Ok(dirs)
}

/// Reads the declared results the steps wrote. Too large a result fails the TaskRun.
fn read_results(
    inst: &TaskInstance,
    dir: &Path,
    steps_dir: &Path,
    limit: usize,
) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    for r in &inst.spec.results {
        let name = r.name.as_str();
        // `value: $(steps.STEP.results.NAME)`: the task result is a step's result.
        let from_step = r.value.as_ref().and_then(|v| match &v.value {
            crate::model::param::ParamValue::String(text) => {
                match crate::vars::scan(text).as_slice() {
                    [only] => match only.var {
                        crate::vars::Var::StepResult { step, name } => {
                            let step = step.strip_prefix("step-").unwrap_or(step);
                            Some(
                                steps_dir
                                    .join(format!("step-{step}"))
                                    .join("results")
                                    .join(name),
                            )
                        }
                        _ => None,
                    },
                    _ => None,
                }
            }
            _ => None,
        });
        let path = from_step.unwrap_or_else(|| dir.join(name));
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.len() as usize > limit {
            return Err(format!(
                "result `{name}` is {} bytes, over the limit of {limit} bytes",
                meta.len()
            ));
        }
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read result `{name}`: {e}"))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let ty = r.r#type.as_ref().map(|t| t.value).unwrap_or_else(|| {
            if r.properties.is_empty() {
                ParamType::String
            } else {
                ParamType::Object
            }
        });
        let value = match ty {
            ParamType::String => Value::String(text),
            ParamType::Array => match serde_json::from_str::<Vec<String>>(text.trim()) {
                Ok(items) => Value::Array(items),
                Err(e) => {
                    return Err(format!(
                        "result `{name}` is declared an array but is not a JSON array of strings: {e}"
                    ));
                }
            },
            ParamType::Object => {
                match serde_json::from_str::<BTreeMap<String, String>>(text.trim()) {
                    Ok(map) => Value::Object(map),
                    Err(e) => {
                        return Err(format!(
                            "result `{name}` is declared an object but is not a JSON object of strings: {e}"
                        ));
                    }
                }
            }
        };
        out.insert(name.to_owned(), value);
    }
    Ok(out)
}

fn to_utc(t: std::time::SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

/// Go's `Duration.String()` for whole seconds and above, as Tekton's messages print it.
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let frac = d.subsec_millis();
    let s = if frac > 0 {
        format!("{s}.{frac:03}").trim_end_matches('0').to_owned()
    } else {
        s.to_string()
    };
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// The annotation that marks a deploy task; its value is the environment.
pub const DEPLOYMENT_ANNOTATION: &str = "runnel.dev/deployment";

/// What a deploy task's annotations say, substituted like its steps (so that
/// `$(params.environment)` works); `None` when it is not a deploy task.
fn deployment_mark(
    annotations: &BTreeMap<String, String>,
    scope: &Scope,
) -> Option<DeploymentMark> {
    let value = |key: &str| {
        annotations
            .get(key)
            .map(|v| substitute(v, scope).trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let environment = annotations.get(DEPLOYMENT_ANNOTATION).map(|v| {
        let v = substitute(v, scope).trim().to_owned();
        if v.is_empty() {
            "default".to_owned()
        } else {
            v
        }
    })?;
    Some(DeploymentMark {
        environment,
        service: value("runnel.dev/deployment-service"),
        commit: value("runnel.dev/deployment-commit"),
        kind: value("runnel.dev/deployment-kind")
            .and_then(|k| k.parse().ok())
            .unwrap_or_default(),
    })
}

async fn run_attempt(
    shared: &Arc<Shared>,
    inst: &TaskInstance,
    attempt: u32,
    cancel: &CancellationToken,
) -> TaskEnd {
    let _permit = tokio::select! {
        p = shared.slots.clone().acquire_owned() => p.ok(),
        () = cancel.cancelled() => None,
    };
    if cancel.is_cancelled() {
        return TaskEnd {
            status: Status::Cancelled,
            reason: "TaskRunCancelled".to_owned(),
            message: Some(format!("TaskRun \"{}\" was cancelled", inst.name)),
            ..TaskEnd::invalid("", String::new())
        };
    }
    let id = Uuid::now_v7();
    let started = Utc::now();
    let run_dir = shared.config.work_dir.join(inst.run_id.to_string());
    let leaf = format!("{}.{attempt}", inst.name);

    let mut scope = Scope::new();
    let missing = bind_params(inst, &mut scope);
    if inst.embedded {
        scope.inherit(&inst.outer);
    } else {
        scope.inherit_without_params(&inst.outer);
    }
    scope.set_context("taskRun.name", &inst.name);
    scope.set_context("taskRun.uid", id.to_string());
    scope.set_context("taskRun.namespace", &shared.config.namespace);
    scope.set_context(
        "task.name",
        inst.task_name.clone().unwrap_or_else(|| inst.name.clone()),
    );
    scope.set_context("task.retry-count", attempt.to_string());
    scope.set_context("pipelineTask.retries", inst.retries.to_string());

    let step_infos: Vec<StepInfo> = inst
        .spec
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepInfo {
            name: step_name(s, i),
            image: s
                .image
                .as_ref()
                .or(inst
                    .spec
                    .step_template
                    .as_ref()
                    .and_then(|t| t.image.as_ref()))
                .map(|i| i.value.clone()),
        })
        .collect();
    let params_json = serde_json::Value::Object(
        inst.spec
            .params
            .iter()
            .filter_map(|p| {
                let v = scope.param(p.name.as_str())?;
                Some((p.name.value.clone(), to_json(v)))
            })
            .collect(),
    );
    shared.observers.emit(ExecEvent::TaskRunStarted {
        id,
        run_id: inst.run_id,
        name: inst.name.clone(),
        pipeline_task: inst.pipeline_task.clone(),
        task: inst.task_name.clone(),
        matrix_index: inst.matrix_index,
        attempt,
        finally: inst.finally,
        params: params_json,
        steps: step_infos,
        deployment: deployment_mark(&inst.annotations, &scope),
        at: started,
    });
    let finish = |status: Status,
                  reason: &str,
                  message: Option<String>,
                  results: BTreeMap<String, Value>| {
        let at = Utc::now();
        shared.observers.emit(ExecEvent::TaskRunFinished {
            id,
            status,
            reason: reason.to_owned(),
            message: message.clone(),
            results: serde_json::Value::Object(
                results
                    .iter()
                    .map(|(k, v)| (k.clone(), to_json(v)))
                    .collect(),
            ),
            at,
        });
        TaskEnd {
            status,
            reason: reason.to_owned(),
            message,
            results,
            retries_used: attempt,
            started: Some(started),
            finished: at,
        }
    };

    if !missing.is_empty() {
        return finish(
            Status::Failed,
            "TaskRunValidationFailed",
            Some(format!(
                "TaskRun \"{}\": missing values for params: {}",
                inst.name,
                missing.join(", ")
            )),
            BTreeMap::new(),
        );
    }
    let dirs = match create_dirs(&run_dir, &leaf, !inst.spec.results.is_empty()) {
        Ok(d) => d,
        Err(e) => {
            return finish(
                Status::Failed,
                "TaskRunValidationFailed",
                Some(format!("cannot create {}: {e}", run_dir.display())),
                BTreeMap::new(),
            );
        }
    };
    let runner = &shared.runner;
    for r in &inst.spec.results {
        let host = dirs.results.join(r.name.as_str());
        let path = runner.path_in_step(&host, &format!("/tekton/results/{}", r.name.as_str()));
        scope.set_result_path(r.name.as_str(), path);
    }
    for (i, s) in inst.spec.steps.iter().enumerate() {
        let name = step_name(s, i);
        let host = dirs.steps.join(format!("step-{name}")).join("exitCode");
        let path = runner.path_in_step(&host, &format!("/tekton/steps/step-{name}/exitCode"));
        // Tekton documents `$(steps.step-NAME.exitCode.path)`; the bare name works too.
        scope.set_step_exit_code_path(&format!("step-{name}"), path.clone());
        scope.set_step_exit_code_path(&name, path);
    }
    let creds = run_dir.join("creds").join(&leaf);
    scope.set_credentials_path(runner.path_in_step(&creds, "/tekton/creds"));
    for decl in &inst.spec.workspaces {
        let name = decl.name.as_str();
        let bound = inst.workspaces.iter().find(|w| w.name == name);
        match bound {
            Some(w) if w.host.is_some() => {
                let host = w.host.as_deref().unwrap_or(Path::new(""));
                scope.set_workspace(
                    name,
                    "path",
                    runner.path_in_step(host, &decl.effective_mount_path()),
                );
                scope.set_workspace(name, "bound", "true");
                scope.set_workspace(name, "claim", w.claim.clone());
                scope.set_workspace(name, "volume", w.volume.clone());
            }
            _ if decl.optional.unwrap_or(false) => {
                scope.set_workspace(name, "path", "");
                scope.set_workspace(name, "bound", "false");
                scope.set_workspace(name, "claim", "");
                scope.set_workspace(name, "volume", "");
            }
            _ => {
                return finish(
                    Status::Failed,
                    "TaskRunValidationFailed",
                    Some(format!(
                        "TaskRun \"{}\": workspace `{name}` is required but not bound",
                        inst.name
                    )),
                    BTreeMap::new(),
                );
            }
        }
    }

    let volumes = if inst.spec.volumes.is_empty() {
        Ok(Volumes::default())
    } else {
        volumes::prepare(
            &inst.spec.volumes,
            &shared.config.objects,
            &run_dir.join("volumes").join(&leaf),
            &shared.config.volumes_dir,
            &scope,
        )
    };
    let job = match volumes.and_then(|v| build_job(shared, inst, &scope, id, &dirs, &v)) {
        Ok(job) => job,
        Err(message) => {
            return finish(
                Status::Failed,
                "TaskRunValidationFailed",
                Some(format!("TaskRun \"{}\": {message}", inst.name)),
                BTreeMap::new(),
            );
        }
    };
    let job_steps = job.steps.clone();

    // Forward the runner's events to the observers as they come, in this same task.
    let (tx, mut rx) = mpsc::channel::<Event>(256);
    let observers = &shared.observers;
    let forward = async move {
        while let Some(ev) = rx.recv().await {
            let ev = match ev {
                Event::StepStarted { step, at } => ExecEvent::StepStarted {
                    task_run: id,
                    index: step,
                    at: to_utc(at),
                },
                Event::Output {
                    step,
                    stream,
                    at,
                    line,
                } => ExecEvent::Output {
                    task_run: id,
                    index: step,
                    stream,
                    at: to_utc(at),
                    line,
                },
                Event::StepFinished { step, outcome } => ExecEvent::StepFinished {
                    task_run: id,
                    index: step,
                    outcome,
                },
            };
            observers.emit(ev);
        }
    };

    let job_cancel = cancel.child_token();
    let timeout = inst.timeout;
    let run = async {
        let run = runner.run_task(job, tx, job_cancel.clone());
        tokio::pin!(run);
        match timeout {
            Some(limit) => {
                tokio::select! {
                    o = &mut run => (o, false),
                    () = tokio::time::sleep(limit) => {
                        job_cancel.cancel();
                        (run.await, true)
                    }
                }
            }
            None => (run.await, false),
        }
    };
    // The forwarder ends when the runner drops its sender, i.e. with the job.
    let ((outcome, timed_out), ()) = tokio::join!(run, forward);

    let results = read_results(inst, &dirs.results, &dirs.steps, shared.config.result_limit);
    if timed_out {
        let limit = inst.timeout.map(go_duration).unwrap_or_default();
        return finish(
            Status::Failed,
            "TaskRunTimeout",
            Some(format!(
                "TaskRun \"{}\" failed to finish within \"{limit}\"",
                inst.name
            )),
            results.unwrap_or_default(),
        );
    }
    if cancel.is_cancelled() {
        return finish(
            Status::Cancelled,
            "TaskRunCancelled",
            Some(format!("TaskRun \"{}\" was cancelled", inst.name)),
            results.unwrap_or_default(),
        );
    }
    let results = match results {
        Ok(r) => r,
        Err(message) => {
            return finish(
                Status::Failed,
                "TaskRunResultLargerThanAllowedLimit",
                Some(message),
                BTreeMap::new(),
            );
        }
    };
    if outcome.succeeded(&job_steps) {
        return finish(Status::Succeeded, "Succeeded", None, results);
    }
    let message = outcome
        .steps
        .iter()
        .zip(&job_steps)
        .find(|(o, s)| match o.status {
            StepStatus::Failed | StepStatus::TimedOut => s.on_error == OnError::StopAndFail,
            StepStatus::Error | StepStatus::Cancelled => true,
            _ => false,
        })
        .map(|(o, s)| match (o.status, o.exit_code) {
            (StepStatus::Failed, Some(code)) => {
                format!("\"step-{}\" exited with code {code}", s.name)
            }
            _ => format!(
                "\"step-{}\": {}",
                s.name,
                o.message.clone().unwrap_or_else(|| "failed".to_owned())
            ),
        });
    let reason = if inst.failure_ignored {
        "FailureIgnored"
    } else {
        "Failed"
    };
    finish(Status::Failed, reason, message, results)
}
