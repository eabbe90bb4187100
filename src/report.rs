//! Printing diagnostics: the human form (rustc/miette style: the message, `file:line:col`,
//! the source line with the span underlined, and a hint) and the JSON form for editors and CI.

use std::fmt::Write as _;
use std::sync::Arc;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Report,
};
use runnel_engine::{Diagnostic, Diagnostics, Severity, SourceMap, Span};
use serde_json::json;

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Colors and Unicode box drawing, for a terminal.
    Color,
    /// The same layout without colors, for logs, files and snapshots.
    Plain,
}

/// The span as miette wants it, cut to its first line: a value that spans many lines (a
/// mapping, a block scalar) is pointed at, not boxed in full.
fn to_source_span(span: Span, text: &str) -> miette::SourceSpan {
    let start = span.start as usize;
    let len = text
        .get(start..span.end as usize)
        .and_then(|t| t.find('\n'))
        .unwrap_or(span.len());
    (start, len).into()
}

/// Renders one diagnostic as text, the way `runnel validate` prints it.
pub fn render(diag: &Diagnostic, sources: &SourceMap, style: Style) -> String {
    let file = sources.get(diag.span.file);
    let mut labels = vec![LabeledSpan::new_primary_with_span(
        diag.label.clone(),
        to_source_span(diag.span, &file.text),
    )];
    let mut help = diag.hint.clone();
    for (span, label) in &diag.related {
        if span.file == diag.span.file {
            labels.push(LabeledSpan::new_with_span(
                Some(label.clone()),
                to_source_span(*span, &file.text),
            ));
        } else {
            let note = format!("{label}: {}", sources.location(*span));
            help = Some(match help {
                Some(h) => format!("{h}\n{note}"),
                None => note,
            });
        }
    }
    let mut report = MietteDiagnostic::new(diag.message.clone())
        .with_code(diag.code.as_str())
        .with_severity(match diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
        .with_labels(labels);
    if let Some(h) = help {
        report = report.with_help(h);
    }
    let name = sources.path(diag.span.file).display().to_string();
    let source = NamedSource::new(name, Arc::clone(&file.text));
    let report = Report::new(report).with_source_code(source);
    let theme = match style {
        Style::Color => GraphicalTheme::unicode(),
        Style::Plain => GraphicalTheme::unicode_nocolor(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false)
        .with_context_lines(1);
    let mut out = String::new();
    if handler.render_report(&mut out, report.as_ref()).is_err() {
        // The handler only fails when writing to `out` fails, which a String never does; keep
        // a one-line fallback all the same.
        out.clear();
        let _ = writeln!(
            out,
            "{}[{}]: {} at {}",
            diag.severity,
            diag.code,
            diag.message,
            sources.location(diag.span)
        );
    }
    out
}

/// The closing line: `N files, E errors, W warnings`.
pub fn summary(files: usize, diags: &Diagnostics) -> String {
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    format!(
        "{}, {}, {}",
        plural(files, "file"),
        plural(diags.error_count(), "error"),
        plural(diags.warning_count(), "warning")
    )
}

/// One JSON object per diagnostic.
pub fn to_json(diag: &Diagnostic, sources: &SourceMap) -> serde_json::Value {
    let file = sources.get(diag.span.file);
    let (end_line, end_col) = file.line_col(diag.span.end);
    json!({
        "file": sources.path(diag.span.file).display().to_string(),
        "line": diag.span.line,
        "column": diag.span.col,
        "endLine": end_line,
        "endColumn": end_col,
        "severity": diag.severity,
        "code": diag.code,
        "message": diag.message,
        "hint": diag.hint,
    })
}
