//! Runs: a [`TaskRun`] executes one Task and a [`PipelineRun`] one Pipeline, binding params
//! and workspaces and setting timeouts, service accounts and pod templates. The v1beta1
//! spellings (`timeout`, `serviceAccountName` on a PipelineRun, `stepOverrides`, ...) are kept
//! next to the v1 ones and moved across by [`super::convert`]. A document's observed `status`
//! is accepted and ignored.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::k8s::{PodTemplate, ResourceRequirements, YamlValue};
use super::meta::ObjectMeta;
use super::param::Param;
use super::pipeline::{PipelineRef, PipelineSpec, PipelineTaskMetadata, TaskRef};
use super::task::TaskSpec;
use super::workspace::WorkspaceBinding;
use crate::Spanned;

/// One execution of a Task.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskRun {
    /// `tekton.dev/v1` (or `tekton.dev/v1beta1`).
    pub api_version: Spanned<String>,
    /// `TaskRun`.
    pub kind: Spanned<String>,
    /// Name (or `generateName`), namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// What to run and with what.
    #[serde(default)]
    pub spec: TaskRunSpec,
    /// Observed state written by a controller (ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<YamlValue>,
}

/// The body of a TaskRun.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskRunSpec {
    /// Breakpoints for debugging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug: Option<TaskRunDebug>,
    /// Values for the Task's params.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// Service account the pod runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<Spanned<String>>,
    /// The Task to run, by reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ref: Option<Spanned<TaskRef>>,
    /// The Task to run, embedded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_spec: Option<Spanned<TaskSpec>>,
    /// `TaskRunCancelled` to cancel the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Spanned<String>>,
    /// Why the run was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<Spanned<String>>,
    /// How many times to retry a failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Spanned<i64>>,
    /// Maximum duration (`1h`, `30m`; `0` for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Spanned<String>>,
    /// Pod settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodTemplate>,
    /// Storage bound to the Task's workspaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspaceBinding>,
    /// Resource overrides per step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_specs: Vec<TaskRunStepSpec>,
    /// Resource overrides per sidecar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecar_specs: Vec<TaskRunSidecarSpec>,
    /// Resources of the whole TaskRun pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_resources: Option<Spanned<ResourceRequirements>>,
    /// The controller that manages this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,

    /// PipelineResource bindings (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub resources: Option<Spanned<YamlValue>>,
    /// v1beta1 name of `stepSpecs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub step_overrides: Vec<TaskRunStepOverride>,
    /// v1beta1 name of `sidecarSpecs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub sidecar_overrides: Vec<TaskRunStepOverride>,
}

/// Debug settings of a TaskRun.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskRunDebug {
    /// Where to pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakpoints: Option<TaskBreakpoints>,
}

/// Breakpoints of a TaskRun.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskBreakpoints {
    /// `enabled` to pause after a failing step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<Spanned<String>>,
    /// Steps to pause before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_steps: Vec<Spanned<String>>,
}

/// Compute resources for one step or sidecar, by name (v1 `stepSpecs`/`sidecarSpecs`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskRunStepSpec {
    /// Name of the step or sidecar.
    pub name: Spanned<String>,
    /// Its requests and limits.
    pub compute_resources: Spanned<ResourceRequirements>,
}

/// Compute resources for one sidecar, by name: the same shape as a step's.
pub type TaskRunSidecarSpec = TaskRunStepSpec;

/// Compute resources for one step or sidecar, by name (v1beta1 `stepOverrides`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskRunStepOverride {
    /// Name of the step or sidecar.
    pub name: Spanned<String>,
    /// Its requests and limits.
    pub resources: Spanned<ResourceRequirements>,
}

/// One execution of a Pipeline.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineRun {
    /// `tekton.dev/v1` (or `tekton.dev/v1beta1`).
    pub api_version: Spanned<String>,
    /// `PipelineRun`.
    pub kind: Spanned<String>,
    /// Name (or `generateName`), namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// What to run and with what.
    #[serde(default)]
    pub spec: PipelineRunSpec,
    /// Observed state written by a controller (ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<YamlValue>,
}

/// The body of a PipelineRun.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineRunSpec {
    /// The Pipeline to run, by reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_ref: Option<Spanned<PipelineRef>>,
    /// The Pipeline to run, embedded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_spec: Option<Spanned<PipelineSpec>>,
    /// Values for the Pipeline's params.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// `Cancelled`, `CancelledRunFinally`, `StoppedRunFinally` or `PipelineRunPending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Spanned<String>>,
    /// Maximum durations of the whole run, its tasks and its finally tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Spanned<TimeoutFields>>,
    /// Service account and pod template for every TaskRun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_run_template: Option<PipelineTaskRunTemplate>,
    /// Storage bound to the Pipeline's workspaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspaceBinding>,
    /// Settings for the TaskRun of particular pipeline tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_run_specs: Vec<PipelineTaskRunSpec>,
    /// The controller that manages this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,

    /// PipelineResource bindings (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub resources: Option<Spanned<YamlValue>>,
    /// v1beta1: service account of every TaskRun (v1 `taskRunTemplate.serviceAccountName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub service_account_name: Option<Spanned<String>>,
    /// v1beta1: service accounts per pipeline task (removed; v1 `taskRunSpecs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub service_account_names: Vec<Spanned<ServiceAccountNameForTask>>,
    /// v1beta1: maximum duration of the run (v1 `timeouts.pipeline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub timeout: Option<Spanned<String>>,
    /// v1beta1: pod template of every TaskRun (v1 `taskRunTemplate.podTemplate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub pod_template: Option<Spanned<PodTemplate>>,
}

/// Maximum durations of a PipelineRun (`1h`, `30m`; `0` for none).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeoutFields {
    /// The whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<Spanned<String>>,
    /// The `tasks` section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Spanned<String>>,
    /// The `finally` section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finally: Option<Spanned<String>>,
}

/// Settings for every TaskRun of a PipelineRun.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineTaskRunTemplate {
    /// Pod settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodTemplate>,
    /// Service account the pods run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<Spanned<String>>,
}

/// Settings for the TaskRun of one pipeline task.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineTaskRunSpec {
    /// Name of the pipeline task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_task_name: Option<Spanned<String>>,
    /// Service account its pod runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<Spanned<String>>,
    /// Pod settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodTemplate>,
    /// Resource overrides per step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_specs: Vec<TaskRunStepSpec>,
    /// Resource overrides per sidecar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecar_specs: Vec<TaskRunSidecarSpec>,
    /// Labels and annotations for the TaskRun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PipelineTaskMetadata>,
    /// Resources of the whole TaskRun pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_resources: Option<Spanned<ResourceRequirements>>,
    /// Maximum duration of the TaskRun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Spanned<String>>,

    /// v1beta1 name of `serviceAccountName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub task_service_account_name: Option<Spanned<String>>,
    /// v1beta1 name of `podTemplate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub task_pod_template: Option<Spanned<PodTemplate>>,
    /// v1beta1 name of `stepSpecs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub step_overrides: Vec<TaskRunStepOverride>,
    /// v1beta1 name of `sidecarSpecs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub sidecar_overrides: Vec<TaskRunStepOverride>,
}

/// A service account for one pipeline task (v1beta1 `serviceAccountNames`, removed by Tekton).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccountNameForTask {
    /// Name of the pipeline task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_name: Option<Spanned<String>>,
    /// Service account its pod runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<Spanned<String>>,
}
