//! `engine::resolve`: finding the Task, Pipeline or StepAction a reference names in the given
//! files and catalog directories.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use runnel_engine::load::Loaded;
use runnel_engine::model::pipeline::PipelineRef;
use runnel_engine::model::{Param, ParamValue, PipelineSpec, Resource, TaskRef};
use runnel_engine::resolve::{Catalog, RefKind, ResolveError, TaskKind};
use runnel_engine::{Span, Spanned};

fn spanned(value: &str) -> Spanned<String> {
    Spanned::new(Span::default(), value.to_owned())
}

fn by_name(name: &str) -> TaskRef {
    TaskRef {
        name: Some(spanned(name)),
        ..TaskRef::default()
    }
}

fn params(pairs: &[(&str, &str)]) -> Vec<Param> {
    pairs
        .iter()
        .map(|(k, v)| Param {
            name: spanned(k),
            value: Spanned::new(Span::default(), ParamValue::String((*v).to_owned())),
        })
        .collect()
}

fn by_resolver(resolver: &str, pairs: &[(&str, &str)]) -> TaskRef {
    TaskRef {
        resolver: Some(spanned(resolver)),
        params: params(pairs),
        ..TaskRef::default()
    }
}

/// A Task named `name`, labelled with `version` if given; `mark` goes into its description
/// so a test can tell definitions apart.
fn task(name: &str, version: Option<&str>, mark: &str) -> String {
    let labels = version.map_or_else(String::new, |v| {
        format!("  labels:\n    app.kubernetes.io/version: \"{v}\"\n")
    });
    format!(
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: {name}\n{labels}spec:\n  description: {mark}\n  steps:\n    - name: main\n      image: alpine\n      script: echo {mark}\n"
    )
}

fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn description(t: &runnel_engine::resolve::ResolvedTask) -> &str {
    t.spec.description.as_deref().unwrap_or("")
}

#[test]
fn the_given_files_come_before_catalog_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let given = write(
        tmp.path(),
        "pipeline.yaml",
        &format!(
            "{}---\napiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: ci\nspec:\n  tasks:\n    - name: build\n      taskRef:\n        name: build\n",
            task("build", None, "given")
        ),
    );
    let tasks = tmp.path().join("tasks");
    write(&tasks, "build.yaml", &task("build", Some("9.9"), "catalog"));
    write(&tasks, "lint.yaml", &task("lint", None, "catalog-lint"));

    let loaded = Loaded::from_paths(&[given]).unwrap();
    assert!(!loaded.diagnostics.has_errors());
    let mut catalog = Catalog::new();
    catalog.add_loaded(&loaded, "the given files (pipeline.yaml)");
    let diags = catalog.add_dir(&tasks).unwrap();
    assert!(diags.is_empty(), "{diags:?}");

    let build = catalog.task(&by_name("build")).unwrap();
    assert_eq!(description(&build), "given");
    assert_eq!(build.origin.place, "the given files (pipeline.yaml)");
    assert_eq!(build.origin.dir, None);
    assert!(build.origin.path.ends_with("pipeline.yaml"));
    assert_eq!(build.origin.span.line, 1);
    assert_eq!(build.kind, TaskKind::Task);

    let lint = catalog.task(&by_name("lint")).unwrap();
    assert_eq!(description(&lint), "catalog-lint");
    assert_eq!(lint.origin.dir.as_deref(), Some(tasks.as_path()));
    assert!(
        lint.origin.to_string().ends_with("lint.yaml:1"),
        "{}",
        lint.origin
    );
    // Spans of catalog definitions point into the catalog's own sources.
    assert!(
        catalog
            .sources()
            .path(lint.origin.span.file)
            .ends_with("lint.yaml")
    );

    // A version only the catalog has is found there.
    let v = catalog.task(&by_name("build@9.9")).unwrap();
    assert_eq!(description(&v), "catalog");

    let pipeline = catalog
        .pipeline(&PipelineRef {
            name: Some(spanned("ci")),
            ..PipelineRef::default()
        })
        .unwrap();
    assert_eq!(pipeline.name, "ci");
    assert_eq!(pipeline.spec.tasks.len(), 1);
}

#[test]
fn directories_are_searched_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first");
    let second = tmp.path().join("second");
    write(&first, "a.yaml", &task("lint", Some("0.1"), "first"));
    write(&second, "a.yaml", &task("lint", Some("0.10"), "second"));
    write(&second, "b.yaml", &task("only-second", None, "second"));

    let mut catalog = Catalog::new();
    catalog.add_dir(&first).unwrap();
    catalog.add_dir(&second).unwrap();
    // The first place that has the name wins, even with a lower version.
    assert_eq!(
        description(&catalog.task(&by_name("lint")).unwrap()),
        "first"
    );
    assert_eq!(
        description(&catalog.task(&by_name("only-second")).unwrap()),
        "second"
    );
    // An explicit version is looked for in every place.
    assert_eq!(
        description(&catalog.task(&by_name("lint@0.10")).unwrap()),
        "second"
    );

    let mut reversed = Catalog::new();
    reversed.add_dir(&second).unwrap();
    reversed.add_dir(&first).unwrap();
    assert_eq!(
        description(&reversed.task(&by_name("lint")).unwrap()),
        "second"
    );
}

fn versions_catalog(tmp: &Path) -> (Catalog, PathBuf) {
    let dir = tmp.join("catalog");
    for v in ["0.7", "0.9", "0.10", "0.9.1"] {
        write(
            &dir,
            &format!("task/git-clone/{v}/git-clone.yaml"),
            &task("git-clone", Some(v), &format!("v{v}")),
        );
    }
    write(
        &dir,
        "task/git-clone/unlabelled.yaml",
        &task("git-clone", None, "unlabelled"),
    );
    let mut catalog = Catalog::new();
    let diags = catalog.add_dir(&dir).unwrap();
    assert!(!diags.has_errors());
    (catalog, dir)
}

#[test]
fn the_highest_version_in_a_place_is_chosen() {
    let tmp = tempfile::tempdir().unwrap();
    let (catalog, _) = versions_catalog(tmp.path());
    let found = catalog.task(&by_name("git-clone")).unwrap();
    assert_eq!(found.version.as_deref(), Some("0.10"));
    assert_eq!(description(&found), "v0.10");
}

#[test]
fn name_at_version_picks_that_version() {
    let tmp = tempfile::tempdir().unwrap();
    let (catalog, _) = versions_catalog(tmp.path());
    for v in ["0.7", "0.9", "0.9.1", "0.10"] {
        let found = catalog.task(&by_name(&format!("git-clone@{v}"))).unwrap();
        assert_eq!(found.version.as_deref(), Some(v));
        assert_eq!(description(&found), format!("v{v}"));
    }
    let err = catalog.task(&by_name("git-clone@0.8")).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("Task `git-clone` version 0.8 not found; looked in:"),
        "{message}"
    );
    assert!(
        message
            .contains("versions of `git-clone` found: (no version label), 0.7, 0.9, 0.9.1, 0.10"),
        "{message}"
    );
}

#[test]
fn hub_and_bundles_resolvers_look_in_the_catalog() {
    let tmp = tempfile::tempdir().unwrap();
    let (catalog, _) = versions_catalog(tmp.path());

    let hub = catalog
        .task(&by_resolver(
            "hub",
            &[
                ("catalog", "tekton"),
                ("type", "artifact"),
                ("kind", "task"),
                ("name", "git-clone"),
                ("version", "0.9"),
            ],
        ))
        .unwrap();
    assert_eq!(hub.version.as_deref(), Some("0.9"));

    let latest = catalog
        .task(&by_resolver("hub", &[("name", "git-clone")]))
        .unwrap();
    assert_eq!(latest.version.as_deref(), Some("0.10"));

    let bundle = catalog
        .task(&by_resolver(
            "bundles",
            &[
                (
                    "bundle",
                    "gcr.io/tekton-releases/catalog/upstream/git-clone:0.7",
                ),
                ("name", "git-clone"),
                ("kind", "task"),
            ],
        ))
        .unwrap();
    assert_eq!(
        bundle.version.as_deref(),
        Some("0.10"),
        "bundles: no version param"
    );

    let cluster = catalog
        .task(&by_resolver(
            "cluster",
            &[
                ("kind", "task"),
                ("name", "git-clone@0.7"),
                ("namespace", "ci"),
            ],
        ))
        .unwrap();
    assert_eq!(cluster.version.as_deref(), Some("0.7"));

    let err = catalog
        .task(&by_resolver(
            "hub",
            &[("kind", "pipeline"), ("name", "git-clone")],
        ))
        .unwrap_err();
    assert!(
        matches!(err, ResolveError::WrongResolverKind { .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the `hub` resolver's `kind` param is `pipeline`, but this reference needs a Task"
    );

    let err = catalog
        .task(&by_resolver(
            "hub",
            &[("name", "git-clone"), ("version", "0.8")],
        ))
        .unwrap_err();
    assert!(matches!(err, ResolveError::NotFound { .. }), "{err}");
}

#[test]
fn remote_resolvers_without_a_name_fail_with_what_was_tried() {
    let tmp = tempfile::tempdir().unwrap();
    let (catalog, _) = versions_catalog(tmp.path());
    let err = catalog
        .task(&by_resolver(
            "git",
            &[
                ("url", "https://github.com/tektoncd/catalog.git"),
                ("revision", "main"),
                ("pathInRepo", "task/git-clone/0.9/git-clone.yaml"),
            ],
        ))
        .unwrap_err();
    assert!(matches!(err, ResolveError::Remote { .. }), "{err}");
    let message = err.to_string();
    for part in [
        "`git` resolver",
        "pathInRepo: task/git-clone/0.9/git-clone.yaml",
        "url: https://github.com/tektoncd/catalog.git",
        "catalog/ (5 tasks)",
        "refer to it by name",
    ] {
        assert!(message.contains(part), "{part:?} missing from:\n{message}");
    }
    // A `name` param is looked up even for a remote resolver.
    let named = catalog
        .task(&by_resolver("git", &[("url", "x"), ("name", "git-clone")]))
        .unwrap();
    assert_eq!(named.name, "git-clone");
}

#[test]
fn cluster_tasks_resolve() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tasks");
    write(
        &dir,
        "cluster.yaml",
        "apiVersion: tekton.dev/v1beta1\nkind: ClusterTask\nmetadata:\n  name: cluster-hello\n  labels:\n    app.kubernetes.io/version: \"0.2\"\nspec:\n  description: cluster\n  steps:\n    - name: hello\n      image: alpine\n      script: echo hello\n      resources:\n        limits:\n          memory: 1Gi\n",
    );
    write(&dir, "plain.yaml", &task("plain", None, "plain"));
    let mut catalog = Catalog::new();
    let diags = catalog.add_dir(&dir).unwrap();
    assert!(!diags.has_errors(), "{diags:?}");
    assert!(!catalog.loaded().diagnostics.has_errors());

    let as_cluster = TaskRef {
        kind: Some(spanned("ClusterTask")),
        ..by_name("cluster-hello")
    };
    let found = catalog.task(&as_cluster).unwrap();
    assert_eq!(found.kind, TaskKind::ClusterTask);
    assert_eq!(found.version.as_deref(), Some("0.2"));
    assert_eq!(found.spec.description.as_deref(), Some("cluster"));
    // Converted to v1: `resources` became `computeResources`.
    let step = &found.spec.steps[0];
    assert!(step.resources.is_none());
    assert!(step.compute_resources.is_some());

    // Without a cluster, Task and ClusterTask share one set of names.
    assert_eq!(
        catalog.task(&by_name("cluster-hello")).unwrap().kind,
        TaskKind::ClusterTask
    );
    let plain_as_cluster = TaskRef {
        kind: Some(spanned("ClusterTask")),
        ..by_name("plain")
    };
    assert_eq!(
        catalog.task(&plain_as_cluster).unwrap().kind,
        TaskKind::Task
    );
}

#[test]
fn not_found_lists_every_place_and_suggests_a_close_name() {
    let tmp = tempfile::tempdir().unwrap();
    let given = write(tmp.path(), "pipeline.yaml", &task("local-task", None, "x"));
    let tasks = tmp.path().join("tasks");
    write(
        &tasks,
        "git-clone.yaml",
        &task("git-clone", Some("0.9"), "x"),
    );
    write(&tasks, "buildah.yaml", &task("buildah", None, "x"));
    let tekton = tmp.path().join(".tekton");

    let loaded = Loaded::from_paths(&[given]).unwrap();
    let mut catalog = Catalog::new();
    catalog.add_loaded(&loaded, "the given files (pipeline.yaml)");
    catalog.add_dir(&tasks).unwrap();
    let diags = catalog.add_dir(&tekton).unwrap();
    assert!(diags.is_empty());

    assert_eq!(
        catalog.places(RefKind::Task),
        vec![
            "the given files (pipeline.yaml)".to_owned(),
            format!("{}/ (2 tasks)", tasks.display()),
            format!("{}/ (does not exist)", tekton.display()),
        ]
    );

    let err = catalog.task(&by_name("git-clon")).unwrap_err();
    let ResolveError::NotFound {
        kind,
        name,
        version,
        looked,
        ..
    } = &err
    else {
        panic!("expected NotFound, got {err}");
    };
    assert_eq!(*kind, RefKind::Task);
    assert_eq!(name, "git-clon");
    assert_eq!(*version, None);
    assert_eq!(looked.len(), 3);
    assert_eq!(
        err.to_string(),
        format!(
            "Task `git-clon` not found; looked in:\n  the given files (pipeline.yaml)\n  {}/ (2 tasks)\n  {}/ (does not exist)\ndid you mean `git-clone`?",
            tasks.display(),
            tekton.display()
        )
    );

    // Nothing close: no suggestion.
    let far = catalog.task(&by_name("kaniko")).unwrap_err().to_string();
    assert!(!far.contains("did you mean"), "{far}");

    // Pipelines are counted as pipelines.
    let err = catalog
        .pipeline(&PipelineRef {
            name: Some(spanned("release")),
            ..PipelineRef::default()
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("/ (0 pipelines)"), "{err}");
    assert!(err.starts_with("Pipeline `release` not found"), "{err}");
}

#[test]
fn custom_tasks_are_refused() {
    let catalog = Catalog::new();
    let custom = TaskRef {
        api_version: Some(spanned("wait.testing.tekton.dev/v1beta1")),
        kind: Some(spanned("Wait")),
        ..by_name("wait")
    };
    let err = catalog.task(&custom).unwrap_err();
    assert_eq!(
        err.to_string(),
        "custom tasks (apiVersion wait.testing.tekton.dev/v1beta1, kind Wait) are not supported by runnel run; only Tasks and ClusterTasks can run locally"
    );

    let pipeline_kind = TaskRef {
        api_version: Some(spanned("tekton.dev/v1")),
        kind: Some(spanned("Pipeline")),
        ..by_name("child")
    };
    let err = catalog.task(&pipeline_kind).unwrap_err();
    assert!(matches!(err, ResolveError::UnsupportedKind { .. }), "{err}");
    assert!(err.to_string().contains("kind `Pipeline`"), "{err}");

    let err = catalog.task(&TaskRef::default()).unwrap_err();
    assert!(matches!(err, ResolveError::NoName { .. }), "{err}");

    let err = catalog
        .pipeline(&PipelineRef {
            api_version: Some(spanned("example.dev/v1")),
            ..PipelineRef::default()
        })
        .unwrap_err();
    assert!(
        matches!(err, ResolveError::UnsupportedApiVersion { .. }),
        "{err}"
    );

    // An empty catalog says so.
    let err = catalog.task(&by_name("build")).unwrap_err().to_string();
    assert_eq!(
        err,
        "Task `build` not found; looked in:\n  nowhere: no files or catalog directories were given"
    );
}

#[test]
fn a_broken_file_in_a_catalog_is_reported_and_the_rest_still_resolves() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tasks");
    write(&dir, "a-good.yaml", &task("good", None, "good"));
    let bad = write(
        &dir,
        "b-broken.yaml",
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: broken\nspec:\n  steps: [\n",
    );
    write(&dir, "c-also-good.yaml", &task("also-good", None, "also"));

    let mut catalog = Catalog::new();
    let diags = catalog.add_dir(&dir).unwrap();
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(!errors.is_empty());
    for e in &errors {
        assert_eq!(catalog.sources().path(e.span.file), bad.as_path());
    }
    assert!(catalog.task(&by_name("good")).is_ok());
    assert!(catalog.task(&by_name("also-good")).is_ok());
    assert_eq!(
        catalog.places(RefKind::Task),
        vec![format!("{}/ (2 tasks; 1 file with errors)", dir.display())]
    );
}

#[test]
fn step_actions_resolve_by_name_and_version() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("actions");
    for v in ["0.1", "0.2"] {
        write(
            &dir,
            &format!("checkout-{v}.yaml"),
            &format!(
                "apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata:\n  name: checkout\n  labels:\n    app.kubernetes.io/version: \"{v}\"\nspec:\n  description: checkout {v}\n  image: alpine/git\n  script: git clone\n"
            ),
        );
    }
    let mut catalog = Catalog::new();
    assert!(!catalog.add_dir(&dir).unwrap().has_errors());
    let latest = catalog.step_action("checkout").unwrap();
    assert_eq!(latest.version.as_deref(), Some("0.2"));
    let older = catalog.step_action("checkout@0.1").unwrap();
    assert_eq!(older.spec.description.as_deref(), Some("checkout 0.1"));
    let err = catalog.step_action("checkot").unwrap_err().to_string();
    assert!(err.starts_with("StepAction `checkot` not found"), "{err}");
    assert!(err.contains("(2 step actions)"), "{err}");
    assert!(err.contains("did you mean `checkout`?"), "{err}");
    // A Task of that name is not a StepAction.
    assert!(catalog.task(&by_name("checkout")).is_err());
}

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
}

/// Every taskRef of every pipeline in the shared conformance corpus (read in place), resolved
/// against a catalog made of the corpus itself: each one naming a Task the corpus defines
/// must resolve.
#[test]
fn conformance_corpus_task_refs_resolve() {
    let root = corpus();
    assert!(
        root.is_dir(),
        "{} is missing: the conformance corpus is read in place from ../shared",
        root.display()
    );
    let mut catalog = Catalog::new();
    for sub in ["tekton-examples", "tekton-catalog"] {
        let diags = catalog.add_dir(&root.join(sub)).unwrap();
        let errors = diags.iter().filter(|d| d.is_error()).count();
        assert_eq!(errors, 0, "{sub} loads without errors");
    }
    println!("catalog: {:#?}", catalog.places(RefKind::Task));

    let loaded = catalog.loaded();
    let task_names: BTreeSet<&str> = loaded
        .resources
        .iter()
        .filter_map(|r| match &r.resource {
            Resource::Task(t) => t.metadata.name.as_ref().map(|n| n.as_str()),
            _ => None,
        })
        .collect();
    let mut pipelines: Vec<(&Path, &PipelineSpec)> = Vec::new();
    for r in &loaded.resources {
        let path = loaded.sources.path(r.file);
        match &r.resource {
            Resource::Pipeline(p) => pipelines.push((path, &p.spec)),
            Resource::PipelineRun(pr) => {
                if let Some(spec) = &pr.spec.pipeline_spec {
                    pipelines.push((path, &spec.value));
                }
            }
            _ => {}
        }
    }

    let (mut resolved, mut remote, mut custom, mut missing) = (0, 0, 0, 0);
    let mut must_resolve_failed = Vec::new();
    let mut first_remote = None;
    for (path, spec) in &pipelines {
        for t in spec.all_tasks() {
            let Some(r) = t.task_ref.as_ref() else {
                continue;
            };
            let result = catalog.task(r);
            match &result {
                Ok(_) => resolved += 1,
                Err(e @ ResolveError::Remote { .. }) => {
                    remote += 1;
                    first_remote.get_or_insert_with(|| format!("{}: {e}", path.display()));
                }
                Err(ResolveError::CustomTask { .. } | ResolveError::UnsupportedKind { .. }) => {
                    custom += 1
                }
                Err(_) => missing += 1,
            }
            // The name looked up: `name`, or a resolver's `name` param without a version.
            let name = match &r.resolver {
                None => r.name.as_ref().map(|n| n.as_str().to_owned()),
                Some(_) => {
                    let param = |key: &str| r.params.iter().find(|p| p.name.as_str() == key);
                    match (param("name"), param("version")) {
                        (Some(p), None) => match &p.value.value {
                            ParamValue::String(s) => Some(s.clone()),
                            _ => None,
                        },
                        _ => None,
                    }
                }
            };
            let custom_ref = r
                .api_version
                .as_ref()
                .is_some_and(|a| !a.as_str().starts_with("tekton.dev/"))
                || r.kind
                    .as_ref()
                    .is_some_and(|k| !matches!(k.as_str(), "Task" | "ClusterTask"));
            if let Some(name) = name
                && !custom_ref
                && task_names.contains(name.as_str())
                && let Err(e) = result
            {
                must_resolve_failed.push(format!(
                    "{}: pipeline task `{}`: {e}",
                    path.display(),
                    t.name.as_str()
                ));
            }
        }
    }
    println!(
        "{} pipelines: {resolved} taskRefs resolved, {remote} use a remote resolver, {custom} name custom tasks, {missing} not found",
        pipelines.len()
    );
    if let Some(first) = first_remote {
        println!("for example, {first}");
    }
    assert!(resolved > 50, "only {resolved} taskRefs resolved");
    assert!(
        must_resolve_failed.is_empty(),
        "taskRefs to Tasks the corpus defines did not resolve:\n{}",
        must_resolve_failed.join("\n")
    );
}
