//! The Task: a list of steps run in order in one pod, with the params, workspaces, results,
//! volumes, step template and sidecars they use. [`TaskSpec`] is also what a TaskRun embeds;
//! a pipeline task's embedded spec ([`super::pipeline::EmbeddedTask`]) has the same fields
//! plus metadata, which is why the field list is written once in a macro.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;
use super::param::ParamSpec;
use super::result::TaskResult;
use super::workspace::WorkspaceDeclaration;
use crate::Spanned;

/// Declares a struct with every field of a TaskSpec after the given extra fields. Used for
/// [`TaskSpec`] and the pipeline task's embedded spec (serde's `flatten` would hide the field
/// list from the YAML deserializer and the schema).
macro_rules! task_spec_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($extra:tt)* }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($extra)*
            /// Params the Task takes.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub params: Vec<$crate::model::param::ParamSpec>,
            /// Human-readable name.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub display_name: Option<$crate::Spanned<String>>,
            /// What the Task does.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            /// The containers to run, in order.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub steps: Vec<$crate::Spanned<$crate::model::step::Step>>,
            /// Volumes the steps and sidecars can mount.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub volumes: Vec<$crate::model::k8s::Volume>,
            /// Settings every step starts from.
            #[serde(default, skip_serializing_if = "crate::model::OptionBox::is_none")]
            pub step_template: $crate::model::OptionBox<$crate::model::step::StepTemplate>,
            /// Containers that run beside the steps.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub sidecars: Vec<$crate::Spanned<$crate::model::step::Sidecar>>,
            /// Workspaces the Task needs.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub workspaces: Vec<$crate::model::workspace::WorkspaceDeclaration>,
            /// Results the Task produces.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub results: Vec<$crate::model::result::TaskResult>,
            /// PipelineResources (dropped by tekton.dev/v1; ignored).
            #[serde(default, skip_serializing_if = "crate::model::OptionBox::is_none")]
            #[schemars(extend("x-runnel-v1beta1" = true))]
            pub resources: $crate::model::OptionBox<$crate::Spanned<$crate::model::k8s::YamlValue>>,
        }
    };
}

pub(crate) use task_spec_struct;

/// A reusable list of steps with its params, workspaces and results.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Task {
    /// `tekton.dev/v1` (or `tekton.dev/v1beta1`).
    pub api_version: Spanned<String>,
    /// `Task`.
    pub kind: Spanned<String>,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// What the Task does.
    pub spec: TaskSpec,
}

task_spec_struct! {
    /// The body of a Task.
    #[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct TaskSpec {}
}

impl TaskSpec {
    /// The declared param with this name.
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name.as_str() == name)
    }

    /// The declared result with this name.
    pub fn result(&self, name: &str) -> Option<&TaskResult> {
        self.results.iter().find(|r| r.name.as_str() == name)
    }

    /// The declared workspace with this name.
    pub fn workspace(&self, name: &str) -> Option<&WorkspaceDeclaration> {
        self.workspaces.iter().find(|w| w.name.as_str() == name)
    }
}
