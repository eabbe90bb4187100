//! Workspaces: storage a Task or Pipeline declares ([`WorkspaceDeclaration`],
//! [`PipelineWorkspaceDeclaration`]), how pipeline tasks and steps use it
//! ([`WorkspacePipelineTaskBinding`], [`WorkspaceUsage`]) and what a run binds to it
//! ([`WorkspaceBinding`]: an emptyDir, a PVC, a ConfigMap, a Secret, ...).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::k8s::{
    ConfigMapVolumeSource, CsiVolumeSource, EmptyDirVolumeSource,
    PersistentVolumeClaimVolumeSource, ProjectedVolumeSource, SecretVolumeSource, YamlValue,
};
use crate::Spanned;

/// A workspace a Task declares.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceDeclaration {
    /// Name of the workspace, used as `$(workspaces.<name>.path)`.
    pub name: Spanned<String>,
    /// What the workspace is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where to mount it in steps (default `/workspace/<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<Spanned<String>>,
    /// Mount it read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// A run may leave it unbound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

impl WorkspaceDeclaration {
    /// Where the workspace is mounted: `mountPath`, or `/workspace/<name>`.
    pub fn effective_mount_path(&self) -> String {
        match &self.mount_path {
            Some(p) if !p.is_empty() => p.value.clone(),
            _ => format!("/workspace/{}", self.name.as_str()),
        }
    }
}

/// A workspace a step or sidecar uses, mounted at a path of its own.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceUsage {
    /// Name of the Task's workspace.
    pub name: Spanned<String>,
    /// Where to mount it in this container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<Spanned<String>>,
}

/// A workspace a Pipeline declares.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineWorkspaceDeclaration {
    /// Name of the workspace.
    pub name: Spanned<String>,
    /// What the workspace is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A run may leave it unbound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Which Pipeline workspace a pipeline task's workspace is bound to.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspacePipelineTaskBinding {
    /// Name of the Task's workspace.
    pub name: Spanned<String>,
    /// Name of the Pipeline's workspace (default: the same name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<Spanned<String>>,
    /// Directory within the Pipeline workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<Spanned<String>>,
}

/// The storage a run binds to a workspace; exactly one source is set.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceBinding {
    /// Name of the workspace being bound.
    pub name: Spanned<String>,
    /// Directory within the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<Spanned<String>>,
    /// A PVC created for the run from this template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_claim_template: Option<Spanned<YamlValue>>,
    /// An existing PersistentVolumeClaim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<Spanned<PersistentVolumeClaimVolumeSource>>,
    /// A directory that lives as long as the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<Spanned<EmptyDirVolumeSource>>,
    /// A ConfigMap's keys as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<Spanned<ConfigMapVolumeSource>>,
    /// A Secret's keys as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Spanned<SecretVolumeSource>>,
    /// Several sources projected into one directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected: Option<Spanned<ProjectedVolumeSource>>,
    /// A CSI driver's volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi: Option<Spanned<CsiVolumeSource>>,
}
