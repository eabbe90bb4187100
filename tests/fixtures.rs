//! Data-driven diagnostics tests. Every `tests/fixtures/invalid/*.yaml` is validated on its own
//! and its rendered diagnostics (positions included) are compared with a snapshot in
//! `tests/snapshots/`; every one must produce at least one error. Every
//! `tests/fixtures/valid/*.yaml` must produce none (its warnings are snapshotted too). Update snapshots with
//! `INSTA_UPDATE=always cargo test --test fixtures` (or `cargo insta review`).

use std::path::Path;

use runnel::report::{self, Style};
use runnel_engine::load::Loaded;

/// Loads one fixture under its path relative to the project root, so snapshots are stable.
fn check(path: &Path) -> (String, usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let relative = path.strip_prefix(root).unwrap_or(path);
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    let mut loaded = Loaded::new();
    loaded.add_source(relative, text);
    let diags = runnel_engine::validate::validate(&loaded);
    let mut out = String::new();
    for d in diags.iter() {
        out.push_str(&report::render(d, &loaded.sources, Style::Plain));
    }
    out.push_str(&report::summary(1, &diags));
    out.push('\n');
    (out, diags.error_count())
}

#[test]
fn invalid_fixtures_report_their_errors() {
    insta::glob!("fixtures/invalid/*.yaml", |path| {
        let (rendered, errors) = check(path);
        assert!(
            errors > 0,
            "{} is an invalid fixture but produced no error:\n{rendered}",
            path.display()
        );
        insta::assert_snapshot!(rendered);
    });
}

#[test]
fn valid_fixtures_have_no_errors() {
    insta::glob!("fixtures/valid/*.yaml", |path| {
        let (rendered, errors) = check(path);
        assert_eq!(errors, 0, "{}:\n{rendered}", path.display());
        insta::assert_snapshot!(rendered);
    });
}

#[test]
fn there_are_enough_invalid_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let count = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        })
        .count();
    assert!(
        count >= 40,
        "only {count} invalid fixtures; the suite wants at least 40"
    );
}
