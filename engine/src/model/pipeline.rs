//! The Pipeline: a graph of pipeline tasks (ordered by `runAfter` and result references), a
//! `finally` list, and the params, workspaces and results of the whole. Also the references
//! shared with runs: [`TaskRef`], [`PipelineRef`] and `when` guards ([`WhenExpression`]).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::boxed::OptionBox;
use super::k8s::YamlValue;
use super::meta::ObjectMeta;
use super::param::{Param, ParamSpec};
use super::result::PipelineResult;
use super::step::on_error_schema;
use super::task::{TaskSpec, task_spec_struct};
use super::workspace::{PipelineWorkspaceDeclaration, WorkspacePipelineTaskBinding};
use crate::Spanned;

/// A graph of tasks with the params, workspaces and results they share.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pipeline {
    /// `tekton.dev/v1` (or `tekton.dev/v1beta1`).
    pub api_version: Spanned<String>,
    /// `Pipeline`.
    pub kind: Spanned<String>,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// The tasks and what they share.
    pub spec: PipelineSpec,
}

/// The body of a Pipeline.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineSpec {
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<Spanned<String>>,
    /// What the Pipeline does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The tasks, run as their dependencies allow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<Spanned<PipelineTask>>,
    /// Params the Pipeline takes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamSpec>,
    /// Workspaces the Pipeline needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<PipelineWorkspaceDeclaration>,
    /// Results of the Pipeline, from its tasks' results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<PipelineResult>,
    /// Tasks that run after all others, whatever their outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finally: Vec<Spanned<PipelineTask>>,

    /// PipelineResources (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub resources: Option<Spanned<YamlValue>>,
}

impl PipelineSpec {
    /// Every task, `tasks` first, then `finally`.
    pub fn all_tasks(&self) -> impl Iterator<Item = &Spanned<PipelineTask>> {
        self.tasks.iter().chain(self.finally.iter())
    }

    /// The task (in `tasks` or `finally`) with this name.
    pub fn task(&self, name: &str) -> Option<&Spanned<PipelineTask>> {
        self.all_tasks().find(|t| t.name.as_str() == name)
    }
}

/// One task of a Pipeline: a Task by reference or embedded, with its inputs and ordering.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineTask {
    /// Name of the task in the Pipeline, used by `runAfter` and `$(tasks.<name>…)`.
    pub name: Spanned<String>,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<Spanned<String>>,
    /// What the task does here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The Task to run, by reference.
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    pub task_ref: OptionBox<Spanned<TaskRef>>,
    /// The Task to run, embedded.
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    pub task_spec: OptionBox<Spanned<EmbeddedTask>>,
    /// Conditions under which the task runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<WhenExpression>,
    /// How many times to retry a failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Spanned<i64>>,
    /// Tasks that must finish first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_after: Vec<Spanned<String>>,
    /// Params passed to the Task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// Fan the task out over combinations of param values.
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    pub matrix: OptionBox<Spanned<Matrix>>,
    /// Pipeline workspaces bound to the Task's workspaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspacePipelineTaskBinding>,
    /// Maximum duration of the task's run (`10m`, `1h30m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Spanned<String>>,
    /// A Pipeline to run as this task (pipelines in pipelines; alpha in Tekton).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    pub pipeline_ref: OptionBox<Spanned<YamlValue>>,
    /// An embedded Pipeline to run as this task (alpha in Tekton).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    pub pipeline_spec: OptionBox<Spanned<YamlValue>>,
    /// `stopAndFail` (default) or `continue` (or a `$(params…)` reference): whether the
    /// task's failure fails the Pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "on_error_schema")]
    pub on_error: Option<Spanned<String>>,

    /// PipelineResources (dropped by tekton.dev/v1; ignored).
    #[serde(default, skip_serializing_if = "OptionBox::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub resources: OptionBox<Spanned<YamlValue>>,
}

/// Labels and annotations for the TaskRun of a pipeline task.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineTaskMetadata {
    /// Labels added to the run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to the run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

task_spec_struct! {
    /// A Task spec embedded in a pipeline task, with metadata for its run; for a custom task,
    /// `apiVersion`, `kind` and `spec` instead.
    #[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct EmbeddedTask {
        /// API version of a custom task.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub api_version: Option<Spanned<String>>,
        /// Kind of a custom task.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub kind: Option<Spanned<String>>,
        /// Spec of a custom task.
        #[serde(default, skip_serializing_if = "OptionBox::is_none")]
        pub spec: OptionBox<Spanned<YamlValue>>,
        /// Labels and annotations for the TaskRun.
        #[serde(default, skip_serializing_if = "OptionBox::is_none")]
        pub metadata: OptionBox<PipelineTaskMetadata>,
    }
}

impl EmbeddedTask {
    /// Whether this embeds a custom task (`apiVersion`/`kind`) rather than a Task spec.
    pub fn is_custom(&self) -> bool {
        self.api_version.is_some() || self.kind.is_some()
    }

    /// The embedded Task spec.
    pub fn to_task_spec(&self) -> TaskSpec {
        TaskSpec {
            params: self.params.clone(),
            display_name: self.display_name.clone(),
            description: self.description.clone(),
            steps: self.steps.clone(),
            volumes: self.volumes.clone(),
            step_template: self.step_template.clone(),
            sidecars: self.sidecars.clone(),
            workspaces: self.workspaces.clone(),
            results: self.results.clone(),
            resources: self.resources.clone(),
        }
    }

    /// Replaces the Task spec fields, keeping metadata and custom-task fields.
    /// The task spec part, moved out.
    pub fn into_task_spec(self) -> TaskSpec {
        TaskSpec {
            params: self.params,
            display_name: self.display_name,
            description: self.description,
            steps: self.steps,
            volumes: self.volumes,
            step_template: self.step_template,
            sidecars: self.sidecars,
            workspaces: self.workspaces,
            results: self.results,
            resources: self.resources,
        }
    }

    pub fn set_task_spec(&mut self, spec: TaskSpec) {
        let TaskSpec {
            params,
            display_name,
            description,
            steps,
            volumes,
            step_template,
            sidecars,
            workspaces,
            results,
            resources,
        } = spec;
        self.params = params;
        self.display_name = display_name;
        self.description = description;
        self.steps = steps;
        self.volumes = volumes;
        self.step_template = step_template;
        self.sidecars = sidecars;
        self.workspaces = workspaces;
        self.results = results;
        self.resources = resources;
    }
}

/// Fan-out of a pipeline task over param values.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Matrix {
    /// Array params whose combinations each get a run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// Extra combinations, or extra params added to matching ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<IncludeParams>,
}

/// One `matrix.include` entry.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IncludeParams {
    /// Name of the combination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// String params of the combination.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

/// A reference to a Task: by name, or through a remote resolver.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskRef {
    /// Name of the Task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// `Task` (default), or the kind of a custom task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Spanned<String>>,
    /// API version of a custom task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<Spanned<String>>,
    /// Remote resolver (`git`, `bundles`, `hub`, `http`, `cluster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<Spanned<String>>,
    /// Params for the resolver.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,

    /// OCI bundle holding the Task (v1beta1; tekton.dev/v1 uses `resolver: bundles`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub bundle: Option<Spanned<String>>,
}

/// A reference to a Pipeline: by name, or through a remote resolver.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineRef {
    /// Name of the Pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// API version of the referenced resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<Spanned<String>>,
    /// Remote resolver (`git`, `bundles`, `hub`, `http`, `cluster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<Spanned<String>>,
    /// Params for the resolver.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,

    /// OCI bundle holding the Pipeline (v1beta1; tekton.dev/v1 uses `resolver: bundles`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-runnel-v1beta1" = true))]
    pub bundle: Option<Spanned<String>>,
}

/// A condition: `input` is (`in`) or is not (`notin`) one of `values`, or a CEL expression.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WhenExpression {
    /// The value tested, usually a `$(params…)` or `$(tasks…results…)` reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Spanned<String>>,
    /// `in` or `notin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Spanned<String>>,
    /// The values `input` is compared with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Spanned<String>>,
    /// A CEL expression (instead of input/operator/values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cel: Option<Spanned<String>>,
}
