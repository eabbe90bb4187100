//! The `runnel validate` command as a user runs it: exit codes, the summary line, and the JSON
//! format, driven through the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn runnel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("the runnel binary runs")
}

fn fixture(dir: &str) -> PathBuf {
    Path::new("tests/fixtures").join(dir)
}

#[test]
fn valid_input_exits_zero_with_a_summary() {
    let out = runnel(&["validate", fixture("valid").to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.ends_with(" 0 errors, 0 warnings") || last.contains(", 0 errors,"),
        "{last}"
    );
}

#[test]
fn errors_exit_one_and_name_file_line_col() {
    let out = runnel(&[
        "validate",
        "--color",
        "never",
        "tests/fixtures/invalid/unknown-key-runafter.yaml",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("[tests/fixtures/invalid/unknown-key-runafter.yaml:"),
        "{stdout}"
    );
    assert!(stdout.contains("did you mean `runAfter`?"), "{stdout}");
    assert!(stdout.trim_end().ends_with("warnings") || stdout.trim_end().ends_with("warning"));
}

#[test]
fn json_has_one_object_per_diagnostic() {
    let out = runnel(&[
        "validate",
        "--format",
        "json",
        "tests/fixtures/invalid/unknown-key-runafter.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let items: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("stdout is a JSON array");
    assert!(!items.is_empty());
    for item in &items {
        for field in [
            "file", "line", "column", "severity", "code", "message", "hint",
        ] {
            assert!(item.get(field).is_some(), "{field} missing in {item}");
        }
    }
    let unknown = items
        .iter()
        .find(|d| d["code"] == "unknown-key")
        .expect("the unknown key is reported");
    assert_eq!(unknown["severity"], "error");
    assert_eq!(
        (unknown["line"].as_u64(), unknown["column"].as_u64()),
        (Some(11), Some(7))
    );
    assert_eq!(unknown["hint"], "did you mean `runAfter`?");
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(
        runnel(&["validate", "no/such/file.yaml"]).status.code(),
        Some(2)
    );
    assert_eq!(runnel(&["validate"]).status.code(), Some(2));
    assert_eq!(
        runnel(&["validate", "--format", "xml", "x"]).status.code(),
        Some(2)
    );
}
