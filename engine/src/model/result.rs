//! Results: values a Task ([`TaskResult`]), a step or StepAction ([`StepResult`]) or a
//! Pipeline ([`PipelineResult`]) produces. Task and step results are declared and written at
//! run time; a pipeline result is an expression over its tasks' results.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::param::{ParamType, ParamValue, PropertySpec};
use crate::Spanned;

/// The type of a result: the same three types as params.
pub type ResultType = ParamType;

/// A result a Task declares.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskResult {
    /// Name of the result, used as `$(results.<name>.path)`.
    pub name: Spanned<String>,
    /// `string` (default), `array` or `object`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<Spanned<ResultType>>,
    /// The keys of an object result.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, PropertySpec>,
    /// What the result is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the value comes from when a step's result provides it (`$(steps.<step>.results.<name>)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Spanned<ParamValue>>,
}

/// A result a step or StepAction declares.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepResult {
    /// Name of the result, used as `$(step.results.<name>.path)`.
    pub name: Spanned<String>,
    /// `string` (default), `array` or `object`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<Spanned<ResultType>>,
    /// The keys of an object result.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, PropertySpec>,
    /// What the result is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A result a Pipeline declares, computed from its tasks' results.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineResult {
    /// Name of the result.
    pub name: Spanned<String>,
    /// `string` (default), `array` or `object`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<Spanned<ResultType>>,
    /// What the result is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The value, usually `$(tasks.<task>.results.<name>)`.
    pub value: Spanned<ParamValue>,
}
