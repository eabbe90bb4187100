//! YAML with positions. This is the only module that knows which YAML parser runnel uses
//! (granit-parser, chosen after comparing it with saphyr-parser, serde-saphyr, marked-yaml
//! and saphyr on the conformance corpus; see `docs/yaml-parser.md`). It turns a file into one [`Node`] tree per
//! document, every node carrying its [`Span`], and reports syntax errors and duplicate keys as
//! diagnostics. [`de`] deserializes typed values from a tree, keeping spans in [`crate::Spanned`].

pub mod de;

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, ScanError, Span as PSpan};

use crate::diagnostic::{Code, Diagnostics};
use crate::source::{FileId, SourceFile, Span};

/// A YAML node and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Entries in source order; keys are nodes too, so they keep their spans.
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub value: String,
    pub style: Style,
    /// A core-schema tag such as `!!str`, when given.
    pub tag: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

/// What a scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Resolved<'_> {
    /// The name of the type as a user would say it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Resolved::Null => "null",
            Resolved::Bool(_) => "boolean",
            Resolved::Int(_) => "integer",
            Resolved::Float(_) => "number",
            Resolved::Str(_) => "string",
        }
    }
}

impl Scalar {
    pub fn resolve(&self) -> Resolved<'_> {
        let v = self.value.as_str();
        match self.tag.as_deref() {
            Some("str") => return Resolved::Str(v),
            Some("null") => return Resolved::Null,
            Some("bool") => return resolve_bool(v).map_or(Resolved::Str(v), Resolved::Bool),
            Some("int") => return resolve_int(v).map_or(Resolved::Str(v), Resolved::Int),
            Some("float") => return resolve_float(v).map_or(Resolved::Str(v), Resolved::Float),
            _ => {}
        }
        if self.style != Style::Plain {
            return Resolved::Str(v);
        }
        if matches!(v, "" | "~" | "null" | "Null" | "NULL") {
            return Resolved::Null;
        }
        if let Some(b) = resolve_bool(v) {
            return Resolved::Bool(b);
        }
        if let Some(i) = resolve_int(v) {
            return Resolved::Int(i);
        }
        if let Some(f) = resolve_float(v) {
            return Resolved::Float(f);
        }
        Resolved::Str(v)
    }
}

fn resolve_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn resolve_int(v: &str) -> Option<i64> {
    if let Some(oct) = v.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    if let Some(hex) = v.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn resolve_float(v: &str) -> Option<f64> {
    match v {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let body = v.strip_prefix(['-', '+']).unwrap_or(v);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_ok(int) || !digits_ok(frac) {
        return None;
    }
    if !mantissa.contains('.') && exp.is_none() {
        return None;
    }
    if let Some(e) = exp {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        if e.is_empty() || !digits_ok(e) {
            return None;
        }
    }
    v.parse().ok()
}

impl Node {
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar's text when it is a scalar (whatever it resolves to).
    pub fn as_str(&self) -> Option<&str> {
        self.as_scalar().map(|s| s.value.as_str())
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.as_scalar().map(Scalar::resolve), Some(Resolved::Null))
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value under `key` in a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, v)| (k, v))
    }

    /// What kind of YAML value this is, as a user would say it.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(s) => s.resolve().type_name(),
            NodeKind::Seq(_) => "list",
            NodeKind::Map(_) => "mapping",
        }
    }
}

/// One `---`-separated document of a file.
#[derive(Debug, Clone)]
pub struct Document {
    pub root: Node,
    /// 0-based index of the document in its file.
    pub index: usize,
}

/// Parses every document of a file. Syntax errors become diagnostics; the documents before
/// the error are kept.
pub fn parse(file: &SourceFile, id: FileId) -> (Vec<Document>, Diagnostics) {
    let mut builder = Builder {
        file,
        id,
        diags: Diagnostics::new(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        docs: Vec::new(),
    };
    for event in Parser::new_from_str(&file.text) {
        match event {
            Ok((ev, span)) => builder.on_event(ev, span),
            Err(e) => {
                builder.syntax_error(&e);
                break;
            }
        }
    }
    (builder.docs, builder.diags)
}

/// Runs the parser over `text` without building anything and counts its events: the raw
/// cost of reading YAML, the baseline the corpus benchmark compares runnel against.
pub fn count_events(text: &str) -> usize {
    Parser::new_from_str(text).take_while(Result::is_ok).count()
}

enum Frame {
    Seq {
        start: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: Span,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
}

struct Builder<'a> {
    file: &'a SourceFile,
    id: FileId,
    diags: Diagnostics,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    docs: Vec<Document>,
}

impl Builder<'_> {
    fn offset(&self, m: &granit_parser::Marker) -> u32 {
        m.byte_offset()
            .map_or_else(|| self.file.offset_of(m.line(), m.col()), |b| b as u32)
    }

    fn span(&self, s: &PSpan) -> Span {
        let start = self.offset(&s.start);
        let end = self.offset(&s.end).max(start);
        Span {
            file: self.id,
            start,
            end,
            line: s.start.line() as u32,
            col: s.start.col() as u32 + 1,
        }
    }

    fn syntax_error(&mut self, e: &ScanError) {
        let m = e.marker();
        let start = self.offset(m);
        let end = self.file.text[start as usize..]
            .chars()
            .next()
            .map_or(start, |c| start + c.len_utf8() as u32);
        let span = Span {
            file: self.id,
            start,
            end,
            line: m.line() as u32,
            col: m.col() as u32 + 1,
        };
        let hint = if e.info().contains("tab") {
            Some("YAML indents with spaces only; replace the tabs")
        } else if e.info().contains("mapping values are not allowed") {
            Some("a value that contains `: ` must be quoted")
        } else {
            None
        };
        self.diags
            .error(
                Code::YamlSyntax,
                span,
                format!("invalid YAML: {}", e.info()),
            )
            .maybe_hint(hint.map(str::to_owned));
    }

    fn on_event(&mut self, ev: Event<'_>, pspan: PSpan) {
        let span = self.span(&pspan);
        match ev {
            // Anchors are also carried on the node events; comments are not enabled.
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Anchor(..) => {}
            Event::DocumentStart(..) => self.stack.clear(),
            Event::UnresolvedAlias(name) => {
                self.diags
                    .error(
                        Code::YamlSyntax,
                        span,
                        format!("invalid YAML: alias `*{name}` refers to no anchor"),
                    )
                    .label("unknown anchor")
                    .hint(format!("define it first with `&{name}`"));
                self.push_node(Node {
                    span,
                    kind: NodeKind::Scalar(Scalar {
                        value: String::new(),
                        style: Style::Plain,
                        tag: None,
                    }),
                });
            }
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some(n) => n.clone(),
                    None => Node {
                        span,
                        kind: NodeKind::Scalar(Scalar {
                            value: String::new(),
                            style: Style::Plain,
                            tag: None,
                        }),
                    },
                };
                self.push_node(node);
            }
            Event::Scalar(value, style, anchor, tag) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let tag = tag
                    .filter(|t| t.is_yaml_core_schema())
                    .map(|t| t.suffix().to_owned());
                let node = Node {
                    span,
                    kind: NodeKind::Scalar(Scalar {
                        value: value.into_owned(),
                        style,
                        tag,
                    }),
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_node(node);
            }
            Event::SequenceStart(_, anchor, _) => self.stack.push(Frame::Seq {
                start: span,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(_, anchor, _) => self.stack.push(Frame::Map {
                start: span,
                anchor,
                entries: Vec::new(),
                pending_key: None,
            }),
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    start,
                    anchor,
                    items,
                }) = self.stack.pop()
                {
                    let node = Node {
                        span: self.cover(start, span, items.last()),
                        kind: NodeKind::Seq(items),
                    };
                    self.finish(anchor, node);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    start,
                    anchor,
                    entries,
                    ..
                }) = self.stack.pop()
                {
                    let last = entries.last().map(|(_, v)| v);
                    let node = Node {
                        span: self.cover(start, span, last),
                        kind: NodeKind::Map(merge_keys(entries)),
                    };
                    self.finish(anchor, node);
                }
            }
            // The event enum is non-exhaustive; newer kinds carry no content we use.
            _ => {}
        }
    }

    /// A collection's span: from its start to the end of its last child (block collections
    /// "end" where the next token starts, which may be lines later).
    fn cover(&self, start: Span, end: Span, last: Option<&Node>) -> Span {
        let end_offset = match last {
            Some(n) => n.span.end.max(start.start),
            None => end.end.max(start.start),
        };
        Span {
            end: end_offset,
            ..start
        }
    }

    fn finish(&mut self, anchor: usize, node: Node) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.push_node(node);
    }

    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                let index = self.docs.len();
                self.docs.push(Document { root: node, index });
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    if let Some(text) = key.as_str()
                        && text != "<<"
                        && let Some((first, _)) =
                            entries.iter().find(|(k, _)| k.as_str() == Some(text))
                    {
                        let first_span = first.span;
                        self.diags
                            .error(
                                Code::DuplicateKey,
                                key.span,
                                format!("duplicate key `{text}`"),
                            )
                            .label("repeated here")
                            .related(first_span, "first defined here")
                            .hint("Kubernetes rejects duplicate fields; keep one");
                    }
                    entries.push((key, node));
                }
            },
        }
    }
}

/// Applies YAML merge keys (`<<: *base`): entries of the merged mappings that the mapping
/// does not set itself are appended.
fn merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    if !entries.iter().any(|(k, _)| k.as_str() == Some("<<")) {
        return entries;
    }
    let (merges, mut own): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|(k, _)| k.as_str() == Some("<<"));
    for (_, value) in merges {
        let sources: Vec<&Node> = match &value.kind {
            NodeKind::Map(_) => vec![&value],
            NodeKind::Seq(items) => items.iter().collect(),
            NodeKind::Scalar(_) => Vec::new(),
        };
        for source in sources {
            for (k, v) in source.as_map().unwrap_or_default() {
                if !own.iter().any(|(ok, _)| ok.as_str() == k.as_str()) {
                    own.push((k.clone(), v.clone()));
                }
            }
        }
    }
    own
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceMap;

    fn parse_str(text: &str) -> (Vec<Document>, Diagnostics, SourceMap) {
        let mut map = SourceMap::new();
        let id = map.add("t.yaml", text);
        let (docs, diags) = parse(map.get(id), id);
        (docs, diags, map)
    }

    #[test]
    fn keys_and_values_know_where_they_are() {
        let (docs, diags, map) =
            parse_str("a: 1\nlist:\n  - name: x\n    script: |\n      echo é\n");
        assert!(diags.is_empty());
        let root = &docs[0].root;
        let (key, _) = root.entry("list").unwrap();
        assert_eq!((key.span.line, key.span.col), (2, 1));
        let item = &root.get("list").unwrap().as_seq().unwrap()[0];
        let (k, v) = item.entry("script").unwrap();
        assert_eq!((k.span.line, k.span.col), (4, 5));
        assert_eq!(map.get(k.span.file).slice(k.span), "script");
        assert_eq!(v.as_str(), Some("echo é\n"));
        let (name_key, name) = item.entry("name").unwrap();
        assert_eq!(map.get(name.span.file).slice(name.span), "x");
        assert_eq!(name_key.span.col, 5);
    }

    #[test]
    fn multi_document_files() {
        let (docs, diags, _) = parse_str("a: 1\n---\nb: 2\n---\n# only a comment\n");
        assert!(diags.is_empty());
        assert_eq!(docs.len(), 3);
        assert!(docs[2].root.is_null());
        assert_eq!(docs[1].root.entry("b").unwrap().0.span.line, 3);
    }

    #[test]
    fn scalars_resolve_by_core_schema() {
        let (docs, _, _) = parse_str("[1, '1', true, ~, 1.5, x, 0x1f, 1e3, '']");
        let items = docs[0].root.as_seq().unwrap();
        let got: Vec<_> = items
            .iter()
            .map(|n| n.as_scalar().unwrap().resolve().type_name())
            .collect();
        assert_eq!(
            got,
            [
                "integer", "string", "boolean", "null", "number", "string", "integer", "number",
                "string"
            ]
        );
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_are_reported_with_positions() {
        let (_, diags, _) = parse_str("a: 1\nb: 2\na: 3\n");
        let d: Vec<_> = diags.iter().collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::DuplicateKey);
        assert_eq!((d[0].span.line, d[0].span.col), (3, 1));

        let (_, diags, _) = parse_str("a:\n  b: 'unclosed\n");
        let d: Vec<_> = diags.iter().collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::YamlSyntax);
    }

    #[test]
    fn anchors_and_merge_keys() {
        let (docs, diags, _) = parse_str("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n");
        assert!(diags.is_empty());
        let used = docs[0].root.get("use").unwrap();
        assert_eq!(used.get("x").unwrap().as_str(), Some("1"));
        assert_eq!(used.get("y").unwrap().as_str(), Some("3"));
    }
}
