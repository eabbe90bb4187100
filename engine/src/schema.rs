//! JSON Schemas generated from the model types. The structural pass validates documents with
//! them, and the same schemas are checked in under `schemas/` for editors (a test fails when
//! the checked-in files drift from the types). tekton.dev/v1 schemas leave out the fields that
//! only v1beta1 has (those the model marks `x-runnel-v1beta1`).

use std::sync::OnceLock;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::model::{ApiVersion, Kind};

/// The marker the model puts on fields that only tekton.dev/v1beta1 has.
const V1BETA1_MARK: &str = "x-runnel-v1beta1";

/// Every (version, kind) that has a schema, with its file name under `schemas/`.
pub const SCHEMAS: &[(ApiVersion, Kind, &str)] = &[
    (ApiVersion::V1, Kind::Task, "v1/task.json"),
    (ApiVersion::V1, Kind::Pipeline, "v1/pipeline.json"),
    (ApiVersion::V1, Kind::TaskRun, "v1/taskrun.json"),
    (ApiVersion::V1, Kind::PipelineRun, "v1/pipelinerun.json"),
    (ApiVersion::V1, Kind::StepAction, "v1/stepaction.json"),
    (ApiVersion::V1beta1, Kind::Task, "v1beta1/task.json"),
    (ApiVersion::V1beta1, Kind::Pipeline, "v1beta1/pipeline.json"),
    (ApiVersion::V1beta1, Kind::TaskRun, "v1beta1/taskrun.json"),
    (
        ApiVersion::V1beta1,
        Kind::PipelineRun,
        "v1beta1/pipelinerun.json",
    ),
    (
        ApiVersion::V1beta1,
        Kind::StepAction,
        "v1beta1/stepaction.json",
    ),
    (ApiVersion::V1, Kind::ConfigMap, "core/configmap.json"),
    (ApiVersion::V1, Kind::Secret, "core/secret.json"),
];

fn root_for<T: JsonSchema>() -> Value {
    SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// Generates the schema of one kind in one version.
pub fn generate(version: ApiVersion, kind: Kind) -> Value {
    use crate::model::*;
    let mut schema = match kind {
        Kind::Task => root_for::<task::Task>(),
        Kind::Pipeline => root_for::<pipeline::Pipeline>(),
        Kind::TaskRun => root_for::<run::TaskRun>(),
        Kind::PipelineRun => root_for::<run::PipelineRun>(),
        Kind::StepAction => root_for::<stepaction::StepAction>(),
        Kind::ConfigMap => root_for::<configmap::ConfigMap>(),
        Kind::Secret => root_for::<configmap::Secret>(),
    };
    if version == ApiVersion::V1 {
        strip_v1beta1_fields(&mut schema);
    }
    let api_version = match (kind, version) {
        (Kind::ConfigMap | Kind::Secret, _) => "v1",
        (_, ApiVersion::V1) => "tekton.dev/v1",
        (_, ApiVersion::V1beta1) => "tekton.dev/v1beta1",
    };
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("apiVersion".into(), json!({ "const": api_version }));
        props.insert("kind".into(), json!({ "const": kind.as_str() }));
    }
    schema
}

/// Removes every property marked v1beta1-only, wherever it is.
fn strip_v1beta1_fields(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get_mut("properties") {
                let dropped: Vec<String> = props
                    .iter()
                    .filter(|(_, p)| p.get(V1BETA1_MARK).is_some())
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in &dropped {
                    props.remove(k);
                }
                if let Some(Value::Array(required)) = map.get_mut("required") {
                    required.retain(|r| !dropped.iter().any(|d| Some(d.as_str()) == r.as_str()));
                }
            }
            for v in map.values_mut() {
                strip_v1beta1_fields(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_v1beta1_fields),
        _ => {}
    }
}

/// The schema for a (version, kind), generated once per process.
pub fn for_kind(version: ApiVersion, kind: Kind) -> &'static Value {
    static CACHE: OnceLock<Vec<Value>> = OnceLock::new();
    let all = CACHE.get_or_init(|| SCHEMAS.iter().map(|(v, k, _)| generate(*v, *k)).collect());
    let index = SCHEMAS
        .iter()
        .position(|(v, k, _)| {
            *k == kind && (*v == version || matches!(kind, Kind::ConfigMap | Kind::Secret))
        })
        .unwrap_or(0);
    &all[index]
}
