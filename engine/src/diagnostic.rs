//! Diagnostics: what validation says about a user's YAML. Each one has a severity, a stable
//! [`Code`], a message, the [`Span`] it points at (with a short label for the underline) and an
//! optional hint. Rendering is left to the binary; this module only collects them.

use std::fmt;

use serde::Serialize;

use crate::source::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// Stable identifiers of the kinds of problem, printed as `error[unknown-key]` and in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// The file is not valid YAML.
    YamlSyntax,
    /// The file could not be read.
    Io,
    /// A mapping repeats a key.
    DuplicateKey,
    /// A key the type does not have.
    UnknownKey,
    /// A key written in another case than the field's (`subpath` for `subPath`).
    KeyCase,
    /// A value of the wrong YAML type (a list where a string belongs, ...).
    WrongType,
    /// A required field is absent.
    MissingField,
    /// A value outside the allowed set or form.
    InvalidValue,
    /// `apiVersion`/`kind` that runnel does not know.
    UnknownKind,
    /// A document that is not a Tekton or supporting resource; it is skipped.
    IgnoredDocument,
    /// Two things of one kind share a name.
    DuplicateName,
    /// A name that refers to something that does not exist (runAfter, taskRef, workspace, ...).
    UnresolvedReference,
    /// The pipeline's tasks depend on each other in a loop.
    Cycle,
    /// A param value whose type does not match the declared param type.
    ParamTypeMismatch,
    /// A `$(tasks.X.results.Y)` reference that cannot be satisfied.
    InvalidResultReference,
    /// A `when` expression with an unknown operator or an empty value list.
    InvalidWhen,
    /// A duration that does not parse (`1h30m`, `10s`, `0`, ...).
    InvalidDuration,
    /// A `$(…)` reference to a param/result/workspace/context that does not exist: left as text.
    UnknownVariable,
    /// A field that tekton.dev/v1 dropped (PipelineResources, ...), accepted and ignored.
    Deprecated,
    /// Two fields that exclude each other, or a combination Tekton rejects.
    Conflict,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::YamlSyntax => "yaml-syntax",
            Code::Io => "io",
            Code::DuplicateKey => "duplicate-key",
            Code::UnknownKey => "unknown-key",
            Code::KeyCase => "key-case",
            Code::WrongType => "wrong-type",
            Code::MissingField => "missing-field",
            Code::InvalidValue => "invalid-value",
            Code::UnknownKind => "unknown-kind",
            Code::IgnoredDocument => "ignored-document",
            Code::DuplicateName => "duplicate-name",
            Code::UnresolvedReference => "unresolved-reference",
            Code::Cycle => "cycle",
            Code::ParamTypeMismatch => "param-type-mismatch",
            Code::InvalidResultReference => "invalid-result-reference",
            Code::InvalidWhen => "invalid-when",
            Code::InvalidDuration => "invalid-duration",
            Code::UnknownVariable => "unknown-variable",
            Code::Deprecated => "deprecated",
            Code::Conflict => "conflict",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub span: Span,
    /// Text under the underline; defaults to nothing.
    pub label: Option<String>,
    pub hint: Option<String>,
    /// Other places worth showing (the first definition of a duplicate, ...).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn new(severity: Severity, code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            span,
            label: None,
            hint: None,
            related: Vec::new(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// An ordered collection of diagnostics with builder-style helpers.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

/// Adds a label, hint or related span to the diagnostic just pushed.
pub struct DiagnosticBuilder<'a>(&'a mut Diagnostic);

impl DiagnosticBuilder<'_> {
    pub fn label(self, label: impl Into<String>) -> Self {
        self.0.label = Some(label.into());
        self
    }

    pub fn hint(self, hint: impl Into<String>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }

    pub fn maybe_hint(self, hint: Option<String>) -> Self {
        if let Some(h) = hint {
            self.0.hint = Some(h);
        }
        self
    }

    pub fn related(self, span: Span, label: impl Into<String>) -> Self {
        self.0.related.push((span, label.into()));
        self
    }
}

impl Diagnostics {
    pub fn new() -> Self {
        Diagnostics::default()
    }

    pub fn push(&mut self, d: Diagnostic) -> DiagnosticBuilder<'_> {
        self.items.push(d);
        let last = self.items.len() - 1;
        DiagnosticBuilder(&mut self.items[last])
    }

    pub fn error(
        &mut self,
        code: Code,
        span: Span,
        message: impl Into<String>,
    ) -> DiagnosticBuilder<'_> {
        self.push(Diagnostic::new(Severity::Error, code, span, message))
    }

    pub fn warning(
        &mut self,
        code: Code,
        span: Span,
        message: impl Into<String>,
    ) -> DiagnosticBuilder<'_> {
        self.push(Diagnostic::new(Severity::Warning, code, span, message))
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Sorts by file and position (stable, so passes keep their order at one spot) and drops
    /// exact repeats.
    pub fn sort(&mut self) {
        self.items
            .sort_by_key(|d| (d.span.file, d.span.start, d.severity));
        self.items.dedup();
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// "did you mean `runAfter`?" for a misspelt name among the candidates, if one is close.
pub fn did_you_mean<'a>(
    got: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let got_lower = got.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let score = if c.to_ascii_lowercase() == got_lower {
                1.0
            } else {
                strsim::jaro_winkler(&got_lower, &c.to_ascii_lowercase())
            };
            (score, c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["name", "runAfter", "taskRef", "params"];
        assert_eq!(
            did_you_mean("runafter", keys).as_deref(),
            Some("did you mean `runAfter`?")
        );
        assert_eq!(
            did_you_mean("taskref", keys).as_deref(),
            Some("did you mean `taskRef`?")
        );
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
