//! Task specs, wherever they appear (a Task, a pipeline task's `taskSpec`, a TaskRun's
//! `taskSpec`): steps, sidecars, params, results, workspaces and the references in them.

use crate::diagnostic::Diagnostics;
use crate::model::task::TaskSpec;
use crate::validate::Context;
use crate::validate::refs::{PipelineScope, TaskScope};

/// What the strings of `spec` can refer to.
pub fn task_scope(spec: &TaskSpec) -> TaskScope<'_> {
    TaskScope {
        params: spec
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.effective_type()))
            .collect(),
        results: spec.results.iter().map(|r| r.name.as_str()).collect(),
        workspaces: spec.workspaces.iter().map(|w| w.name.as_str()).collect(),
        steps: spec
            .steps
            .iter()
            .filter_map(|s| s.name.as_ref().map(|n| n.as_str()))
            .collect(),
    }
}

/// Checks one task spec; `pipeline` is the enclosing pipeline's scope for an embedded spec.
pub fn check_task_spec(
    _ctx: &Context<'_>,
    _spec: &TaskSpec,
    _pipeline: Option<&PipelineScope<'_>>,
    _diags: &mut Diagnostics,
) {
}
