//! The Kubernetes core types that Tekton steps, sidecars and pod templates embed: env vars,
//! resource requirements, security contexts, volumes and their mounts, ports, probes and the
//! pod template. Deep leaves that runnel does not interpret (affinity, tolerations, ...) are
//! kept as a generic [`YamlValue`], so they are accepted but their spelling is not checked.

use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

use crate::Spanned;

/// Any YAML value, for deep Kubernetes leaves that runnel keeps but does not interpret.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum YamlValue {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<YamlValue>),
    Map(BTreeMap<String, YamlValue>),
}

impl YamlValue {
    pub fn is_null(&self) -> bool {
        matches!(self, YamlValue::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            YamlValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, YamlValue>> {
        match self {
            YamlValue::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[YamlValue]> {
        match self {
            YamlValue::List(l) => Some(l),
            _ => None,
        }
    }

    /// The value under `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&YamlValue> {
        self.as_map()?.get(key)
    }
}

impl<'de> Deserialize<'de> for YamlValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(YamlValueVisitor)
    }
}

struct YamlValueVisitor;

impl<'de> Visitor<'de> for YamlValueVisitor {
    type Value = YamlValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<YamlValue, E> {
        Ok(YamlValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<YamlValue, E> {
        Ok(YamlValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<YamlValue, D::Error> {
        YamlValue::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<YamlValue, E> {
        Ok(YamlValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<YamlValue, E> {
        Ok(YamlValue::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<YamlValue, E> {
        Ok(i64::try_from(v).map_or(YamlValue::Float(v as f64), YamlValue::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<YamlValue, E> {
        Ok(YamlValue::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<YamlValue, E> {
        Ok(YamlValue::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<YamlValue, E> {
        Ok(YamlValue::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YamlValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(YamlValue::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YamlValue, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some((k, v)) = map.next_entry::<String, YamlValue>()? {
            entries.insert(k, v);
        }
        Ok(YamlValue::Map(entries))
    }
}

impl Serialize for YamlValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            YamlValue::Null => s.serialize_unit(),
            YamlValue::Bool(b) => s.serialize_bool(*b),
            YamlValue::Int(i) => s.serialize_i64(*i),
            YamlValue::Float(f) => s.serialize_f64(*f),
            YamlValue::String(v) => s.serialize_str(v),
            YamlValue::List(l) => l.serialize(s),
            YamlValue::Map(m) => m.serialize(s),
        }
    }
}

impl JsonSchema for YamlValue {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "YamlValue".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        Schema::from(true)
    }
}

/// A Kubernetes resource quantity (`500m`, `1Gi`, `2`): a string or a number, kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Quantity(pub String);

impl Quantity {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as `500m`, `1Gi` or `2`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Ok(Quantity(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl JsonSchema for Quantity {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A resource quantity such as `500m`, `1Gi` or `2`.",
            "type": ["string", "number"]
        })
    }
}

/// An environment variable of a container.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVar {
    /// Name of the variable.
    pub name: Spanned<String>,
    /// Value of the variable; may use `$(…)` substitutions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Spanned<String>>,
    /// Where to read the value from instead of `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// A source for an environment variable's value.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVarSource {
    /// A field of the pod (`metadata.name`, `status.podIP`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
    /// A resource limit or request of a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
    /// A key of a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeySelector>,
    /// A key of a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeySelector>,
    /// A key of an env file in a volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_key_ref: Option<YamlValue>,
}

/// A key of a ConfigMap or Secret.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeySelector {
    /// Name of the ConfigMap or Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// The key to select.
    pub key: Spanned<String>,
    /// Whether the ConfigMap/Secret or its key may be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Selects a field of the pod.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectFieldSelector {
    /// Version of the schema `fieldPath` is written in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Path of the field to select.
    pub field_path: Spanned<String>,
}

/// Selects a resource of a container.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceFieldSelector {
    /// Container name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Resource to select (`limits.cpu`, ...).
    pub resource: Spanned<String>,
    /// Output format of the exposed resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divisor: Option<Quantity>,
}

/// Environment variables taken from a whole ConfigMap or Secret.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvFromSource {
    /// Prefix prepended to each key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Spanned<String>>,
    /// The ConfigMap to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<EnvFromReference>,
    /// The Secret to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<EnvFromReference>,
}

/// A ConfigMap or Secret named by `envFrom`.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvFromReference {
    /// Name of the ConfigMap or Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// Whether it may be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// CPU, memory and other resources a container asks for and is limited to.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceRequirements {
    /// Maximum amounts (`cpu`, `memory`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Spanned<Quantity>>,
    /// Minimum amounts (`cpu`, `memory`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Spanned<Quantity>>,
    /// Dynamic resource claims used by the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<ResourceClaim>,
}

impl ResourceRequirements {
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.requests.is_empty() && self.claims.is_empty()
    }
}

/// A dynamic resource claim of a container.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceClaim {
    /// Name of the claim in the pod's `resourceClaims`.
    pub name: Spanned<String>,
    /// The request within the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

/// Security options of a container.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityContext {
    /// Linux capabilities to add or drop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// Run the container privileged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<Spanned<bool>>,
    /// SELinux context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub se_linux_options: Option<YamlValue>,
    /// Windows-specific options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_options: Option<YamlValue>,
    /// UID to run the entrypoint as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<Spanned<i64>>,
    /// GID to run the entrypoint as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<Spanned<i64>>,
    /// Refuse to start as root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    /// Mount the root filesystem read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_root_filesystem: Option<bool>,
    /// Whether a process may gain more privileges than its parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_privilege_escalation: Option<bool>,
    /// Proc mount type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_mount: Option<String>,
    /// Seccomp options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<YamlValue>,
    /// AppArmor options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_armor_profile: Option<YamlValue>,
}

/// Linux capabilities to add and drop.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Capabilities {
    /// Capabilities to add.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    /// Capabilities to drop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
}

/// Where a volume is mounted in a container.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeMount {
    /// Name of the volume.
    pub name: Spanned<String>,
    /// Path in the container.
    pub mount_path: Spanned<String>,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Make a read-only mount recursively read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive_read_only: Option<String>,
    /// Path within the volume to mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<Spanned<String>>,
    /// `subPath` with `$(VAR)` expansion from the container's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path_expr: Option<Spanned<String>>,
    /// Mount propagation mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_propagation: Option<String>,
}

/// A raw block device of a container.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeDevice {
    /// Name of the volume (a persistentVolumeClaim).
    pub name: Spanned<String>,
    /// Path of the device in the container.
    pub device_path: Spanned<String>,
}

/// A network port of a container.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerPort {
    /// Name of the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port number in the container.
    pub container_port: Spanned<i64>,
    /// Port number on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i64>,
    /// `TCP`, `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Host IP to bind to.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "hostIP")]
    pub host_ip: Option<String>,
}

/// A health check of a container.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    /// Run a command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// Send an HTTP GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<YamlValue>,
    /// Open a TCP connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<YamlValue>,
    /// Call a gRPC health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<YamlValue>,
    /// Seconds after start before the first probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i64>,
    /// Seconds after which a probe times out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// Seconds between probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i64>,
    /// Consecutive successes to count as healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i64>,
    /// Consecutive failures to count as unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i64>,
    /// Grace period when the probe fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
}

/// A command run by a probe or lifecycle hook.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecAction {
    /// The command and its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<Spanned<String>>,
}

/// Hooks run after a container starts and before it stops.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lifecycle {
    /// Run after the container is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_start: Option<YamlValue>,
    /// Run before the container is terminated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<YamlValue>,
    /// Signal sent to stop the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// A reference to an object in the same namespace, by name.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalObjectReference {
    /// Name of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
}

/// A volume of a pod: a name and exactly one source.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Volume {
    /// Name of the volume, used by volume mounts.
    pub name: Spanned<String>,
    /// A temporary directory that lives as long as the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<Spanned<EmptyDirVolumeSource>>,
    /// A directory of the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<Spanned<HostPathVolumeSource>>,
    /// The keys of a ConfigMap, as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<Spanned<ConfigMapVolumeSource>>,
    /// The keys of a Secret, as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Spanned<SecretVolumeSource>>,
    /// A PersistentVolumeClaim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<Spanned<PersistentVolumeClaimVolumeSource>>,
    /// Several sources projected into one directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected: Option<Spanned<ProjectedVolumeSource>>,
    /// A CSI driver's volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi: Option<Spanned<CsiVolumeSource>>,
    /// Pod fields as files.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "downwardAPI"
    )]
    pub downward_api: Option<Spanned<YamlValue>>,
    /// An AWS EBS disk (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_elastic_block_store: Option<Spanned<YamlValue>>,
    /// An Azure disk (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_disk: Option<Spanned<YamlValue>>,
    /// An Azure file share (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_file: Option<Spanned<YamlValue>>,
    /// A CephFS mount (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cephfs: Option<Spanned<YamlValue>>,
    /// A Cinder volume (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cinder: Option<Spanned<YamlValue>>,
    /// A generic ephemeral volume (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<Spanned<YamlValue>>,
    /// A Fibre Channel volume (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fc: Option<Spanned<YamlValue>>,
    /// A FlexVolume (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flex_volume: Option<Spanned<YamlValue>>,
    /// A Flocker volume (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flocker: Option<Spanned<YamlValue>>,
    /// A GCE persistent disk (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gce_persistent_disk: Option<Spanned<YamlValue>>,
    /// A git repository (deprecated in Kubernetes; not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_repo: Option<Spanned<YamlValue>>,
    /// A GlusterFS mount (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glusterfs: Option<Spanned<YamlValue>>,
    /// An OCI image as a volume (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Spanned<YamlValue>>,
    /// An iSCSI disk (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iscsi: Option<Spanned<YamlValue>>,
    /// An NFS mount (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfs: Option<Spanned<YamlValue>>,
    /// A Photon persistent disk (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photon_persistent_disk: Option<Spanned<YamlValue>>,
    /// A Portworx volume (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portworx_volume: Option<Spanned<YamlValue>>,
    /// A Quobyte mount (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quobyte: Option<Spanned<YamlValue>>,
    /// A Rados block device (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rbd: Option<Spanned<YamlValue>>,
    /// A ScaleIO volume (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "scaleIO")]
    pub scale_io: Option<Spanned<YamlValue>>,
    /// A StorageOS volume (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storageos: Option<Spanned<YamlValue>>,
    /// A vSphere volume (not supported by runnel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vsphere_volume: Option<Spanned<YamlValue>>,
}

/// An `emptyDir` volume source.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmptyDirVolumeSource {
    /// `""` (disk) or `Memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// Maximum size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<Quantity>,
}

/// A `hostPath` volume source.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostPathVolumeSource {
    /// Path on the host.
    pub path: Spanned<String>,
    /// Expected type of the path (`Directory`, `File`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub kind: Option<String>,
}

/// A key projected to a file.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyToPath {
    /// The key.
    pub key: Spanned<String>,
    /// Relative path of the file.
    pub path: Spanned<String>,
    /// File mode bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<i64>,
}

/// A `configMap` volume source.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMapVolumeSource {
    /// Name of the ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// Keys to project (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// Default file mode bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i64>,
    /// Whether the ConfigMap may be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A `secret` volume source.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretVolumeSource {
    /// Name of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<Spanned<String>>,
    /// Keys to project (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// Default file mode bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i64>,
    /// Whether the Secret may be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A `persistentVolumeClaim` volume source.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistentVolumeClaimVolumeSource {
    /// Name of the claim.
    pub claim_name: Spanned<String>,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// A `projected` volume source.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectedVolumeSource {
    /// The projected sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<VolumeProjection>,
    /// Default file mode bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i64>,
}

/// One source of a projected volume.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeProjection {
    /// Keys of a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ProjectedObject>,
    /// Keys of a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ProjectedObject>,
    /// Pod fields.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "downwardAPI"
    )]
    pub downward_api: Option<YamlValue>,
    /// A service account token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_token: Option<ServiceAccountTokenProjection>,
    /// A ClusterTrustBundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_trust_bundle: Option<YamlValue>,
    /// A pod certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_certificate: Option<YamlValue>,
}

/// A ConfigMap or Secret in a projected volume.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectedObject {
    /// Name of the ConfigMap or Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// Keys to project (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// Whether it may be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A service account token in a projected volume.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccountTokenProjection {
    /// Intended audience of the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Spanned<String>>,
    /// Requested lifetime in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<i64>,
    /// Path of the token file.
    pub path: Spanned<String>,
}

/// A `csi` volume source.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CsiVolumeSource {
    /// Name of the CSI driver.
    pub driver: Spanned<String>,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Filesystem type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
    /// Driver-specific attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_attributes: BTreeMap<String, Spanned<String>>,
    /// Secret passed to the driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_publish_secret_ref: Option<LocalObjectReference>,
}

/// Pod settings for the pods of a TaskRun (Tekton's `pod.Template`).
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodTemplate {
    /// Labels a node must have to run the pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Environment variables added to every step and sidecar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Taints the pod tolerates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<YamlValue>,
    /// Scheduling constraints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<YamlValue>,
    /// Pod-level security attributes (`runAsUser`, `fsGroup`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<Spanned<YamlValue>>,
    /// Volumes added to the pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// RuntimeClass to run the pod with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
    /// Whether to mount the service account token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
    /// DNS policy of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_policy: Option<String>,
    /// DNS settings of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<YamlValue>,
    /// Whether service environment variables are injected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_service_links: Option<bool>,
    /// Priority class of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Scheduler that places the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// Secrets for pulling images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Extra `/etc/hosts` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_aliases: Vec<YamlValue>,
    /// Use the host's network namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    /// Use the host's user namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_users: Option<bool>,
    /// How pods spread across topology domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<YamlValue>,
}
