//! The core/v1 ConfigMap and Secret, which Tekton examples ship beside their Tasks so that
//! workspaces, env vars and volumes can use them. runnel reads their data to bind those
//! locally; `data` of a Secret is base64, `stringData` plain text.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;
use crate::Spanned;

/// Key/value configuration (core/v1).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMap {
    /// `v1`.
    pub api_version: Spanned<String>,
    /// `ConfigMap`.
    pub kind: Spanned<String>,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// Text values by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, Spanned<String>>,
    /// Base64-encoded binary values by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub binary_data: BTreeMap<String, Spanned<String>>,
    /// Whether the data can no longer change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

/// Sensitive key/value data (core/v1).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secret {
    /// `v1`.
    pub api_version: Spanned<String>,
    /// `Secret`.
    pub kind: Spanned<String>,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// `Opaque` (default), `kubernetes.io/basic-auth`, `kubernetes.io/ssh-auth`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<Spanned<String>>,
    /// Base64-encoded values by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, Spanned<String>>,
    /// Plain-text values by key (merged into `data`, winning over it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, Spanned<String>>,
    /// Whether the data can no longer change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}
