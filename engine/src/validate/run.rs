//! TaskRuns and PipelineRuns: what they run (a reference resolved in the input, or an
//! embedded spec), the params and workspaces they bind, their timeouts and status.

use crate::diagnostic::Diagnostics;
use crate::model::run::{PipelineRun, TaskRun};
use crate::source::FileId;
use crate::validate::Context;

pub fn check_task_run(_ctx: &Context<'_>, _file: FileId, _run: &TaskRun, _diags: &mut Diagnostics) {
}

pub fn check_pipeline_run(
    _ctx: &Context<'_>,
    _file: FileId,
    _run: &PipelineRun,
    _diags: &mut Diagnostics,
) {
}
