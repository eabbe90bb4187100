//! `code-quality` and `unit-test` on the Docker runner with the Python test image (Python
//! projects, and a Node project's detection), and unit-test's cargo path on the local runner.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;

use tempfile::TempDir;

use crate::{Run, run_task, tree};

const PYTHON_IMAGE: &str = "runnel-test/python";

/// Whether the Docker engine and the Python test image are here; outside CI, says why not.
fn docker_ready() -> bool {
    crate::support::docker::ready(&[PYTHON_IMAGE])
}

/// A Python service in a workspace directory, and where its TaskRuns run.
struct Project {
    dir: TempDir,
    source: PathBuf,
    /// The workspace's files before any run.
    files: BTreeSet<String>,
}

impl Project {
    fn new(files: &[(&str, &str)]) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        for (name, text) in files {
            let path = source.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let config = dir.path().join("runnel.toml");
        std::fs::write(
            &config,
            format!("runner = \"docker\"\n\n[[images.rewrite]]\nfrom = \"python:*\"\nto = \"{PYTHON_IMAGE}\"\n"),
        )
        .unwrap();
        let files = tree(&source);
        Project { dir, source, files }
    }

    /// Runs `task` on Docker with the project as its `source` workspace; then checks that
    /// the workspace holds what it held (no __pycache__, .ruff_cache, .mypy_cache,
    /// .pytest_cache, .coverage or report left behind).
    fn run(&self, task: &str, params: &[(&str, &str)]) -> Run {
        let args: Vec<OsString> = vec![
            "--runner".into(),
            "docker".into(),
            "--config".into(),
            self.dir.path().join("runnel.toml").into(),
            "-w".into(),
            format!("source={}", self.source.display()).into(),
        ];
        let run = run_task(self.dir.path(), task, params, &args, &[]);
        let left: Vec<String> = tree(&self.source)
            .difference(&self.files)
            .cloned()
            .collect();
        assert!(
            left.is_empty(),
            "{task} left {left:?} in the workspace\n{}",
            run.all
        );
        run
    }
}

const PYPROJECT: &str = "[project]\nname = \"calc\"\nversion = \"0.1.0\"\n";

const CLEAN: &str = r#""""Arithmetic."""


def add(a: int, b: int) -> int:
    return a + b


def label(n: int) -> str:
    return f"n={n}"
"#;

/// Two unused imports (ruff F401 twice) and a wrong return type (one mypy error).
const DIRTY: &str = r#""""Arithmetic, with two unused imports and a wrong return type."""

import os
import sys


def add(a: int, b: int) -> int:
    return a + b


def label(n: int) -> str:
    return n
"#;

/// Lints clean, but `ruff format` would reformat it.
const UNFORMATTED: &str = "PRICES = {  \"tea\":1, \"coffee\" :2 }\n";

/// Run by hand in runnel-test/python (ruff 0.17.6, mypy 2.4.1) over DIRTY and UNFORMATTED:
/// `ruff check` reports calc.py:3:8 and calc.py:4:8 (F401), `ruff format --check` one file
/// (prices.py), mypy calc.py:12 (return-value): 4 issues.
const DIRTY_ISSUES: &str = "4";

#[test]
fn code_quality_finds_nothing_in_a_clean_python_project() {
    if !docker_ready() {
        return;
    }
    let project = Project::new(&[("pyproject.toml", PYPROJECT), ("calc.py", CLEAN)]);
    let run = project.run("code-quality", &[]);
    run.assert_succeeded();
    assert_eq!(
        run.result("language").as_deref(),
        Some("python"),
        "{}",
        run.all
    );
    assert_eq!(run.result("issues").as_deref(), Some("0"), "{}", run.all);
}

#[test]
fn code_quality_counts_ruff_format_and_mypy_findings_and_fails() {
    if !docker_ready() {
        return;
    }
    let project = Project::new(&[
        ("pyproject.toml", PYPROJECT),
        ("calc.py", DIRTY),
        ("prices.py", UNFORMATTED),
    ]);
    let run = project.run("code-quality", &[]);
    run.assert_failed();
    assert_eq!(
        run.result("issues").as_deref(),
        Some(DIRTY_ISSUES),
        "{}",
        run.all
    );
    assert_eq!(
        run.result("language").as_deref(),
        Some("python"),
        "{}",
        run.all
    );
    for finding in [
        "calc.py:3:8: F401",
        "calc.py:4:8: F401",
        "prices.py",
        "calc.py:12: error: Incompatible return value type",
    ] {
        assert!(run.all.contains(finding), "{finding}\n{}", run.all);
    }
}

#[test]
fn code_quality_with_fail_on_issues_false_succeeds_and_still_counts() {
    if !docker_ready() {
        return;
    }
    let project = Project::new(&[
        ("pyproject.toml", PYPROJECT),
        ("calc.py", DIRTY),
        ("prices.py", UNFORMATTED),
    ]);
    let run = project.run("code-quality", &[("fail-on-issues", "false")]);
    run.assert_succeeded();
    assert_eq!(
        run.result("issues").as_deref(),
        Some(DIRTY_ISSUES),
        "{}",
        run.all
    );
}

/// A linter that cannot run lints nothing: ruff, stopped by a misspelt setting, counts one
/// issue per run (check and format), though the code itself is clean.
#[test]
fn code_quality_counts_a_linter_that_cannot_run() {
    if !docker_ready() {
        return;
    }
    let pyproject = format!("{PYPROJECT}\n[tool.ruff]\nline-lenght = 100\n");
    let project = Project::new(&[("pyproject.toml", &pyproject), ("calc.py", CLEAN)]);
    let run = project.run("code-quality", &[]);
    run.assert_failed();
    assert_eq!(run.result("issues").as_deref(), Some("2"), "{}", run.all);
    assert!(run.all.contains("ruff failed"), "{}", run.all);
}

/// mypy's errors about files rather than lines (a module found twice stops it) count too.
#[test]
fn code_quality_counts_mypys_errors_without_a_line() {
    if !docker_ready() {
        return;
    }
    let project = Project::new(&[
        ("pyproject.toml", PYPROJECT),
        ("a/util.py", "X: int = 1\n"),
        ("b/util.py", "Y: int = 2\n"),
    ]);
    let run = project.run("code-quality", &[]);
    run.assert_failed();
    assert_eq!(run.result("issues").as_deref(), Some("1"), "{}", run.all);
    assert!(
        run.all.contains("error: Duplicate module named \"util\""),
        "{}",
        run.all
    );
}

/// A package.json makes it a Node project. The Python image has no npm, so the task fails
/// after detecting it; the `language` result it wrote first is still recorded (the results of
/// a failed TaskRun are kept), and `issues`, never reached, is absent.
#[test]
fn code_quality_detects_a_node_project_from_package_json() {
    if !docker_ready() {
        return;
    }
    let project = Project::new(&[(
        "package.json",
        r#"{"name": "calc", "version": "1.0.0", "scripts": {"test": "node --test"}}"#,
    )]);
    let run = project.run("code-quality", &[]);
    run.assert_failed();
    assert_eq!(
        run.result("language").as_deref(),
        Some("node"),
        "{}",
        run.all
    );
    assert!(
        run.all.contains("code-quality: linting node"),
        "{}",
        run.all
    );
    assert!(run.all.contains("npm: not found"), "{}", run.all);
    assert_eq!(run.result("issues"), None, "{}", run.all);
}

/// calc.py: 8 statements, 3 of them in `unused` never run; test_calc.py: 7 statements, all
/// run (the failing assert too). Coverage over `.`: 12 of 15 lines, 80.0%.
const CALC: &str = r#"def add(a: int, b: int) -> int:
    return a + b


def sub(a: int, b: int) -> int:
    return a - b


def unused(a: int) -> int:
    if a > 0:
        return a
    return -a
"#;

const TESTS_ONE_FAILING: &str = r#"from calc import add, sub


def test_add() -> None:
    assert add(1, 2) == 3


def test_sub() -> None:
    assert sub(3, 1) == 2


def test_wrong() -> None:
    assert add(2, 2) == 5
"#;

const TESTS_PASSING: &str = r#"from calc import add, sub, unused


def test_add() -> None:
    assert add(1, 2) == 3


def test_sub() -> None:
    assert sub(3, 1) == 2


def test_unused() -> None:
    assert unused(2) == 2
    assert unused(-2) == 2
"#;

#[test]
fn unit_test_counts_a_failing_test_and_fails() {
    if !docker_ready() {
        return;
    }
    let project = Project::new(&[
        ("pyproject.toml", PYPROJECT),
        ("calc.py", CALC),
        ("test_calc.py", TESTS_ONE_FAILING),
    ]);
    let run = project.run("unit-test", &[]);
    run.assert_failed();
    assert_eq!(run.result("passed").as_deref(), Some("2"), "{}", run.all);
    assert_eq!(run.result("failed").as_deref(), Some("1"), "{}", run.all);
    let coverage: f64 = run
        .result("coverage")
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("coverage is no number\n{}", run.all));
    assert_eq!(coverage, 80.0, "{}", run.all);
    assert!(
        run.all.contains("FAILED test_calc.py::test_wrong"),
        "{}",
        run.all
    );
}

#[test]
fn unit_test_passes_when_every_test_does() {
    if !docker_ready() {
        return;
    }
    let project = Project::new(&[
        ("pyproject.toml", PYPROJECT),
        ("calc.py", CALC),
        ("test_calc.py", TESTS_PASSING),
    ]);
    let run = project.run("unit-test", &[]);
    run.assert_succeeded();
    assert_eq!(run.result("passed").as_deref(), Some("3"), "{}", run.all);
    assert_eq!(run.result("failed").as_deref(), Some("0"), "{}", run.all);
    assert_eq!(
        run.result("coverage").as_deref(),
        Some("100.0"),
        "{}",
        run.all
    );
}

/// cargo test's exit status reaches the task through the pipe that shows its output: a
/// failing Rust test fails the task (on the local runner, with the host's cargo).
#[test]
fn unit_test_fails_when_a_cargo_test_fails() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    std::fs::create_dir_all(source.join("src")).unwrap();
    std::fs::write(
        source.join("Cargo.toml"),
        "[package]\nname = \"calc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        source.join("src/lib.rs"),
        "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() {\n        assert_eq!(super::add(1, 2), 3);\n    }\n\n    #[test]\n    fn wrong() {\n        assert_eq!(super::add(2, 2), 5);\n    }\n}\n",
    )
    .unwrap();
    let args: Vec<OsString> = vec![
        "--runner".into(),
        "local".into(),
        "-w".into(),
        format!("source={}", source.display()).into(),
    ];
    // A target directory of its own: never the one this test was built in.
    let env = [(
        "CARGO_TARGET_DIR",
        dir.path().join("target").into_os_string(),
    )];
    let run = run_task(dir.path(), "unit-test", &[], &args, &env);
    run.assert_failed();
    assert_eq!(run.result("passed").as_deref(), Some("1"), "{}", run.all);
    assert_eq!(run.result("failed").as_deref(), Some("1"), "{}", run.all);
    assert_eq!(run.result("coverage").as_deref(), Some(""), "{}", run.all);
}
