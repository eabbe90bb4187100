//! Steps, the step template and sidecars: the containers of a Task. A [`Step`] runs an image
//! (or a StepAction through `ref`) and may declare results, params and `when` guards; a
//! [`Sidecar`] runs beside the steps. The container fields tekton.dev/v1 dropped from steps
//! (`ports`, probes, `lifecycle`, ...) are kept as loose v1beta1-only values so conversion
//! can warn about them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::boxed::OptionBox;
use super::k8s::{
    ContainerPort, EnvFromSource, EnvVar, Lifecycle, Probe, ResourceRequirements, SecurityContext,
    VolumeDevice, VolumeMount, YamlValue,
};
use super::param::Param;
use super::pipeline::WhenExpression;
use super::result::StepResult;
use super::workspace::WorkspaceUsage;
use crate::Spanned;

/// What to do when a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize, JsonSchema)]
pub enum OnError {
    // Fail the TaskRun (the default).
    #[default]
    #[serde(rename = "stopAndFail")]
    StopAndFail,
    // Record the exit code and go on with the next step.
    #[serde(rename = "continue")]
    Continue,
}

impl OnError {
    pub fn as_str(self) -> &'static str {
        match self {
            OnError::StopAndFail => "stopAndFail",
            OnError::Continue => "continue",
        }
    }

    /// Reads `continue` or `stopAndFail`; anything else (including a `$(params…)` reference
    /// not yet substituted) is `None`.
    pub fn parse(text: &str) -> Option<OnError> {
        match text {
            "stopAndFail" => Some(OnError::StopAndFail),
            "continue" => Some(OnError::Continue),
            _ => None,
        }
    }
}

/// The schema of an `onError` field: one of the [`OnError`] values, or a `$(…)` reference
/// (Tekton substitutes params into `onError` before checking it).
pub(crate) fn on_error_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let values = generator.subschema_for::<OnError>();
    schemars::json_schema!({
        "description": "`stopAndFail` (default) or `continue`, or a `$(params.<name>)` reference.",
        "anyOf": [
            values,
            { "type": "string", "pattern": "^.*\\$\\(.+\\).*$" }
        ]
    })
}

/// Where to copy a step's stdout or stderr.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepOutputConfig {
    /// File path; may use `$(results.<name>.path)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Spanned<String>>,
}

/// A reference from a step to a StepAction, by name or through a resolver.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepRef {
    /// Name of a StepAction in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// Remote resolver (`git`, `bundles`, `hub`, `http`, `cluster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<Spanned<String>>,
    /// Params for the resolver.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

/// One container of a Task, run in order.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    /// Name of the step, unique in the Task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<Spanned<String>>,
    /// Container image (required unless `ref` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Spanned<String>>,
    /// Entrypoint (replaces the image's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<Spanned<String>>,
    /// Arguments to the entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Spanned<String>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<Spanned<String>>,
    /// Environment variables from ConfigMaps and Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// CPU and memory requests and limits.
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    pub compute_resources: OptionBox<Spanned<ResourceRequirements>>,
    /// Volumes to mount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Raw block devices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_devices: Vec<VolumeDevice>,
    /// `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<Spanned<String>>,
    /// Security options of the container.
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    pub security_context: OptionBox<SecurityContext>,
    /// A script to run instead of `command` (a shebang line picks the interpreter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<Spanned<String>>,
    /// Maximum duration of the step (`10s`, `1h30m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Spanned<String>>,
    /// Task workspaces this step mounts at its own path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspaceUsage>,
    /// `stopAndFail` (default) or `continue`, or a `$(params…)` reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "on_error_schema")]
    pub on_error: Option<Spanned<String>>,
    /// Copy stdout to a file.
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    pub stdout_config: OptionBox<StepOutputConfig>,
    /// Copy stderr to a file.
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    pub stderr_config: OptionBox<StepOutputConfig>,
    /// Run a StepAction instead of an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<Box<Spanned<StepRef>>>,
    /// Params passed to the StepAction of `ref`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// Results this step produces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<StepResult>,
    /// Conditions under which the step runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<WhenExpression>,

    /// v1beta1 name of `computeResources`.
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub resources: OptionBox<Spanned<ResourceRequirements>>,
    /// Container ports (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub ports: OptionBox<Spanned<YamlValue>>,
    /// Liveness probe (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub liveness_probe: OptionBox<Spanned<YamlValue>>,
    /// Readiness probe (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub readiness_probe: OptionBox<Spanned<YamlValue>>,
    /// Startup probe (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub startup_probe: OptionBox<Spanned<YamlValue>>,
    /// Lifecycle hooks (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub lifecycle: OptionBox<Spanned<YamlValue>>,
    /// Termination message path (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub termination_message_path: OptionBox<Spanned<YamlValue>>,
    /// Termination message policy (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub termination_message_policy: OptionBox<Spanned<YamlValue>>,
    /// Keep stdin open (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub stdin: OptionBox<Spanned<YamlValue>>,
    /// Close stdin after one attach (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub stdin_once: OptionBox<Spanned<YamlValue>>,
    /// Allocate a TTY (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub tty: OptionBox<Spanned<YamlValue>>,
}

/// Container settings every step of the Task starts from.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepTemplate {
    /// Default container image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Spanned<String>>,
    /// Default entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<Spanned<String>>,
    /// Default arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Spanned<String>>,
    /// Default working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<Spanned<String>>,
    /// Environment variables from ConfigMaps and Secrets, for every step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Environment variables for every step (a step's own win).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Default CPU and memory requests and limits.
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    pub compute_resources: OptionBox<Spanned<ResourceRequirements>>,
    /// Volumes every step mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Raw block devices of every step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_devices: Vec<VolumeDevice>,
    /// Default image pull policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<Spanned<String>>,
    /// Default security options.
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    pub security_context: OptionBox<SecurityContext>,

    /// A name (meaningless on a template; dropped by tekton.dev/v1).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub name: OptionBox<Spanned<YamlValue>>,
    /// v1beta1 name of `computeResources`.
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub resources: OptionBox<Spanned<ResourceRequirements>>,
    /// Container ports (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub ports: OptionBox<Spanned<YamlValue>>,
    /// Liveness probe (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub liveness_probe: OptionBox<Spanned<YamlValue>>,
    /// Readiness probe (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub readiness_probe: OptionBox<Spanned<YamlValue>>,
    /// Startup probe (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub startup_probe: OptionBox<Spanned<YamlValue>>,
    /// Lifecycle hooks (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub lifecycle: OptionBox<Spanned<YamlValue>>,
    /// Termination message path (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub termination_message_path: OptionBox<Spanned<YamlValue>>,
    /// Termination message policy (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub termination_message_policy: OptionBox<Spanned<YamlValue>>,
    /// Keep stdin open (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub stdin: OptionBox<Spanned<YamlValue>>,
    /// Close stdin after one attach (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub stdin_once: OptionBox<Spanned<YamlValue>>,
    /// Allocate a TTY (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub tty: OptionBox<Spanned<YamlValue>>,
}

/// A container that runs beside the steps for the whole TaskRun (a database, a daemon, ...).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sidecar {
    /// Name of the sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// Container image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Spanned<String>>,
    /// Entrypoint (replaces the image's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<Spanned<String>>,
    /// Arguments to the entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Spanned<String>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<Spanned<String>>,
    /// Network ports the sidecar listens on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    /// Environment variables from ConfigMaps and Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// CPU and memory requests and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_resources: Option<Spanned<ResourceRequirements>>,
    /// Volumes to mount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Raw block devices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_devices: Vec<VolumeDevice>,
    /// Periodic liveness check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Spanned<Probe>>,
    /// Readiness check; steps wait until the sidecar is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Spanned<Probe>>,
    /// Startup check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Spanned<Probe>>,
    /// Hooks after start and before stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// File the termination message is read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_message_path: Option<String>,
    /// `File` or `FallbackToLogsOnError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_message_policy: Option<String>,
    /// `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<Spanned<String>>,
    /// Security options of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    /// Keep stdin open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<bool>,
    /// Close stdin after one attach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_once: Option<bool>,
    /// Allocate a TTY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// A script to run instead of `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<Spanned<String>>,
    /// Task workspaces this sidecar mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspaceUsage>,
    /// `Always` makes it a native Kubernetes sidecar (an init container that keeps running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<Spanned<String>>,

    /// v1beta1 name of `computeResources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub resources: Option<Spanned<ResourceRequirements>>,
}
