//! Kubernetes `metadata` of a resource. runnel reads the name, namespace, labels and
//! annotations; the fields the API server fills in (`uid`, `resourceVersion`, ...) are accepted
//! as loose values so copies of live objects load, but they mean nothing to runnel.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::k8s::YamlValue;
use crate::Spanned;

/// Standard Kubernetes object metadata.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    /// Name of the resource, unique in its namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// Prefix of a name the server generates when `name` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<Spanned<String>>,
    /// Namespace of the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Spanned<String>>,
    /// Key/value labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Key/value annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<YamlValue>,
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<YamlValue>,
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<YamlValue>,
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_link: Option<YamlValue>,
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<YamlValue>,
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<YamlValue>,
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<YamlValue>,
    /// Objects this one belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_references: Option<YamlValue>,
    /// Finalizers that must run before deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<YamlValue>,
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_fields: Option<YamlValue>,
}

impl ObjectMeta {
    /// The name, or the `generateName` prefix when there is no name.
    pub fn display_name(&self) -> Option<&str> {
        self.name
            .as_ref()
            .or(self.generate_name.as_ref())
            .map(|n| n.as_str())
    }
}
