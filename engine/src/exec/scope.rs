//! The values `$(…)` references stand for while a run executes: params, context variables,
//! task results and statuses, result and workspace paths. A [`Scope`] is a table built up as
//! the run goes, over an optional shared parent (the PipelineRun's values, which every one of
//! its TaskRuns sees without copying them); [`crate::subst`] reads it through [`Lookup`].

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::param::ParamValue;
use crate::subst::{Lookup, Value};
use crate::vars::Var;

/// A table of known values, keyed by a canonical form of the reference. Its own values hide
/// the parent's.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    values: HashMap<String, Value>,
    parent: Option<Arc<Scope>>,
    /// The parent's params are not seen (a Task's params are only its own).
    parent_without_params: bool,
}

const PARAMS: &str = "params\0";

fn param_key(name: &str) -> String {
    format!("{PARAMS}{name}")
}

impl Scope {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty scope that sees every value of `parent` (until it sets its own).
    pub fn child_of(parent: Arc<Scope>) -> Self {
        Scope {
            values: HashMap::new(),
            parent: Some(parent),
            parent_without_params: false,
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        if let Some(v) = self.values.get(key) {
            return Some(v);
        }
        let parent = self.parent.as_deref()?;
        if self.parent_without_params && key.starts_with(PARAMS) {
            return None;
        }
        parent.get(key)
    }

    /// Calls `f` with every value this scope sees (its own first; params of the parent
    /// only when `params`).
    fn for_each_visible(&self, params: bool, f: &mut dyn FnMut(&String, &Value)) {
        for (k, v) in &self.values {
            if params || !k.starts_with(PARAMS) {
                f(k, v);
            }
        }
        if let Some(parent) = &self.parent {
            let params = params && !self.parent_without_params;
            parent.for_each_visible(params, &mut |k, v| {
                if !self.values.contains_key(k) {
                    f(k, v);
                }
            });
        }
    }

    /// Copies every value of `other` that this scope does not have, params only when
    /// `params`. A scope without a parent of its own shares `other`'s instead of copying it.
    fn inherit_from(&mut self, other: &Scope, params: bool) {
        if self.parent.is_none() {
            self.values.reserve(other.values.len());
            for (k, v) in &other.values {
                if (params || !k.starts_with(PARAMS)) && !self.values.contains_key(k) {
                    self.values.insert(k.clone(), v.clone());
                }
            }
            self.parent = other.parent.clone();
            self.parent_without_params = !params || other.parent_without_params;
            return;
        }
        let mut missing = Vec::new();
        other.for_each_visible(params, &mut |k, v| {
            if self.get(k).is_none() {
                missing.push((k.clone(), v.clone()));
            }
        });
        self.values.extend(missing);
    }

    pub fn set_param(&mut self, name: &str, value: Value) {
        self.values.insert(param_key(name), value);
    }

    pub fn param(&self, name: &str) -> Option<&Value> {
        self.get(&param_key(name))
    }

    /// `context.PATH`, e.g. `pipelineRun.name`.
    pub fn set_context(&mut self, path: &str, value: impl Into<String>) {
        self.values
            .insert(format!("context\0{path}"), Value::String(value.into()));
    }

    /// `tasks.TASK.results.NAME`.
    pub fn set_task_result(&mut self, task: &str, name: &str, value: Value) {
        self.values.insert(format!("tasks\0{task}\0{name}"), value);
    }

    pub fn task_result(&self, task: &str, name: &str) -> Option<&Value> {
        self.get(&format!("tasks\0{task}\0{name}"))
    }

    /// `tasks.TASK.status` / `tasks.TASK.reason`.
    pub fn set_task_status(&mut self, task: &str, attr: &str, value: impl Into<String>) {
        self.values.insert(
            format!("status\0{task}\0{attr}"),
            Value::String(value.into()),
        );
    }

    /// `tasks.status`.
    pub fn set_aggregate_status(&mut self, value: impl Into<String>) {
        self.values
            .insert("status\0".to_owned(), Value::String(value.into()));
    }

    /// `tasks.TASK.matrix.length` (`result` None) or `tasks.TASK.matrix.RESULT.length`.
    pub fn set_matrix_length(&mut self, task: &str, result: Option<&str>, len: usize) {
        self.values.insert(
            format!("matrix\0{task}\0{}", result.unwrap_or("")),
            Value::String(len.to_string()),
        );
    }

    /// `results.NAME.path` (and `step.results.NAME.path` inside steps).
    pub fn set_result_path(&mut self, name: &str, path: impl Into<String>) {
        self.values
            .insert(format!("result\0{name}"), Value::String(path.into()));
    }

    /// `step.results.NAME.path`, inside the step that declares the result.
    pub fn set_step_result_path(&mut self, name: &str, path: impl Into<String>) {
        self.values
            .insert(format!("stepresult\0{name}"), Value::String(path.into()));
    }

    /// `workspaces.NAME.ATTR` for ATTR in path, bound, claim, volume.
    pub fn set_workspace(&mut self, name: &str, attr: &str, value: impl Into<String>) {
        self.values.insert(
            format!("workspace\0{name}\0{attr}"),
            Value::String(value.into()),
        );
    }

    /// `steps.STEP.exitCode.path`.
    pub fn set_step_exit_code_path(&mut self, step: &str, path: impl Into<String>) {
        self.values
            .insert(format!("exit\0{step}"), Value::String(path.into()));
    }

    /// `credentials.path`.
    pub fn set_credentials_path(&mut self, path: impl Into<String>) {
        self.values
            .insert("credentials".to_owned(), Value::String(path.into()));
    }

    /// Copies every value of `other` that this scope does not have.
    pub fn inherit(&mut self, other: &Scope) {
        self.inherit_from(other, true);
    }

    /// Copies every value of `other` except params; a Task's params are only its own.
    pub fn inherit_without_params(&mut self, other: &Scope) {
        self.inherit_from(other, false);
    }
}

impl Lookup for Scope {
    fn lookup(&self, var: &Var<'_>) -> Option<&Value> {
        let key = match var {
            Var::Param { name, .. } => param_key(name),
            Var::Context { path } => format!("context\0{path}"),
            Var::PipelineTaskResult { task, name, .. } => format!("tasks\0{task}\0{name}"),
            Var::PipelineTaskStatus { task, attr } => format!("status\0{task}\0{attr}"),
            Var::AggregateStatus => "status\0".to_owned(),
            Var::MatrixLength { task, result } => {
                format!("matrix\0{task}\0{}", result.unwrap_or(""))
            }
            Var::TaskResult { name, attr } if *attr == "path" => format!("result\0{name}"),
            Var::OwnStepResult { name, attr } if *attr == "path" => {
                format!("stepresult\0{name}")
            }
            Var::Workspace { name, attr } => format!("workspace\0{name}\0{attr}"),
            Var::StepExitCode { step } => format!("exit\0{step}"),
            Var::Credentials => "credentials".to_owned(),
            _ => return None,
        };
        self.get(&key)
    }
}

/// A param value as a substitution value.
pub fn value_of(p: &ParamValue) -> Value {
    match p {
        ParamValue::String(s) => Value::String(s.clone()),
        ParamValue::Array(items) => Value::Array(items.iter().map(|s| s.value.clone()).collect()),
        ParamValue::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
        ),
    }
}

/// A declared param's value from what was given and its default: an object given for an
/// object param is merged over the default's keys; `None` when there is neither.
pub fn with_default(given: Option<Value>, default: Option<Value>) -> Option<Value> {
    match (given, default) {
        (Some(Value::Object(g)), Some(Value::Object(mut d))) => {
            d.extend(g);
            Some(Value::Object(d))
        }
        (Some(v), _) => Some(v),
        (None, d) => d,
    }
}

/// A value as JSON (for records and pipeline results).
pub fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(a) => serde_json::Value::Array(
            a.iter()
                .map(|s| serde_json::Value::String(s.clone()))
                .collect(),
        ),
        Value::Object(o) => serde_json::Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        ),
    }
}

/// Substitutes a param value (each of its strings); a string that is exactly one reference
/// to an array or object becomes that array or object, as Tekton does for
/// `value: $(params.list)` or `value: $(tasks.a.results.list)`.
pub fn substitute_value(p: &ParamValue, scope: &Scope) -> Value {
    use crate::subst::{substitute, substitute_list};
    use crate::vars::{self, Access};
    match p {
        ParamValue::String(s) => {
            let refs = vars::scan(s);
            if let [only] = refs.as_slice()
                && only.start == 0
                && only.end == s.len()
            {
                let access = match &only.var {
                    Var::Param { access, .. } | Var::PipelineTaskResult { access, .. } => *access,
                    _ => Access::Whole,
                };
                if matches!(access, Access::Whole | Access::Star)
                    && let Some(v @ (Value::Array(_) | Value::Object(_))) = scope.lookup(&only.var)
                {
                    return v.clone();
                }
            }
            Value::String(substitute(s, scope))
        }
        ParamValue::Array(items) => {
            let items: Vec<String> = items.iter().map(|s| s.value.clone()).collect();
            Value::Array(substitute_list(&items, scope))
        }
        ParamValue::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, scope)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Scope;
    use crate::subst::Value;

    fn text(v: Option<&Value>) -> Option<&str> {
        match v? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A pipeline's scope shared under a task's, as the scheduler builds them.
    fn task_scope() -> Scope {
        let mut pipeline = Scope::new();
        pipeline.set_param("p", Value::String("pipeline".into()));
        pipeline.set_param("shadowed", Value::String("pipeline".into()));
        pipeline.set_task_result("a", "r", Value::String("from a".into()));
        let mut task = Scope::child_of(Arc::new(pipeline));
        task.set_param("shadowed", Value::String("task".into()));
        task.set_context("pipelineTask.retries", "0");
        task
    }

    #[test]
    fn a_child_sees_its_parent_under_its_own_values() {
        let s = task_scope();
        assert_eq!(text(s.param("p")), Some("pipeline"));
        assert_eq!(text(s.param("shadowed")), Some("task"));
        assert_eq!(text(s.task_result("a", "r")), Some("from a"));
        assert_eq!(s.param("nope"), None);
    }

    #[test]
    fn inheriting_keeps_own_values_first_and_can_leave_params_out() {
        let outer = task_scope();
        let mut with = Scope::new();
        with.set_param("p", Value::String("own".into()));
        with.inherit(&outer);
        assert_eq!(text(with.param("p")), Some("own"));
        assert_eq!(text(with.param("shadowed")), Some("task"));
        assert_eq!(text(with.task_result("a", "r")), Some("from a"));

        let mut without = Scope::new();
        without.inherit_without_params(&outer);
        assert_eq!(without.param("p"), None);
        assert_eq!(without.param("shadowed"), None);
        assert_eq!(text(without.task_result("a", "r")), Some("from a"));

        // A scope that has a parent already copies what it does not see, params or not.
        let mut nested = Scope::child_of(Arc::new(with.clone()));
        nested.inherit_without_params(&outer);
        assert_eq!(text(nested.param("p")), Some("own"));
        let mut again = without.clone();
        again.inherit(&with);
        assert_eq!(text(again.param("p")), Some("own"));
        assert_eq!(text(again.param("shadowed")), Some("task"));
        assert_eq!(text(again.task_result("a", "r")), Some("from a"));
    }
}
