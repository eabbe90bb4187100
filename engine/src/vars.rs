//! `$(…)` variable references: finding them in a string and telling what each refers to
//! (`params.x`, `tasks.t.results.r[*]`, `workspaces.w.path`, `context.pipelineRun.name`, ...).
//! Validation uses this to check references; substitution uses it to replace them. A `$(…)`
//! that is not a Tekton variable (`$(cat /tmp/x)`, `$(date)`) is [`Var::NotAVariable`]: Tekton
//! leaves such text as it is.

/// One `$(…)` occurrence in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef<'a> {
    /// Byte offset of `$(` in the string.
    pub start: usize,
    /// Byte offset one past `)`.
    pub end: usize,
    /// The text between `$(` and `)`.
    pub expr: &'a str,
    pub var: Var<'a>,
}

/// How a param or result value is accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access<'a> {
    /// `$(params.x)`: the whole value.
    Whole,
    /// `$(params.x[*])`: every element of an array, or every key of an object.
    Star,
    /// `$(params.x[2])`
    Index(usize),
    /// `$(params.x.key)`: one key of an object.
    Key(&'a str),
}

/// What a reference points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var<'a> {
    /// `params.NAME`, `params['NAME']`, `params["NAME"]`, and the legacy `inputs.params.NAME`.
    Param {
        name: &'a str,
        access: Access<'a>,
        legacy: bool,
    },
    /// `results.NAME.path` (or another attribute) inside a task.
    TaskResult { name: &'a str, attr: &'a str },
    /// `step.results.NAME.path` inside a step (step results, written by the step itself).
    OwnStepResult { name: &'a str, attr: &'a str },
    /// `steps.STEP.results.NAME` or `steps.step-STEP.results.NAME`.
    StepResult { step: &'a str, name: &'a str },
    /// `steps.STEP.exitCode.path`.
    StepExitCode { step: &'a str },
    /// `workspaces.NAME.ATTR` with ATTR in path, bound, claim, volume.
    Workspace { name: &'a str, attr: &'a str },
    /// `context.…`, e.g. `context.pipelineRun.name`; `path` is what follows `context.`.
    Context { path: &'a str },
    /// `tasks.TASK.results.NAME` with an optional access.
    PipelineTaskResult {
        task: &'a str,
        name: &'a str,
        access: Access<'a>,
    },
    /// `tasks.TASK.status` or `tasks.TASK.reason` (finally tasks only).
    PipelineTaskStatus { task: &'a str, attr: &'a str },
    /// `tasks.status`: the aggregate status of the pipeline's tasks (finally tasks only).
    AggregateStatus,
    /// `tasks.TASK.matrix.length` or `tasks.TASK.matrix.RESULT.length`.
    MatrixLength {
        task: &'a str,
        result: Option<&'a str>,
    },
    /// `credentials.path`.
    Credentials,
    /// `inputs.resources.…` / `outputs.resources.…`: PipelineResources, gone in v1.
    PipelineResource,
    /// A known root (`params`, `tasks`, ...) followed by something Tekton does not define.
    Malformed { root: &'a str },
    /// Not a Tekton variable at all (shell command substitution, ...): left as text.
    NotAVariable,
}

/// Every `$(…)` in `text`, in order.
pub fn scan(text: &str) -> Vec<VarRef<'_>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("$(") {
        let start = from + i;
        let body_start = start + 2;
        let Some(close) = text[body_start..].find(')') else {
            break;
        };
        // `$(cat $(results.x.path))`: the outer one is the shell's; the inner one is ours.
        if text[body_start..body_start + close].contains("$(") {
            from = body_start;
            continue;
        }
        let end = body_start + close + 1;
        let expr = &text[body_start..end - 1];
        found.push(VarRef {
            start,
            end,
            expr,
            var: classify(expr),
        });
        from = end;
    }
    found
}

/// Splits `name` and what follows it in `x`, `x[*]`, `x[0]`, `x.key`, `'x'`, `["x"]`.
fn name_and_access(rest: &str) -> Option<(&str, Access<'_>)> {
    let (name, tail) = if let Some(q) = rest.strip_prefix('[') {
        let quote = q.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let inner = &q[1..];
        let close = inner.find(quote)?;
        let after = inner[close + 1..].strip_prefix(']')?;
        (&inner[..close], after)
    } else {
        let rest = rest.strip_prefix('.')?;
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        (&rest[..end], &rest[end..])
    };
    if name.is_empty() {
        return None;
    }
    let access = access(tail)?;
    Some((name, access))
}

fn access(tail: &str) -> Option<Access<'_>> {
    if tail.is_empty() {
        return Some(Access::Whole);
    }
    if tail == "[*]" {
        return Some(Access::Star);
    }
    if let Some(idx) = tail.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return idx.parse().ok().map(Access::Index);
    }
    if let Some(key) = tail.strip_prefix('.')
        && !key.is_empty()
        && !key.contains(['.', '['])
    {
        return Some(Access::Key(key));
    }
    None
}

fn classify(expr: &str) -> Var<'_> {
    if expr.is_empty() || expr.contains(|c: char| c.is_whitespace() || c == '(' || c == '$') {
        return Var::NotAVariable;
    }
    let root_end = expr.find(['.', '[']).unwrap_or(expr.len());
    let root = &expr[..root_end];
    let rest = &expr[root_end..];
    let parts: Vec<&str> = rest
        .strip_prefix('.')
        .map_or(Vec::new(), |r| r.split('.').collect());
    let malformed = Var::Malformed { root };
    match root {
        "params" => match name_and_access(rest) {
            Some((name, access)) => Var::Param {
                name,
                access,
                legacy: false,
            },
            None => malformed,
        },
        "inputs" | "outputs" => match parts.as_slice() {
            ["params", ..] => match name_and_access(&rest[".params".len()..]) {
                Some((name, access)) => Var::Param {
                    name,
                    access,
                    legacy: true,
                },
                None => malformed,
            },
            ["resources", ..] => Var::PipelineResource,
            _ => malformed,
        },
        "results" => match parts.as_slice() {
            [name, attr] => Var::TaskResult { name, attr },
            _ => malformed,
        },
        "step" => match parts.as_slice() {
            ["results", name, attr] => Var::OwnStepResult { name, attr },
            _ => malformed,
        },
        "steps" => match parts.as_slice() {
            [step, "results", name] => Var::StepResult { step, name },
            [step, "exitCode", "path"] => Var::StepExitCode { step },
            _ => malformed,
        },
        "workspaces" => match parts.as_slice() {
            [name, attr @ ("path" | "bound" | "claim" | "volume")] => Var::Workspace { name, attr },
            _ => malformed,
        },
        "context" if !parts.is_empty() => Var::Context { path: &rest[1..] },
        "credentials" if parts.as_slice() == ["path"] => Var::Credentials,
        "tasks" => classify_tasks(rest, &parts).unwrap_or(malformed),
        "context" | "credentials" => malformed,
        _ => Var::NotAVariable,
    }
}

fn classify_tasks<'a>(rest: &'a str, parts: &[&'a str]) -> Option<Var<'a>> {
    match parts {
        ["status"] => return Some(Var::AggregateStatus),
        [task, attr @ ("status" | "reason")] => {
            return Some(Var::PipelineTaskStatus { task, attr });
        }
        [task, "matrix", "length"] => return Some(Var::MatrixLength { task, result: None }),
        [task, "matrix", result, "length"] => {
            return Some(Var::MatrixLength {
                task,
                result: Some(result),
            });
        }
        _ => {}
    }
    // tasks.TASK.results.NAME[access]
    let task = *parts.first()?;
    let after_task = &rest[1 + task.len()..];
    let after = after_task.strip_prefix(".results")?;
    let (name, access) = name_and_access(after)?;
    Some(Var::PipelineTaskResult { task, name, access })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Var<'_> {
        let refs = scan(text);
        assert_eq!(refs.len(), 1, "{text}");
        refs.into_iter()
            .next()
            .map(|r| r.var)
            .unwrap_or(Var::NotAVariable)
    }

    #[test]
    fn params_in_every_form() {
        let p = |name, access| Var::Param {
            name,
            access,
            legacy: false,
        };
        assert_eq!(one("$(params.url)"), p("url", Access::Whole));
        assert_eq!(one("$(params.list[*])"), p("list", Access::Star));
        assert_eq!(one("$(params.list[2])"), p("list", Access::Index(2)));
        assert_eq!(one("$(params.obj.key)"), p("obj", Access::Key("key")));
        assert_eq!(
            one("$(params['dotted.name'])"),
            p("dotted.name", Access::Whole)
        );
        assert_eq!(one("$(params[\"x\"][*])"), p("x", Access::Star));
        assert_eq!(
            one("$(inputs.params.url)"),
            Var::Param {
                name: "url",
                access: Access::Whole,
                legacy: true
            }
        );
        assert_eq!(one("$(params)"), Var::Malformed { root: "params" });
    }

    #[test]
    fn a_reference_inside_shell_command_substitution_is_found() {
        assert_eq!(
            one("exit $(cat $(steps.first.exitCode.path))"),
            Var::StepExitCode { step: "first" }
        );
    }

    #[test]
    fn pipeline_references() {
        assert_eq!(
            one("$(tasks.build.results.digest)"),
            Var::PipelineTaskResult {
                task: "build",
                name: "digest",
                access: Access::Whole
            }
        );
        assert_eq!(
            one("$(tasks.build.results.list[*])"),
            Var::PipelineTaskResult {
                task: "build",
                name: "list",
                access: Access::Star
            }
        );
        assert_eq!(
            one("$(tasks.build.results.obj.key)"),
            Var::PipelineTaskResult {
                task: "build",
                name: "obj",
                access: Access::Key("key")
            }
        );
        assert_eq!(one("$(tasks.status)"), Var::AggregateStatus);
        assert_eq!(
            one("$(tasks.build.status)"),
            Var::PipelineTaskStatus {
                task: "build",
                attr: "status"
            }
        );
        assert_eq!(
            one("$(tasks.fan.matrix.length)"),
            Var::MatrixLength {
                task: "fan",
                result: None
            }
        );
    }

    #[test]
    fn task_references() {
        assert_eq!(
            one("$(results.out.path)"),
            Var::TaskResult {
                name: "out",
                attr: "path"
            }
        );
        assert_eq!(
            one("$(workspaces.src.path)"),
            Var::Workspace {
                name: "src",
                attr: "path"
            }
        );
        assert_eq!(
            one("$(context.pipelineRun.name)"),
            Var::Context {
                path: "pipelineRun.name"
            }
        );
        assert_eq!(
            one("$(steps.step-a.results.r)"),
            Var::StepResult {
                step: "step-a",
                name: "r"
            }
        );
        assert_eq!(
            one("$(workspaces.src)"),
            Var::Malformed { root: "workspaces" }
        );
    }

    #[test]
    fn shell_is_not_a_variable_and_offsets_are_exact() {
        let text = "x=$(cat /tmp/language) y=$(params.a)$(date)";
        let refs = scan(text);
        assert_eq!(refs.len(), 3);
        assert_eq!(refs[0].var, Var::NotAVariable);
        assert_eq!(&text[refs[1].start..refs[1].end], "$(params.a)");
        assert_eq!(refs[2].var, Var::NotAVariable);
        assert!(scan("no refs here, $ ( nor this").is_empty());
    }
}
