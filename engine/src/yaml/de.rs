//! A serde `Deserializer` over a [`Node`] tree. It fills [`Spanned`](crate::Spanned) fields
//! with the node's span, skips mapping keys that a struct does not declare (the structural
//! pass has already reported them), reads `null` as an empty list or mapping as Kubernetes
//! does, and puts the span of the offending node on every error.

use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, U32Deserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use super::{Node, NodeKind, Resolved};
use crate::source::Span;
use crate::spanned;

/// Why a node could not become the requested type, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DeError {
    pub message: String,
    pub span: Option<Span>,
}

impl DeError {
    fn at(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            span: None,
        }
    }
}

/// Deserializes a `T` from a node.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node) -> Result<T, DeError> {
    T::deserialize(NodeDeserializer { node }).map_err(|e| e.at(node.span))
}

pub struct NodeDeserializer<'de> {
    node: &'de Node,
}

impl<'de> NodeDeserializer<'de> {
    pub fn new(node: &'de Node) -> Self {
        NodeDeserializer { node }
    }

    fn invalid(&self, expected: &str) -> DeError {
        DeError {
            message: format!("expected {expected}, found {}", self.node.type_name()),
            span: Some(self.node.span),
        }
    }
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.node.span;
        let result = match &self.node.kind {
            NodeKind::Scalar(s) => match s.resolve() {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) => visitor.visit_i64(i),
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str(s) => visitor.visit_borrowed_str(s),
            },
            NodeKind::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
            }),
            NodeKind::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                fields: None,
                value: None,
            }),
        };
        result.map_err(|e| e.at(span))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Scalar(s) => visitor
                .visit_borrowed_str(s.value.as_str())
                .map_err(|e: DeError| e.at(self.node.span)),
            _ => Err(self.invalid("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.node.span;
        match &self.node.kind {
            NodeKind::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
            }),
            _ if self.node.is_null() => visitor.visit_seq(SeqAccess { items: [].iter() }),
            _ => return Err(self.invalid("a list")),
        }
        .map_err(|e| e.at(span))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.map_with_fields(None, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name == spanned::NAME {
            return visitor.visit_map(SpannedAccess {
                node: self.node,
                next: 0,
            });
        }
        self.map_with_fields(Some(fields), visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let span = self.node.span;
        match &self.node.kind {
            NodeKind::Scalar(s) => visitor.visit_enum(s.value.as_str().into_deserializer()),
            NodeKind::Map(entries) if entries.len() == 1 => visitor.visit_enum(EnumAccess {
                key: &entries[0].0,
                value: &entries[0].1,
            }),
            _ => Err(self.invalid("one of the allowed values")),
        }
        .map_err(|e: DeError| e.at(span))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 bytes byte_buf unit unit_struct
    }
}

impl<'de> NodeDeserializer<'de> {
    fn map_with_fields<V: Visitor<'de>>(
        self,
        fields: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let span = self.node.span;
        match &self.node.kind {
            NodeKind::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                fields,
                value: None,
            }),
            _ if self.node.is_null() => visitor.visit_map(MapAccess {
                entries: [].iter(),
                fields,
                value: None,
            }),
            _ => return Err(self.invalid("a mapping")),
        }
        .map_err(|e| e.at(span))
    }
}

struct SeqAccess<'de> {
    items: std::slice::Iter<'de, Node>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(NodeDeserializer { node })
                .map(Some)
                .map_err(|e| e.at(node.span)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'de> {
    entries: std::slice::Iter<'de, (Node, Node)>,
    /// The struct's declared fields: other keys are skipped.
    fields: Option<&'static [&'static str]>,
    value: Option<&'de Node>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        while let Some((key, value)) = self.entries.next() {
            // A repeated key (reported by the parser) keeps its last value, as Kubernetes does.
            if key.as_str().is_some()
                && self
                    .entries
                    .as_slice()
                    .iter()
                    .any(|(k, _)| k.as_str() == key.as_str())
            {
                continue;
            }
            if let Some(fields) = self.fields {
                let Some(name) = key.as_str() else { continue };
                // Declared fields only; like Go's encoding/json (which Tekton decodes with),
                // a key in another case still finds its field.
                let Some(field) = fields
                    .iter()
                    .find(|f| **f == name)
                    .or_else(|| fields.iter().find(|f| f.eq_ignore_ascii_case(name)))
                else {
                    continue;
                };
                self.value = Some(value);
                return seed
                    .deserialize(BorrowedStrDeserializer::new(field))
                    .map(Some)
                    .map_err(|e: DeError| e.at(key.span));
            }
            self.value = Some(value);
            return seed
                .deserialize(NodeDeserializer { node: key })
                .map(Some)
                .map_err(|e| e.at(key.span));
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let node = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a mapping value was asked for before its key"))?;
        seed.deserialize(NodeDeserializer { node })
            .map_err(|e| e.at(node.span))
    }
}

struct EnumAccess<'de> {
    key: &'de Node,
    value: &'de Node,
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'de> {
    type Error = DeError;
    type Variant = NodeDeserializer<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DeError> {
        let variant = seed.deserialize(NodeDeserializer { node: self.key })?;
        Ok((variant, NodeDeserializer { node: self.value }))
    }
}

impl<'de> de::VariantAccess<'de> for NodeDeserializer<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.map_with_fields(Some(fields), visitor)
    }
}

/// Hands the span's parts, then the value, to `Spanned`'s visitor.
struct SpannedAccess<'de> {
    node: &'de Node,
    next: usize,
}

impl<'de> de::MapAccess<'de> for SpannedAccess<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match spanned::FIELDS.get(self.next) {
            Some(field) => seed
                .deserialize(BorrowedStrDeserializer::new(field))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let span = self.node.span;
        let index = self.next;
        self.next += 1;
        let number = match index {
            0 => span.file.0,
            1 => span.start,
            2 => span.end,
            3 => span.line,
            4 => span.col,
            _ => return seed.deserialize(NodeDeserializer { node: self.node }),
        };
        seed.deserialize(U32Deserializer::new(number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Spanned;
    use crate::source::SourceMap;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Task {
        name: Spanned<String>,
        #[serde(default)]
        run_after: Vec<Spanned<String>>,
        retries: Option<u32>,
    }

    fn node(text: &str) -> Node {
        let mut map = SourceMap::new();
        let id = map.add("t.yaml", text);
        let (mut docs, diags) = super::super::parse(map.get(id), id);
        assert!(diags.is_empty());
        docs.remove(0).root
    }

    #[test]
    fn spans_reach_the_typed_value() {
        let n = node("name: build\nrunAfter: [a, b]\nretries: 2\nextra: ignored\n");
        let t: Task = from_node(&n).unwrap();
        assert_eq!(t.name.as_str(), "build");
        assert_eq!((t.name.span.line, t.name.span.col), (1, 7));
        assert_eq!((t.run_after[1].span.line, t.run_after[1].span.col), (2, 15));
        assert_eq!(t.retries, Some(2));
    }

    #[test]
    fn null_reads_as_empty_and_errors_carry_spans() {
        let n = node("name: x\nrunafter: [a]\n");
        let t: Task = from_node(&n).unwrap();
        assert_eq!(
            t.run_after.len(),
            1,
            "keys match fields ignoring case, as in Go"
        );

        let n = node("name: x\nrunAfter:\n");
        let t: Task = from_node(&n).unwrap();
        assert!(t.run_after.is_empty());

        let n = node("name: x\nrunAfter: {a: 1}\n");
        let err = from_node::<Task>(&n).unwrap_err();
        assert_eq!(err.message, "expected a list, found mapping");
        assert_eq!(err.span.map(|s| (s.line, s.col)), Some((2, 11)));
    }
}
