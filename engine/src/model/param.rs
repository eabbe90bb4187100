//! Parameters: declarations ([`ParamSpec`]) on Tasks, Pipelines and StepActions, and values
//! ([`Param`]) passed by runs and pipeline tasks. A [`ParamValue`] is a string, a list of
//! strings or a string→string object, read the way Tekton's `ParamValue.UnmarshalJSON` reads it.

use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::Spanned;

/// The type of a param or result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    // A single string (the default).
    #[default]
    String,
    // A list of strings.
    Array,
    // A mapping of string keys to string values.
    Object,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Array => "array",
            ParamType::Object => "object",
        }
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of one key of an object param or result.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PropertySpec {
    /// Type of the key's value (only `string` is allowed by Tekton today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<Spanned<ParamType>>,
}

/// A param a Task, Pipeline or StepAction declares.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParamSpec {
    /// Name of the param, used as `$(params.<name>)`.
    pub name: Spanned<String>,
    /// `string` (default), `array` or `object`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<Spanned<ParamType>>,
    /// What the param is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The keys of an object param.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, PropertySpec>,
    /// Value used when none is given; without it the param is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Spanned<ParamValue>>,
    /// The only values a string param may take.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub r#enum: Vec<Spanned<String>>,
}

impl ParamSpec {
    /// The declared type, defaulted the way Tekton's `ParamSpec.SetDefaults` does: from
    /// `type`, else `object` when `properties` is set, else from the default's shape.
    pub fn effective_type(&self) -> ParamType {
        if let Some(t) = &self.r#type {
            return t.value;
        }
        if !self.properties.is_empty() {
            return ParamType::Object;
        }
        self.default
            .as_ref()
            .map_or(ParamType::String, |d| d.param_type())
    }
}

/// A value given to a param: a name and a string, array or object.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Param {
    /// Name of the param being set.
    pub name: Spanned<String>,
    /// The value: a string, a list of strings or a string→string mapping.
    pub value: Spanned<ParamValue>,
}

/// A param (or result) value: a string, a list of strings or a string→string object.
///
/// Like Tekton (which reads YAML through JSON), a number, boolean or null where a value
/// belongs becomes its text: `5` is `"5"`, `1.50` is `"1.5"`, `true` is `"true"`, null is `""`.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    String(String),
    Array(Vec<Spanned<String>>),
    Object(BTreeMap<String, Spanned<String>>),
}

impl Default for ParamValue {
    fn default() -> Self {
        ParamValue::String(String::new())
    }
}

impl ParamValue {
    pub fn param_type(&self) -> ParamType {
        match self {
            ParamValue::String(_) => ParamType::String,
            ParamValue::Array(_) => ParamType::Array,
            ParamValue::Object(_) => ParamType::Object,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            ParamValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Spanned<String>]> {
        match self {
            ParamValue::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&BTreeMap<String, Spanned<String>>> {
        match self {
            ParamValue::Object(o) => Some(o),
            _ => None,
        }
    }
}

impl From<&str> for ParamValue {
    fn from(s: &str) -> Self {
        ParamValue::String(s.to_owned())
    }
}

impl From<String> for ParamValue {
    fn from(s: String) -> Self {
        ParamValue::String(s)
    }
}

/// Formats a number the way Go's `encoding/json` does, which is what Tekton sees after
/// Kubernetes turns YAML into JSON: shortest form, exponent only below 1e-6 or from 1e21.
pub(crate) fn go_float_text(v: f64) -> String {
    let abs = v.abs();
    if abs != 0.0 && v.is_finite() && !(1e-6..1e21).contains(&abs) {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        v.to_string()
    }
}

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParamValueVisitor)
    }
}

struct ParamValueVisitor;

impl<'de> Visitor<'de> for ParamValueVisitor {
    type Value = ParamValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a list of strings or a mapping of strings")
    }

    fn visit_unit<E: de::Error>(self) -> Result<ParamValue, E> {
        Ok(ParamValue::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<ParamValue, E> {
        Ok(ParamValue::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<ParamValue, D::Error> {
        ParamValue::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<ParamValue, E> {
        Ok(ParamValue::String(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ParamValue, E> {
        Ok(ParamValue::String(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ParamValue, E> {
        Ok(ParamValue::String(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ParamValue, E> {
        Ok(ParamValue::String(go_float_text(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ParamValue, E> {
        Ok(ParamValue::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<ParamValue, E> {
        Ok(ParamValue::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ParamValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Spanned<String>>()? {
            items.push(item);
        }
        Ok(ParamValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ParamValue, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some((k, v)) = map.next_entry::<String, Spanned<String>>()? {
            entries.insert(k, v);
        }
        Ok(ParamValue::Object(entries))
    }
}

impl Serialize for ParamValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ParamValue::String(v) => s.serialize_str(v),
            ParamValue::Array(a) => a.serialize(s),
            ParamValue::Object(o) => o.serialize(s),
        }
    }
}

impl JsonSchema for ParamValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ParamValue".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A string, a list of strings or a mapping of string keys to string values.",
            "anyOf": [
                { "type": ["string", "number", "integer", "boolean"] },
                { "type": "array", "items": { "type": "string" } },
                { "type": "object", "additionalProperties": { "type": "string" } }
            ]
        })
    }
}
