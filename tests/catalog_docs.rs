//! `docs/catalog.md` is generated from the Tasks in `tasks/` (`runnel::catalog_docs`); this
//! test fails when the checked-in page drifts. Regenerate with
//! `RUNNEL_UPDATE_DOCS=1 cargo test --test catalog_docs`.

use std::path::Path;

use runnel::catalog_docs::{REGENERATE, render};

#[test]
fn checked_in_catalog_page_matches_the_tasks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = root.join("docs/catalog.md");
    let generated = render(&root.join("tasks")).unwrap_or_else(|e| panic!("{e:#}"));
    if std::env::var_os("RUNNEL_UPDATE_DOCS").is_some() {
        std::fs::write(&page, &generated).expect("write docs/catalog.md");
        return;
    }
    let on_disk = std::fs::read_to_string(&page).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/catalog.md is out of date with tasks/; run `{REGENERATE}` and commit it"
    );
}

/// Every task of the catalog has its section, with the tables a reader looks for.
#[test]
fn every_task_has_its_section() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let generated = render(&root.join("tasks")).unwrap_or_else(|e| panic!("{e:#}"));
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("tasks")).expect("tasks/ exists") {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().join(format!("{name}.yaml")).is_file() {
            names.push(name);
        }
    }
    names.sort();
    for name in &names {
        let heading = format!("\n## {name}\n");
        let at = generated
            .find(&heading)
            .unwrap_or_else(|| panic!("no section for {name}:\n{generated}"));
        let section = &generated[at + heading.len()..];
        let section = &section[..section.find("\n## ").unwrap_or(section.len())];
        for part in ["**Params**", "**Results**", "**Workspaces**", "**Images**"] {
            assert!(section.contains(part), "{name} lacks {part}:\n{section}");
        }
        assert!(
            generated.contains(&format!("| [{name}](#{name}) |")),
            "{name} is not in the index"
        );
    }
    // Sections come sorted by name.
    let order: Vec<usize> = names
        .iter()
        .map(|n| generated.find(&format!("\n## {n}\n")).unwrap_or(0))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{names:?}");
}

/// What the page shows of one task: each table's rows, images resolved from params.
#[test]
fn a_task_renders_as_tables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("greet")).unwrap();
    std::fs::write(dir.path().join("greet/README.md"), "# greet\n").unwrap();
    std::fs::write(
        dir.path().join("greet/greet.yaml"),
        r#"apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: greet
  labels:
    app.kubernetes.io/version: "0.1"
  annotations:
    tekton.dev/displayName: Greet
    runnel.dev/deployment: "$(params.who)"
spec:
  description: >-
    Says hello. Then | leaves.
  params:
    - name: who
      description: Whom to greet.
    - name: tone
      description: How.
      default: calm
      enum: [calm, loud]
    - name: extra
      type: array
      description: More words.
      default: [a, b]
    - name: image
      description: The image.
      default: busybox:1.37
  results:
    - name: said
      description: What was said.
  workspaces:
    - name: out
      description: Where to write.
      optional: true
  steps:
    - name: say
      image: $(params.image)
      env:
        - name: WHO
          value: $(params.who)
        - name: TONE
          value: $(params.tone)
      args: ["$(params.extra[*])"]
      script: |
        #!/bin/sh
        set -eu
        printf 'hello %s' "$WHO" > "$(results.said.path)"
        echo "$TONE" > "$(workspaces.out.path)/tone"
    - name: again
      image: alpine:3.20
      script: |
        #!/bin/sh
        true
"#,
    )
    .unwrap();
    let page = render(dir.path()).unwrap_or_else(|e| panic!("{e:#}"));
    for line in [
        "| [greet](#greet) | Says hello. |",
        "## greet\n\n**Greet** · version 0.1 · [`tasks/greet/greet.yaml`](../tasks/greet/greet.yaml) · [README](../tasks/greet/README.md)\n",
        "Says hello. Then | leaves.\n",
        "recorded as a deployment to `$(params.who)`",
        "| `who` | string | *required* | Whom to greet. |",
        "| `tone` | string | `\"calm\"` | How. One of `calm`, `loud`. |",
        "| `extra` | array | `[\"a\", \"b\"]` | More words. |",
        "| `said` | string | What was said. |",
        "| `out` | yes | Where to write. |",
        "- `busybox:1.37` (param `image`)\n- `alpine:3.20`\n",
    ] {
        assert!(page.contains(line), "no {line:?} in\n{page}");
    }
}

/// A catalog file that does not load is an error, not a task left out of the page.
#[test]
fn a_broken_task_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "kind: Task\n  bad: [\n").unwrap();
    let error = render(dir.path()).expect_err("a broken file fails");
    assert!(
        format!("{error:#}").contains("runnel validate"),
        "{error:#}"
    );
}
