//! Params and workspaces on both sides of a binding: declarations (unique names, a default of
//! the declared type and inside the enum) and what a caller passes (every required param
//! given, of the right type; every required workspace bound). Used for pipeline tasks,
//! TaskRuns and PipelineRuns alike.

use crate::diagnostic::{Code, Diagnostics, did_you_mean};
use crate::model::param::{Param, ParamSpec, ParamType, ParamValue};
use crate::source::Span;
use crate::spanned::Spanned;
use crate::validate::duplicates;

/// Checks a list of param declarations.
pub fn check_specs(params: &[ParamSpec], diags: &mut Diagnostics) {
    duplicates(diags, "param", params.iter().map(|p| &p.name));
    for p in params {
        let name = p.name.as_str();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid {
            diags
                .error(Code::InvalidValue, p.name.span, format!("invalid param name `{name}`"))
                .label("invalid name")
                .hint("param names start with a letter or `_` and contain only letters, digits, `_`, `-` and `.`");
        }
        let declared = p.effective_type();
        let Some(default) = &p.default else { continue };
        let given = default.param_type();
        if given != declared {
            diags
                .error(
                    Code::ParamTypeMismatch,
                    default.span,
                    format!(
                        "default of param `{name}` is {}, but the param is of type {}",
                        a(given),
                        declared
                    ),
                )
                .label(format!("{} value", given))
                .hint(type_hint(declared));
        }
        let allowed = &p.r#enum;
        if let ParamValue::String(value) = &default.value
            && !allowed.is_empty()
            && !allowed.iter().any(|a| a.as_str() == value)
        {
            let names: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
            diags
                .error(
                    Code::InvalidValue,
                    default.span,
                    format!("default `{value}` of param `{name}` is not in its enum"),
                )
                .label("not an allowed value")
                .hint(
                    did_you_mean(value, names.iter().copied()).unwrap_or_else(|| {
                        format!(
                            "allowed: {}",
                            names
                                .iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }),
                );
        }
    }
}

fn a(t: ParamType) -> String {
    match t {
        ParamType::Array => "an array".into(),
        ParamType::Object => "an object".into(),
        ParamType::String => "a string".into(),
    }
}

fn type_hint(t: ParamType) -> String {
    match t {
        ParamType::String => "give a string, e.g. `value: \"text\"`".into(),
        ParamType::Array => "give a list, e.g. `value: [a, b]`".into(),
        ParamType::Object => "give a mapping of strings, e.g. `value: {key: v}`".into(),
    }
}

/// Checks the params a caller passes against the declarations of what it calls. `callee`
/// names it in messages ("task `git-clone`"); `at` is where to point for missing params.
pub fn check_bindings(
    declared: &[ParamSpec],
    given: &[&Param],
    callee: &str,
    at: Span,
    diags: &mut Diagnostics,
) {
    check_bindings_fanned(declared, given, &[], callee, at, diags);
}

/// [`check_bindings`] for a pipeline task with a matrix: `fanned_out` params (matrix params
/// and `include` params) count as given, each run getting one element, so their type is not
/// compared with the declaration.
pub fn check_bindings_fanned(
    declared: &[ParamSpec],
    given: &[&Param],
    fanned_out: &[&Param],
    callee: &str,
    at: Span,
    diags: &mut Diagnostics,
) {
    for p in declared {
        if p.default.is_none()
            && !given
                .iter()
                .chain(fanned_out)
                .any(|g| g.name.as_str() == p.name.as_str())
        {
            diags
                .error(
                    Code::MissingField,
                    at,
                    format!("{callee} requires param `{}`, which is not given", p.name),
                )
                .label(format!("`{}` missing", p.name))
                .hint(format!("pass it under `params:` (`- name: {}` with a `value`), or give the param a default", p.name));
        }
    }
    for g in given.iter().chain(fanned_out) {
        let Some(spec) = declared.iter().find(|p| p.name.as_str() == g.name.as_str()) else {
            let names: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
            diags
                .warning(
                    Code::UnresolvedReference,
                    g.name.span,
                    format!(
                        "{callee} declares no param `{}`; the value is ignored",
                        g.name
                    ),
                )
                .label("not declared")
                .maybe_hint(did_you_mean(&g.name, names.iter().copied()));
            continue;
        };
        let declared_type = spec.effective_type();
        let given_type = g.value.param_type();
        // A lone `$(params.x[*])` or `$(tasks.t.results.r)` string may expand to an array
        // or object; only literal values are checked.
        let is_reference =
            matches!(&g.value.value, ParamValue::String(s) if s.trim_start().starts_with("$("));
        let fanned = fanned_out.iter().any(|f| std::ptr::eq(*f, *g));
        if given_type != declared_type && !is_reference && !fanned {
            diags
                .error(
                    Code::ParamTypeMismatch,
                    g.value.span,
                    format!(
                        "param `{}` of {callee} is of type {declared_type}, but is given {}",
                        g.name,
                        a(given_type)
                    ),
                )
                .label(format!("{given_type} value"))
                .hint(type_hint(declared_type));
        }
    }
}

/// A declared workspace: its name and whether it may be left unbound.
pub struct DeclaredWorkspace<'a> {
    pub name: &'a Spanned<String>,
    pub optional: bool,
}

/// Checks workspace bindings against declarations: every required one bound, no binding to a
/// workspace that is not declared.
pub fn check_workspace_bindings(
    declared: &[DeclaredWorkspace<'_>],
    bound: &[&Spanned<String>],
    callee: &str,
    at: Span,
    diags: &mut Diagnostics,
) {
    for d in declared {
        if !d.optional && !bound.iter().any(|b| b.as_str() == d.name.as_str()) {
            diags
                .error(
                    Code::MissingField,
                    at,
                    format!("{callee} needs workspace `{}`, which is not bound", d.name),
                )
                .label(format!("`{}` not bound", d.name))
                .hint(format!(
                    "bind it under `workspaces:` (`- name: {}`), or declare it `optional: true`",
                    d.name
                ));
        }
    }
    let names: Vec<&str> = declared.iter().map(|d| d.name.as_str()).collect();
    for b in bound {
        if !names.contains(&b.as_str()) {
            diags
                .error(
                    Code::UnresolvedReference,
                    b.span,
                    format!("{callee} declares no workspace `{b}`"),
                )
                .label("not declared")
                .maybe_hint(did_you_mean(b, names.iter().copied()));
        }
    }
}
