//! Pipeline specs: tasks and finally tasks, their names, references, params, workspaces,
//! `when` expressions, timeouts and matrices.

use crate::diagnostic::{Code, Diagnostics, did_you_mean};
use crate::model::pipeline::{PipelineSpec, WhenExpression};
use crate::source::FileId;
use crate::validate::Context;
use crate::validate::refs::{self, Place, Scope};

/// Checks `when` expressions (of a pipeline task or a step): the operator is `in` or `notin`,
/// there is an input and at least one value, and their references resolve.
pub fn check_when(ctx: &Context<'_>, when: &[WhenExpression], scope: &Scope<'_, '_>, diags: &mut Diagnostics) {
    for w in when {
        if let Some(cel) = &w.cel {
            diags
                .warning(Code::InvalidWhen, cel.span, "CEL `when` expressions need Tekton's alpha `enable-cel-in-whenexpression` flag")
                .label("CEL expression");
            continue;
        }
        match &w.operator {
            Some(op) if op.as_str() == "in" || op.as_str() == "notin" => {}
            Some(op) => {
                diags
                    .error(Code::InvalidWhen, op.span, format!("invalid `when` operator `{op}`"))
                    .label("expected `in` or `notin`")
                    .hint(did_you_mean(op, ["in", "notin"]).unwrap_or_else(|| {
                        "Tekton's `when` supports `in` and `notin` only".to_owned()
                    }));
            }
            None => {
                let at = w.input.as_ref().map(|i| i.span).unwrap_or_default();
                diags
                    .error(Code::InvalidWhen, at, "`when` expression without `operator`")
                    .label("needs `operator: in` or `operator: notin`");
            }
        }
        match &w.input {
            Some(input) => refs::check(ctx, diags, input, scope, Place::When),
            None => {
                let at = w.operator.as_ref().map(|o| o.span).unwrap_or_default();
                diags
                    .error(Code::InvalidWhen, at, "`when` expression without `input`")
                    .label("needs an `input`");
            }
        }
        if w.values.is_empty() {
            let at = w
                .operator
                .as_ref()
                .or(w.input.as_ref())
                .map(|o| o.span)
                .unwrap_or_default();
            diags
                .error(Code::InvalidWhen, at, "`when` expression with no `values`")
                .label("`values` is empty")
                .hint("give at least one value to compare the input with");
        }
        for v in &w.values {
            refs::check(ctx, diags, v, scope, Place::When);
        }
    }
}

pub fn check_pipeline_spec(_ctx: &Context<'_>, _file: FileId, _spec: &PipelineSpec, _diags: &mut Diagnostics) {}
