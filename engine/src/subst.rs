//! Variable substitution as Tekton does it: one pass over the text, each `$(…)` that names a
//! known value replaced by it, everything else left exactly as written (Tekton never fails on
//! an unknown reference, and values inserted are not scanned again). In a list (`args`,
//! `command`), an element that is only an array reference (`$(params.flags[*])`) becomes
//! one element per array item.

use std::collections::BTreeMap;

use crate::vars::{self, Access, Var};

/// A value a reference can stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    String(String),
    Array(Vec<String>),
    Object(BTreeMap<String, String>),
}

/// Where substitution gets values from: given a reference (without its `[i]`, `[*]` or
/// `.key` access), the whole value, or `None` to leave the reference as written.
pub trait Lookup {
    fn lookup(&self, var: &Var<'_>) -> Option<&Value>;
}

/// The access a reference applies to its value, if it has one.
fn access_of<'a>(var: &Var<'a>) -> Access<'a> {
    match var {
        Var::Param { access, .. } | Var::PipelineTaskResult { access, .. } => *access,
        _ => Access::Whole,
    }
}

/// What one reference becomes inside a string, or `None` to keep it as written.
fn as_text(value: &Value, access: Access<'_>) -> Option<String> {
    match (value, access) {
        (Value::String(s), Access::Whole) => Some(s.clone()),
        (Value::Array(items), Access::Index(i)) => items.get(i).cloned(),
        (Value::Object(map), Access::Key(k)) => map.get(k).cloned(),
        // A whole array or object has no text form; Tekton's validation rejects these uses.
        _ => None,
    }
}

/// Replaces every reference in `text` that `lookup` knows.
pub fn substitute(text: &str, lookup: &impl Lookup) -> String {
    let refs = vars::scan(text);
    if refs.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for r in refs {
        let replacement = lookup
            .lookup(&r.var)
            .and_then(|value| as_text(value, access_of(&r.var)));
        if let Some(replacement) = replacement {
            out.push_str(&text[copied..r.start]);
            out.push_str(&replacement);
            copied = r.end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Substitutes each element of a list; an element that is exactly one reference to an array
/// with `[*]` (or to a whole array) expands into the array's items.
pub fn substitute_list(items: &[String], lookup: &impl Lookup) -> Vec<String> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let refs = vars::scan(item);
        if let [only] = refs.as_slice()
            && only.start == 0
            && only.end == item.len()
            && matches!(access_of(&only.var), Access::Star | Access::Whole)
            && let Some(Value::Array(values)) = lookup.lookup(&only.var)
        {
            out.extend(values.iter().cloned());
            continue;
        }
        out.push(substitute(item, lookup));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Values by the reference's name: `p.NAME` for params, `t.TASK.RESULT` for task
    /// results, `c.PATH` for context variables.
    struct Table(HashMap<String, Value>);

    impl Lookup for Table {
        fn lookup(&self, var: &Var<'_>) -> Option<&Value> {
            let key = match var {
                Var::Param { name, .. } => format!("p.{name}"),
                Var::PipelineTaskResult { task, name, .. } => format!("t.{task}.{name}"),
                Var::Context { path } => format!("c.{path}"),
                _ => return None,
            };
            self.0.get(&key)
        }
    }

    fn table() -> Table {
        let s = |v: &str| Value::String(v.to_owned());
        Table(HashMap::from([
            ("p.who".to_owned(), s("world")),
            ("p.tricky".to_owned(), s("$(params.who)")),
            (
                "p.flags".to_owned(),
                Value::Array(vec!["-v".into(), "--strict".into()]),
            ),
            (
                "p.obj".to_owned(),
                Value::Object(BTreeMap::from([("url".into(), "https://x".into())])),
            ),
            ("t.build.digest".to_owned(), s("sha256:abc")),
            ("c.pipelineRun.name".to_owned(), s("run-1")),
        ]))
    }

    #[test]
    fn known_references_are_replaced_and_unknown_ones_kept() {
        let t = table();
        assert_eq!(
            substitute("hello $(params.who) from $(context.pipelineRun.name)", &t),
            "hello world from run-1"
        );
        assert_eq!(
            substitute("$(params.nope) $(cat /tmp/x) $(params.who)", &t),
            "$(params.nope) $(cat /tmp/x) world"
        );
        assert_eq!(
            substitute("$(tasks.build.results.digest)", &t),
            "sha256:abc"
        );
        assert_eq!(
            substitute("legacy $(inputs.params.who)", &t),
            "legacy world"
        );
    }

    #[test]
    fn substitution_is_one_pass() {
        // The inserted value looks like a reference; Tekton does not expand it again.
        assert_eq!(substitute("$(params.tricky)", &table()), "$(params.who)");
    }

    #[test]
    fn indexes_and_keys_pick_one_item() {
        let t = table();
        assert_eq!(substitute("$(params.flags[1])", &t), "--strict");
        assert_eq!(substitute("$(params.flags[9])", &t), "$(params.flags[9])");
        assert_eq!(substitute("$(params.obj.url)", &t), "https://x");
        assert_eq!(
            substitute("$(params.flags) $(params.obj)", &t),
            "$(params.flags) $(params.obj)"
        );
    }

    #[test]
    fn array_references_expand_in_lists() {
        let items: Vec<String> = [
            "build",
            "$(params.flags[*])",
            "--name=$(params.who)",
            "$(params.flags)",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            substitute_list(&items, &table()),
            ["build", "-v", "--strict", "--name=world", "-v", "--strict"]
        );
    }
}
