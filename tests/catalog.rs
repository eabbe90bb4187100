//! The project's own YAML — the shared task catalog (`tasks/`) and the example pipelines
//! (`pipelines/`) — validates with no errors and no warnings: what we ship is our best example.

use std::path::PathBuf;

use runnel::report::{self, Style};
use runnel_engine::load::Loaded;

#[test]
fn tasks_and_pipelines_validate_cleanly() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let loaded = Loaded::from_paths(&[root.join("tasks"), root.join("pipelines")])
        .expect("tasks/ and pipelines/ exist");
    assert!(
        loaded
            .sources
            .files()
            .any(|(_, f)| f.path.ends_with("pipelines/hello.yaml")),
        "pipelines/hello.yaml is the README's first pipeline"
    );
    let diags = runnel_engine::validate::validate(&loaded);
    let shown: Vec<String> = diags
        .iter()
        .map(|d| report::render(d, &loaded.sources, Style::Plain))
        .collect();
    assert!(shown.is_empty(), "{}", shown.join("\n"));
}
