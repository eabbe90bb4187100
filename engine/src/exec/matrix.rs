//! Matrix fan-out as Tekton computes it (`Matrix.FanOut` in tektoncd/pipeline): the
//! combinations of the matrix params (each new param's values taken in turn over the
//! combinations so far), then `include` entries folded into the combinations they match or
//! added as new ones.

use crate::model::pipeline::Matrix;
use crate::subst::Value;

use super::scope::{Scope, substitute_value};

/// One combination: param name → value, in a stable order.
pub type Combination = Vec<(String, String)>;

fn get<'a>(c: &'a Combination, name: &str) -> Option<&'a str> {
    c.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn set(c: &mut Combination, name: &str, value: &str) {
    match c.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value.to_owned(),
        None => c.push((name.to_owned(), value.to_owned())),
    }
}

/// The combinations of `matrix`, its values substituted from `scope`.
pub fn fan_out(matrix: &Matrix, scope: &Scope) -> Vec<Combination> {
    let includes: Vec<Combination> = matrix
        .include
        .iter()
        .map(|inc| {
            inc.params
                .iter()
                .map(|p| {
                    let v = match substitute_value(&p.value, scope) {
                        Value::String(s) => s,
                        Value::Array(a) => a.join(","),
                        Value::Object(_) => String::new(),
                    };
                    (p.name.value.clone(), v)
                })
                .collect()
        })
        .collect();
    if matrix.params.is_empty() {
        return includes;
    }
    let mut combos: Vec<Combination> = Vec::new();
    for p in &matrix.params {
        let values = match substitute_value(&p.value, scope) {
            Value::Array(a) => a,
            Value::String(s) => vec![s],
            Value::Object(o) => o.into_values().collect(),
        };
        let name = p.name.value.as_str();
        if combos.is_empty() {
            combos = values
                .iter()
                .map(|v| vec![(name.to_owned(), v.clone())])
                .collect();
        } else {
            let mut next = Vec::with_capacity(combos.len() * values.len());
            for v in &values {
                for c in &combos {
                    let mut c = c.clone();
                    set(&mut c, name, v);
                    next.push(c);
                }
            }
            combos = next;
        }
    }
    // An include whose values agree with a combination on every param they share adds
    // its other params to it.
    for c in combos.iter_mut() {
        for inc in &includes {
            let matches = inc
                .iter()
                .all(|(k, v)| get(c, k).is_none_or(|have| have == v));
            if matches {
                for (k, v) in inc {
                    set(c, k, v);
                }
            }
        }
    }
    // An include that shares no value with any combination is a combination of its own.
    for inc in &includes {
        if inc.is_empty() {
            continue;
        }
        let overlaps = combos
            .iter()
            .any(|c| inc.iter().any(|(k, v)| get(c, k) == Some(v.as_str())));
        if !overlaps {
            combos.push(inc.clone());
        }
    }
    combos
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Loaded;
    use crate::model::Resource;

    fn matrix_of(yaml: &str) -> Matrix {
        let mut loaded = Loaded::new();
        loaded.add_source("m.yaml", yaml.to_owned());
        let Some(Resource::Pipeline(p)) = loaded.resources.first().map(|r| r.resource.clone())
        else {
            panic!("no pipeline in {yaml}")
        };
        p.spec.tasks[0]
            .matrix
            .clone()
            .into_option()
            .map(|m| m.value)
            .expect("matrix")
    }

    fn pipeline(matrix: &str) -> String {
        format!(
            "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {{name: p}}\nspec:\n  tasks:\n  - name: t\n    taskRef: {{name: x}}\n    matrix:\n{matrix}"
        )
    }

    #[test]
    fn combinations_follow_tekton_order() {
        let m = matrix_of(&pipeline(
            "      params:\n      - {name: os, value: [linux, mac]}\n      - {name: arch, value: [amd64, arm64]}\n",
        ));
        let combos = fan_out(&m, &Scope::new());
        let text: Vec<String> = combos
            .iter()
            .map(|c| format!("{}/{}", get(c, "os").unwrap(), get(c, "arch").unwrap()))
            .collect();
        // Tekton distributes each new param's values over the combinations so far.
        assert_eq!(
            text,
            ["linux/amd64", "mac/amd64", "linux/arm64", "mac/arm64"]
        );
    }

    #[test]
    fn include_extends_matching_combinations_and_adds_new_ones() {
        // Tekton's documented example: GOARCH × version, with include entries.
        let m = matrix_of(&pipeline(
            "      params:\n      - {name: GOARCH, value: [\"linux/amd64\", \"linux/ppc64le\"]}\n      - {name: version, value: [go1.17, go1.18.1]}\n      include:\n      - name: common-package\n        params:\n        - {name: package, value: path/to/common/package/}\n      - name: s390x-no-race\n        params:\n        - {name: GOARCH, value: \"linux/s390x\"}\n        - {name: flags, value: \"-cover -v\"}\n      - name: go117-context\n        params:\n        - {name: version, value: go1.17}\n        - {name: context, value: path/to/go117/context}\n",
        ));
        let combos = fan_out(&m, &Scope::new());
        assert_eq!(combos.len(), 5, "{combos:?}");
        assert!(
            combos[..4]
                .iter()
                .all(|c| get(c, "package") == Some("path/to/common/package/"))
        );
        let with_context: Vec<_> = combos
            .iter()
            .filter(|c| get(c, "context").is_some())
            .map(|c| get(c, "version"))
            .collect();
        assert_eq!(with_context, [Some("go1.17"), Some("go1.17")]);
        assert_eq!(get(&combos[4], "GOARCH"), Some("linux/s390x"));
        assert_eq!(get(&combos[4], "flags"), Some("-cover -v"));
    }

    #[test]
    fn include_only_gives_explicit_combinations() {
        let m = matrix_of(&pipeline(
            "      include:\n      - name: a\n        params: [{name: x, value: \"1\"}]\n      - name: b\n        params: [{name: x, value: \"2\"}]\n",
        ));
        let combos = fan_out(&m, &Scope::new());
        assert_eq!(
            combos,
            vec![
                vec![("x".into(), "1".into())],
                vec![("x".into(), "2".into())]
            ]
        );
    }
}
