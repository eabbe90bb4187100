//! Tekton's step `when`: a step runs only when its `when` expressions hold. They are
//! decided just before the step would start, as Tekton's entrypoint decides them, so that
//! they can read the results of the steps before it (`$(steps.NAME.results.RESULT)`). A
//! skipped step ends with exit code 0 and the next steps still run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use runnel_runner::StepGuard;

use crate::exec::scope::Scope;
use crate::model::pipeline::WhenExpression;
use crate::subst::{Lookup, Value, substitute, substitute_list};
use crate::vars::Var;

/// One `when` expression with everything but step results substituted.
struct Test {
    input: String,
    notin: bool,
    values: Vec<String>,
}

/// The guard of a step with `when` expressions; `None` without any. `steps` is the host
/// directory that holds each step's `step-NAME/results/RESULT` files.
pub(crate) fn guard(when: &[WhenExpression], scope: &Scope, steps: &Path) -> Option<StepGuard> {
    if when.is_empty() {
        return None;
    }
    if when.iter().any(|w| w.cel.is_some()) {
        return Some(StepGuard(Arc::new(|| {
            Err("CEL `when` expressions are not supported by runnel".to_owned())
        })));
    }
    // Params, context and workspaces now; step results stay as written until the step
    // is due (substitution leaves unknown references alone).
    let tests: Vec<Test> = when
        .iter()
        .map(|w| Test {
            input: w
                .input
                .as_ref()
                .map(|i| substitute(i, scope))
                .unwrap_or_default(),
            notin: w.operator.as_ref().is_some_and(|o| o.as_str() == "notin"),
            values: substitute_list(
                &w.values.iter().map(|v| v.value.clone()).collect::<Vec<_>>(),
                scope,
            ),
        })
        .collect();
    let steps = steps.to_path_buf();
    Some(StepGuard(Arc::new(move || {
        let results = StepResults::read(&steps);
        Ok(tests.iter().all(|t| {
            let input = substitute(&t.input, &results);
            let values = substitute_list(&t.values, &results);
            values.contains(&input) != t.notin
        }))
    })))
}

/// The results the steps have written so far, by step name (without `step-`) and result.
struct StepResults(HashMap<(String, String), Value>);

impl StepResults {
    fn read(steps: &Path) -> StepResults {
        let mut found = HashMap::new();
        let Ok(dirs) = std::fs::read_dir(steps) else {
            return StepResults(found);
        };
        for dir in dirs.flatten() {
            let name = dir.file_name().to_string_lossy().into_owned();
            let Some(step) = name.strip_prefix("step-") else {
                continue;
            };
            let results: PathBuf = dir.path().join("results");
            let Ok(files) = std::fs::read_dir(&results) else {
                continue;
            };
            for file in files.flatten() {
                let Ok(text) = std::fs::read_to_string(file.path()) else {
                    continue;
                };
                // An array result is written as JSON, as Tekton writes it.
                let value = match serde_json::from_str::<Vec<String>>(&text) {
                    Ok(items) => Value::Array(items),
                    Err(_) => Value::String(text),
                };
                let result = file.file_name().to_string_lossy().into_owned();
                found.insert((step.to_owned(), result), value);
            }
        }
        StepResults(found)
    }
}

impl Lookup for StepResults {
    fn lookup(&self, var: &Var<'_>) -> Option<&Value> {
        let Var::StepResult { step, name } = var else {
            return None;
        };
        let get = |step: &str| self.0.get(&(step.to_owned(), (*name).to_owned()));
        get(step).or_else(|| step.strip_prefix("step-").and_then(get))
    }
}
