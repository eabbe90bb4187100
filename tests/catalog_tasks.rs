//! Three tasks of the catalog through the real binary: `runnel run` of a TaskRun that names the
//! task by `taskRef`, resolved from `tasks/`, its workspace a host directory (`-w`).
//!
//! - `git-clone` on the local runner (the step runs on this host, with its git) from a
//!   repository served by `git daemon` on loopback or by a file:// URL: a branch, a tag, an
//!   exact commit that no branch points at, a subdirectory, `depth`, `delete-existing`, the
//!   results against the checkout, a revision that does not exist, the `ssh-directory` and
//!   `basic-auth` workspaces; and the home the step was given (the user's, on the local
//!   runner) is never written to.
//! - `code-quality` and `unit-test` on Docker, the catalog's `python:*` images mapped to the
//!   local `runnel-test/python` (ruff, mypy, pytest, pytest-cov; built by `tests/images`),
//!   skipped without Docker or that image unless CI is set: issue counts as ruff and mypy give
//!   them, language detection, test counts and coverage, and nothing (no cache) left in the
//!   workspace. `unit-test`'s cargo path runs on the local runner, where cargo is sure to be.
//!
//! Results are read from `runnel run`'s summary (`result NAME: VALUE`), which a failed TaskRun
//! has too, and once from the run's record (`runnel describe`). The cases are in
//! `catalog_tasks/git_clone.rs` and `catalog_tasks/lint_and_test.rs`; this file holds what they share.

mod support;

#[path = "catalog_tasks/git_clone.rs"]
mod git_clone;
#[path = "catalog_tasks/lint_and_test.rs"]
mod lint_and_test;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use support::runnel;

fn tasks() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tasks")
}

/// A TaskRun of the catalog's `task` with string params; its workspaces come from `-w`.
fn taskrun(name: &str, task: &str, params: &[(&str, &str)]) -> String {
    let mut yaml = format!(
        "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {{name: {name}}}\nspec:\n  taskRef: {{name: {task}}}\n"
    );
    if !params.is_empty() {
        yaml.push_str("  params:\n");
        for (name, value) in params {
            // A Rust string literal is a YAML double-quoted scalar for these values.
            yaml.push_str(&format!("    - {{name: {name}, value: {value:?}}}\n"));
        }
    }
    yaml
}

/// How `runnel run` ended and what it printed.
pub struct Run {
    code: Option<i32>,
    stdout: String,
    /// stdout, then stderr: for assertion messages and for the steps' lines.
    all: String,
}

impl Run {
    fn from(out: std::process::Output) -> Run {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let all = format!(
            "{stdout}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Run {
            code: out.status.code(),
            stdout,
            all,
        }
    }

    /// The value of `result NAME: VALUE` in the summary; `None` when the task wrote none.
    pub fn result(&self, name: &str) -> Option<String> {
        let prefix = format!("result {name}:");
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
    }

    /// The TaskRun's status from the summary's last line (`✔ NAME: Succeeded (REASON)`).
    pub fn status(&self) -> String {
        self.stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("✔ ").or_else(|| l.strip_prefix("✘ ")))
            .and_then(|l| l.split_once(": "))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no verdict in\n{}", self.all))
            .to_owned()
    }

    pub fn assert_succeeded(&self) {
        assert_eq!(self.code, Some(0), "{}", self.all);
        assert_eq!(self.status(), "Succeeded", "{}", self.all);
    }

    pub fn assert_failed(&self) {
        assert_eq!(self.code, Some(1), "{}", self.all);
        assert_eq!(self.status(), "Failed", "{}", self.all);
    }
}

/// Runs a TaskRun of `task` in `dir` (where its records go, `.runnel`) with `args` after the
/// file (`-w`, `--runner`, `--config`) and `env` added to runnel's environment, which the
/// local runner's steps inherit.
pub fn run_task(
    dir: &Path,
    task: &str,
    params: &[(&str, &str)],
    args: &[OsString],
    env: &[(&str, OsString)],
) -> Run {
    std::fs::write(dir.join("taskrun.yaml"), taskrun(task, task, params)).unwrap();
    let out = runnel()
        .args(["run", "taskrun.yaml", "--tasks"])
        .arg(tasks())
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .output()
        .expect("runnel runs");
    Run::from(out)
}

/// Every path under `dir`, relative to it, `.git` left out.
pub fn tree(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            out.insert(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

pub fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
