//! The shared conformance corpus (real Tekton YAML from tektoncd/pipeline's examples and
//! tektoncd/catalog, read in place from `../shared/conformance`) must load and validate with
//! zero errors: every file there is valid Tekton.

use std::path::PathBuf;

use runnel::report::{self, Style};
use runnel_engine::load::Loaded;

fn corpus(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance")
        .join(sub)
}

fn assert_valid(sub: &str, min_files: usize) {
    let dir = corpus(sub);
    assert!(
        dir.is_dir(),
        "{} is missing: the conformance corpus is read in place from ../shared",
        dir.display()
    );
    let loaded = Loaded::from_paths(&[dir]).expect("corpus paths exist");
    let diags = runnel_engine::validate::validate(&loaded);
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| report::render(d, &loaded.sources, Style::Plain))
        .collect();
    println!("{sub}: {}", report::summary(loaded.sources.len(), &diags));
    assert!(
        loaded.sources.len() >= min_files,
        "expected at least {min_files} files in {sub}, found {}",
        loaded.sources.len()
    );
    assert!(
        errors.is_empty(),
        "{} errors in valid Tekton YAML:\n{}",
        errors.len(),
        errors.join("\n")
    );
    assert!(!loaded.resources.is_empty());
}

#[test]
fn tekton_examples_validate_without_errors() {
    assert_valid("tekton-examples", 80);
}

#[test]
fn tekton_catalog_validates_without_errors() {
    assert_valid("tekton-catalog", 350);
}
