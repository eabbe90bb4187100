//! The StepAction: a reusable step (image, command or script, env, params and results) that a
//! Task's step runs through `ref`. Tekton serves it as tekton.dev/v1alpha1 and
//! tekton.dev/v1beta1, with the same shape in both.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::k8s::{EnvVar, SecurityContext, VolumeMount};
use super::meta::ObjectMeta;
use super::param::ParamSpec;
use super::result::StepResult;
use crate::Spanned;

/// A reusable step.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepAction {
    /// `tekton.dev/v1beta1` (or `tekton.dev/v1alpha1`).
    pub api_version: Spanned<String>,
    /// `StepAction`.
    pub kind: Spanned<String>,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// What the step runs.
    pub spec: StepActionSpec,
}

/// The body of a StepAction.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepActionSpec {
    /// What the StepAction does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Container image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Spanned<String>>,
    /// Entrypoint (replaces the image's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<Spanned<String>>,
    /// Arguments to the entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Spanned<String>>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// A script to run instead of `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<Spanned<String>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<Spanned<String>>,
    /// Params the StepAction takes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamSpec>,
    /// Results the StepAction produces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<StepResult>,
    /// Security options of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    /// Volumes to mount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
}
