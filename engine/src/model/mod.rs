//! The typed Tekton model: Task, Pipeline, TaskRun, PipelineRun and StepAction (with the core
//! ConfigMap and Secret they use), following Tekton's Go API types field for field. The structs
//! hold both tekton.dev/v1 and v1beta1 fields (v1beta1-only ones are marked
//! `x-runnel-v1beta1` in the schema); [`convert::to_v1`] moves a v1beta1 resource to v1 shape.

pub mod boxed;
pub mod configmap;
pub mod convert;
pub mod k8s;
pub mod meta;
pub mod param;
pub mod pipeline;
pub mod result;
pub mod run;
pub mod step;
pub mod stepaction;
pub mod task;
pub mod workspace;

use std::fmt;

pub use boxed::OptionBox;
pub use configmap::{ConfigMap, Secret};
pub use k8s::YamlValue;
pub use meta::ObjectMeta;
pub use param::{Param, ParamSpec, ParamType, ParamValue};
pub use pipeline::{Pipeline, PipelineSpec, PipelineTask, TaskRef, WhenExpression};
pub use run::{PipelineRun, PipelineRunSpec, TaskRun, TaskRunSpec};
pub use step::{OnError, Sidecar, Step, StepTemplate};
pub use stepaction::{StepAction, StepActionSpec};
pub use task::{Task, TaskSpec};

use crate::Spanned;
use crate::yaml::Node;
use crate::yaml::de::{DeError, from_node};

/// The API version a document was written in. Tekton resources come in tekton.dev/v1 and
/// tekton.dev/v1beta1 (StepAction: v1beta1, also read from v1alpha1); ConfigMap and Secret
/// are core `v1`, reported as [`ApiVersion::V1`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApiVersion {
    V1,
    V1beta1,
}

impl ApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1",
            ApiVersion::V1beta1 => "v1beta1",
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of resource runnel reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Task,
    Pipeline,
    TaskRun,
    PipelineRun,
    StepAction,
    ConfigMap,
    Secret,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Task,
        Kind::Pipeline,
        Kind::TaskRun,
        Kind::PipelineRun,
        Kind::StepAction,
        Kind::ConfigMap,
        Kind::Secret,
    ];

    /// The `kind:` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Task => "Task",
            Kind::Pipeline => "Pipeline",
            Kind::TaskRun => "TaskRun",
            Kind::PipelineRun => "PipelineRun",
            Kind::StepAction => "StepAction",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }
    }

    /// Whether this is a Tekton kind (rather than a core Kubernetes one).
    pub fn is_tekton(self) -> bool {
        !matches!(self, Kind::ConfigMap | Kind::Secret)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which resource an `apiVersion`/`kind` pair names, if runnel reads it.
pub fn identify(api_version: &str, kind: &str) -> Option<(ApiVersion, Kind)> {
    let kind = Kind::ALL.into_iter().find(|k| k.as_str() == kind)?;
    let version = match (api_version, kind) {
        ("v1", Kind::ConfigMap | Kind::Secret) => ApiVersion::V1,
        (_, Kind::ConfigMap | Kind::Secret) => return None,
        ("tekton.dev/v1beta1", _) => ApiVersion::V1beta1,
        // StepAction: v1alpha1 has the v1beta1 shape; Tekton serves no tekton.dev/v1 one.
        ("tekton.dev/v1alpha1", Kind::StepAction) => ApiVersion::V1beta1,
        ("tekton.dev/v1", Kind::StepAction) => return None,
        ("tekton.dev/v1", _) => ApiVersion::V1,
        _ => return None,
    };
    Some((version, kind))
}

/// A typed resource of any kind.
// Resources are few and long-lived, so the size of the largest variant does not matter and
// unboxed variants keep matching on them simple.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    Task(Task),
    Pipeline(Pipeline),
    TaskRun(TaskRun),
    PipelineRun(PipelineRun),
    StepAction(StepAction),
    ConfigMap(ConfigMap),
    Secret(Secret),
}

impl Resource {
    /// Reads a document (already identified as `kind`) into the typed model.
    pub fn from_node(kind: Kind, node: &Node) -> Result<Resource, DeError> {
        Ok(match kind {
            Kind::Task => Resource::Task(from_node(node)?),
            Kind::Pipeline => Resource::Pipeline(from_node(node)?),
            Kind::TaskRun => Resource::TaskRun(from_node(node)?),
            Kind::PipelineRun => Resource::PipelineRun(from_node(node)?),
            Kind::StepAction => Resource::StepAction(from_node(node)?),
            Kind::ConfigMap => Resource::ConfigMap(from_node(node)?),
            Kind::Secret => Resource::Secret(from_node(node)?),
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Resource::Task(_) => Kind::Task,
            Resource::Pipeline(_) => Kind::Pipeline,
            Resource::TaskRun(_) => Kind::TaskRun,
            Resource::PipelineRun(_) => Kind::PipelineRun,
            Resource::StepAction(_) => Kind::StepAction,
            Resource::ConfigMap(_) => Kind::ConfigMap,
            Resource::Secret(_) => Kind::Secret,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Resource::Task(r) => &r.metadata,
            Resource::Pipeline(r) => &r.metadata,
            Resource::TaskRun(r) => &r.metadata,
            Resource::PipelineRun(r) => &r.metadata,
            Resource::StepAction(r) => &r.metadata,
            Resource::ConfigMap(r) => &r.metadata,
            Resource::Secret(r) => &r.metadata,
        }
    }

    /// `metadata.name`, when given (runs often have only `generateName`).
    pub fn name(&self) -> Option<&Spanned<String>> {
        self.metadata().name.as_ref()
    }
}

#[cfg(test)]
mod tests;
