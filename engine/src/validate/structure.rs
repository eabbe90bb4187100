//! The structural pass: checks a document's [`Node`] tree against the JSON Schema generated
//! from the model types (the same schemas that are checked in under `schemas/`). It reports
//! every unknown key (with "did you mean"), wrong type, missing required field and value
//! outside an enum, each at the exact node, and never stops at the first.
//!
//! It understands the subset of JSON Schema that schemars emits: `$ref` into `$defs`, `type`
//! (one or several), `properties`/`required`/`additionalProperties`, `items`, `anyOf`/`oneOf`,
//! `enum`/`const` and `minimum`. A `null` is accepted anywhere, as Kubernetes reads it as unset.

use serde_json::{Map, Value};

use crate::diagnostic::{Code, Diagnostics, did_you_mean};
use crate::source::Span;
use crate::yaml::{Node, NodeKind, Resolved};

/// Fields that only tekton.dev/v1beta1 has, with what v1 says instead (for the hint when
/// they appear in a v1 document).
const V1BETA1_ONLY: &[(&str, &str)] = &[
    (
        "resources",
        "tekton.dev/v1 dropped PipelineResources; in a step, use `computeResources`",
    ),
    (
        "timeout",
        "in a tekton.dev/v1 PipelineRun this is `timeouts: {pipeline: …}`",
    ),
    (
        "serviceAccountNames",
        "tekton.dev/v1 uses `taskRunSpecs[].serviceAccountName`",
    ),
    (
        "taskServiceAccountName",
        "tekton.dev/v1 calls it `serviceAccountName`",
    ),
    ("taskPodTemplate", "tekton.dev/v1 calls it `podTemplate`"),
    ("stepOverrides", "tekton.dev/v1 calls it `stepSpecs`"),
    ("sidecarOverrides", "tekton.dev/v1 calls it `sidecarSpecs`"),
    ("bundle", "tekton.dev/v1 uses `resolver: bundles`"),
];

/// Checks `node` against `root` (a schema with its `$defs`), adding to `diags`. `anchor` is
/// where to point when the document as a whole is at fault.
/// `source` is the text of the node's file, to keep underlines to one line.
pub fn check(root: &Value, node: &Node, anchor: Span, source: &str, diags: &mut Diagnostics) {
    let mut checker = Checker {
        root,
        source,
        diags,
    };
    checker.check(root, node, anchor, None);
}

struct Checker<'a> {
    root: &'a Value,
    source: &'a str,
    diags: &'a mut Diagnostics,
}

/// The JSON types a node can be, as schema `type` names.
fn json_types(node: &Node) -> &'static [&'static str] {
    match &node.kind {
        NodeKind::Map(_) => &["object"],
        NodeKind::Seq(_) => &["array"],
        NodeKind::Scalar(s) => match s.resolve() {
            Resolved::Null => &["null"],
            Resolved::Bool(_) => &["boolean"],
            Resolved::Int(_) => &["integer", "number"],
            Resolved::Float(_) => &["number"],
            Resolved::Str(_) => &["string"],
        },
    }
}

fn type_phrase(t: &str) -> &str {
    match t {
        "object" => "a mapping",
        "array" => "a list",
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean",
        "null" => "null",
        _ => t,
    }
}

/// Only the first line of a span, so a whole mapping is not underlined.
pub(crate) fn first_line(span: Span, text: Option<&str>) -> Span {
    let Some(text) = text else { return span };
    match text.find('\n') {
        Some(i) => Span {
            end: span.start + i as u32,
            ..span
        },
        None => span,
    }
}

impl<'a> Checker<'a> {
    /// The first line of a node's span.
    fn head(&self, span: Span) -> Span {
        first_line(
            span,
            self.source.get(span.start as usize..span.end as usize),
        )
    }

    fn resolve(&self, schema: &'a Value) -> &'a Value {
        let mut s = schema;
        for _ in 0..32 {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else {
                return s;
            };
            let target = r
                .strip_prefix("#/$defs/")
                .and_then(|name| self.root.get("$defs")?.get(name))
                .or_else(|| (r == "#").then_some(self.root));
            match target {
                Some(t) => s = t,
                None => return &Value::Bool(true),
            }
        }
        s
    }

    /// Whether `node` satisfies `schema`, without reporting.
    fn matches(&self, schema: &'a Value, node: &Node) -> bool {
        let mut scratch = Diagnostics::new();
        let mut probe = Checker {
            root: self.root,
            source: self.source,
            diags: &mut scratch,
        };
        probe.check(schema, node, node.span, None);
        !scratch.has_errors()
    }

    fn check(&mut self, schema: &'a Value, node: &Node, anchor: Span, key: Option<&str>) {
        let schema = self.resolve(schema);
        let obj = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                self.diags
                    .error(Code::UnknownKey, anchor, "this field is not allowed here");
                return;
            }
            Value::Object(o) => o,
            _ => return,
        };
        if node.is_null() {
            return;
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(alts) = obj.get(keyword).and_then(Value::as_array) {
                self.check_alternatives(alts, node, anchor, key);
            }
        }
        if let Some(types) = obj.get("type")
            && !self.check_type(types, node, anchor, key)
        {
            return;
        }
        if let Some(allowed) = obj.get("enum").and_then(Value::as_array) {
            self.check_enum(allowed, node, key);
        }
        if let Some(c) = obj.get("const") {
            self.check_enum(std::slice::from_ref(c), node, key);
        }
        if let (Some(min), NodeKind::Scalar(s)) =
            (obj.get("minimum").and_then(Value::as_f64), &node.kind)
            && let Resolved::Int(i) = s.resolve()
            && (i as f64) < min
        {
            self.diags
                .error(
                    Code::InvalidValue,
                    node.span,
                    format!("must be at least {min}, found {i}"),
                )
                .label("too small");
        }
        match &node.kind {
            NodeKind::Map(entries) => self.check_object(obj, node, entries, anchor, key),
            NodeKind::Seq(items) => {
                if let Some(item_schema) = obj.get("items") {
                    for item in items {
                        let item_anchor = self.head(item.span);
                        self.check(item_schema, item, item_anchor, key);
                    }
                }
            }
            NodeKind::Scalar(_) => {}
        }
    }

    fn check_alternatives(
        &mut self,
        alts: &'a [Value],
        node: &Node,
        anchor: Span,
        key: Option<&str>,
    ) {
        if alts.iter().any(|alt| self.matches(alt, node)) {
            return;
        }
        // Report against the alternative whose type fits the node, so the message is about
        // the field inside it rather than "none of the alternatives matched".
        let node_types = json_types(node);
        let fitting = alts.iter().find(|alt| {
            let alt = self.resolve(alt);
            match alt.get("type") {
                Some(Value::String(t)) => node_types.contains(&t.as_str()),
                Some(Value::Array(ts)) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|t| node_types.contains(&t)),
                _ => alt.get("properties").is_some() && node_types.contains(&"object"),
            }
        });
        match fitting {
            Some(alt) => self.check(alt, node, anchor, key),
            None => {
                let mut expected: Vec<&str> = alts
                    .iter()
                    .filter_map(|alt| match self.resolve(alt).get("type") {
                        Some(Value::String(t)) => Some(type_phrase(t)),
                        _ => None,
                    })
                    .filter(|t| *t != "null")
                    .collect();
                expected.dedup();
                let expected = if expected.is_empty() {
                    "another kind of value".to_owned()
                } else {
                    expected.join(" or ")
                };
                self.wrong_type(&expected, node, key);
            }
        }
    }

    /// Reports a type mismatch; returns whether the node's type is acceptable.
    fn check_type(&mut self, types: &Value, node: &Node, _anchor: Span, key: Option<&str>) -> bool {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return true,
        };
        let node_types = json_types(node);
        if allowed.iter().any(|t| node_types.contains(t)) {
            return true;
        }
        let expected: Vec<&str> = allowed
            .iter()
            .filter(|t| **t != "null")
            .map(|t| type_phrase(t))
            .collect();
        self.wrong_type(&expected.join(" or "), node, key);
        false
    }

    fn wrong_type(&mut self, expected: &str, node: &Node, key: Option<&str>) {
        let found = node.type_name();
        let what = key.map_or(String::new(), |k| format!("`{k}`: "));
        let shown = match &node.kind {
            NodeKind::Scalar(s) => format!(" `{}`", s.value),
            _ => String::new(),
        };
        let hint = match (&node.kind, expected) {
            (NodeKind::Scalar(s), "a string") => Some(format!(
                "YAML reads `{}` as {found}; quote it to make it a string: \"{}\"",
                s.value, s.value
            )),
            (NodeKind::Scalar(_), "a list") => {
                Some("write a list: `[item]` or one `- item` per line".to_owned())
            }
            _ => None,
        };
        let span = self.head(node.span);
        self.diags
            .error(
                Code::WrongType,
                span,
                format!("{what}expected {expected}, found {found}{shown}"),
            )
            .label(format!("expected {expected}"))
            .maybe_hint(hint);
    }

    fn check_enum(&mut self, allowed: &[Value], node: &Node, key: Option<&str>) {
        let Some(scalar) = node.as_scalar() else {
            return;
        };
        let value = scalar.value.as_str();
        let ok = allowed.iter().any(|a| match a {
            Value::String(s) => s == value,
            Value::Bool(b) => scalar.resolve() == Resolved::Bool(*b),
            Value::Number(n) => n.to_string() == value,
            _ => false,
        });
        if ok {
            return;
        }
        let names: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        let list = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let what = key.map_or("value".to_owned(), |k| format!("`{k}`"));
        let hint = did_you_mean(value, names.iter().copied())
            .unwrap_or_else(|| format!("allowed values: {list}"));
        self.diags
            .error(
                Code::InvalidValue,
                node.span,
                format!("invalid {what} `{value}`"),
            )
            .label(format!("expected one of {list}"))
            .hint(hint);
    }

    fn check_object(
        &mut self,
        obj: &'a Map<String, Value>,
        node: &Node,
        entries: &[(Node, Node)],
        anchor: Span,
        key: Option<&str>,
    ) {
        let properties = obj.get("properties").and_then(Value::as_object);
        let additional = obj.get("additionalProperties");
        for (k, v) in entries {
            let Some(name) = k.as_str() else {
                self.diags
                    .error(Code::WrongType, k.span, "a mapping key must be a string")
                    .label("not a string");
                continue;
            };
            if let Some(prop) = properties.and_then(|p| p.get(name)) {
                self.check(prop, v, k.span, Some(name));
                continue;
            }
            // Tekton decodes with Go's encoding/json, which matches keys ignoring case.
            if let Some((canonical, prop)) = properties
                .and_then(|p| p.iter().find(|(field, _)| field.eq_ignore_ascii_case(name)))
            {
                self.diags
                    .warning(
                        Code::KeyCase,
                        k.span,
                        format!("`{name}` is read as `{canonical}`"),
                    )
                    .label(format!("should be `{canonical}`"))
                    .hint(format!(
                        "Tekton matches keys ignoring case, so this works, but editors and other tools expect `{canonical}`"
                    ));
                self.check(prop, v, k.span, Some(canonical));
                continue;
            }
            match additional {
                Some(Value::Bool(false)) => self.unknown_key(name, k.span, properties, key),
                Some(extra) => self.check(extra, v, k.span, Some(name)),
                // No `additionalProperties`: JSON Schema allows any other key.
                None => {}
            }
        }
        if let Some(required) = obj.get("required").and_then(Value::as_array) {
            let missing: Vec<&str> = required
                .iter()
                .filter_map(Value::as_str)
                .filter(|r| !entries.iter().any(|(k, _)| k.as_str() == Some(r)))
                .collect();
            for field in missing {
                let owner = key.map_or("this mapping".to_owned(), |k| format!("`{k}`"));
                let span = if key.is_some() {
                    anchor
                } else {
                    self.head(node.span)
                };
                self.diags
                    .error(
                        Code::MissingField,
                        span,
                        format!("missing required field `{field}`"),
                    )
                    .label(format!("{owner} needs `{field}`"));
            }
        }
    }

    fn unknown_key(
        &mut self,
        name: &str,
        span: Span,
        properties: Option<&'a Map<String, Value>>,
        owner: Option<&str>,
    ) {
        let candidates = properties
            .into_iter()
            .flat_map(|p| p.keys().map(String::as_str));
        let hint = V1BETA1_ONLY
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, hint)| format!("`{name}` is a tekton.dev/v1beta1 field: {hint}"))
            .or_else(|| did_you_mean(name, candidates));
        let message = match owner {
            Some(o) => format!("unknown key `{name}` in `{o}`"),
            None => format!("unknown key `{name}`"),
        };
        let hint = hint.or_else(|| {
            let known: Vec<&str> = properties
                .into_iter()
                .flat_map(|p| p.keys().map(String::as_str))
                .collect();
            (!known.is_empty() && known.len() <= 12).then(|| {
                format!(
                    "known keys here: {}",
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        });
        self.diags
            .error(Code::UnknownKey, span, message)
            .label("unknown key")
            .maybe_hint(hint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceMap;
    use serde_json::json;

    fn check_str(schema: Value, text: &str) -> Vec<String> {
        let mut map = SourceMap::new();
        let id = map.add("t.yaml", text);
        let (docs, parse_diags) = crate::yaml::parse(map.get(id), id);
        assert!(parse_diags.is_empty());
        let mut diags = Diagnostics::new();
        check(
            &schema,
            &docs[0].root,
            Span::file_start(id),
            text,
            &mut diags,
        );
        diags
            .iter()
            .map(|d| {
                format!(
                    "{}:{} {} {}{}",
                    d.span.line,
                    d.span.col,
                    d.code,
                    d.message,
                    d.hint
                        .as_deref()
                        .map(|h| format!(" ({h})"))
                        .unwrap_or_default()
                )
            })
            .collect()
    }

    fn task_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "runAfter": {"type": "array", "items": {"type": "string"}},
                "retries": {"type": ["integer", "null"], "minimum": 0},
                "onError": {"$ref": "#/$defs/OnError"},
                "taskRef": {"anyOf": [{"$ref": "#/$defs/Ref"}, {"type": "null"}]}
            },
            "required": ["name"],
            "additionalProperties": false,
            "$defs": {
                "OnError": {"type": "string", "enum": ["continue", "stopAndFail"]},
                "Ref": {"type": "object", "properties": {"name": {"type": "string"}},
                        "required": ["name"], "additionalProperties": false}
            }
        })
    }

    #[test]
    fn reports_every_problem_with_its_position() {
        let got = check_str(
            task_schema(),
            "run_after: [a]\nretries: -1\nonError: contine\ntaskRef:\n  nam: x\n",
        );
        assert_eq!(
            got,
            [
                "1:1 unknown-key unknown key `run_after` (did you mean `runAfter`?)",
                "2:10 invalid-value must be at least 0, found -1",
                "3:10 invalid-value invalid `onError` `contine` (did you mean `continue`?)",
                "5:3 unknown-key unknown key `nam` in `taskRef` (did you mean `name`?)",
                "4:1 missing-field missing required field `name`",
                "1:1 missing-field missing required field `name`",
            ]
        );
    }

    #[test]
    fn keys_in_another_case_are_read_with_a_warning() {
        let got = check_str(task_schema(), "name: x\nrunafter: 3\n");
        assert_eq!(
            got,
            [
                "2:1 key-case `runafter` is read as `runAfter` (Tekton matches keys ignoring case, so this works, but editors and other tools expect `runAfter`)",
                "2:11 wrong-type `runAfter`: expected a list, found integer `3` (write a list: `[item]` or one `- item` per line)",
            ]
        );
    }

    #[test]
    fn wrong_types_say_what_was_expected() {
        let got = check_str(task_schema(), "name: 1\nrunAfter: a\n");
        assert_eq!(
            got,
            [
                "1:7 wrong-type `name`: expected a string, found integer `1` (YAML reads `1` as integer; quote it to make it a string: \"1\")",
                "2:11 wrong-type `runAfter`: expected a list, found string `a` (write a list: `[item]` or one `- item` per line)",
            ]
        );
    }

    #[test]
    fn alternatives_report_inside_the_fitting_one() {
        let schema = json!({"anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": {"type": "string"}}
        ]});
        assert!(check_str(schema.clone(), "[a, b]").is_empty());
        assert_eq!(
            check_str(schema, "{a: [x]}"),
            ["1:5 wrong-type `a`: expected a string, found list"]
        );
    }
}
