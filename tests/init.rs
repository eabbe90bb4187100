//! `runnel init` through the real binary: for each language the pipeline it writes validates
//! with no diagnostic at all against the shared catalog in `tasks/`; the language is detected
//! from the repository's files; an existing pipeline is kept unless `--force`; and the
//! `[[repos]]` entry it prints is a config `runnel serve` takes, binding the pipeline's params
//! from a real GitHub push.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use runnel::report::{self, Style};
use runnel_engine::load::Loaded;
use runnel_engine::model::{ParamValue, Resource};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn runnel(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("the runnel binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A repository directory named `name` (in a fresh temp dir) holding the files `files`.
fn service_dir(name: &str, files: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    for file in files {
        std::fs::write(dir.join(file), "").unwrap();
    }
    (tmp, dir)
}

/// `runnel init ARGS --dir DIR`, run from DIR's parent.
fn init(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["init", "--dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    runnel(dir.parent().unwrap(), &all)
}

/// Every diagnostic of `pipeline` loaded with the catalog in `tasks/`, rendered.
fn diagnostics_with_catalog(pipeline: &Path) -> Vec<String> {
    let loaded = Loaded::from_paths(&[pipeline.to_path_buf(), repo().join("tasks")])
        .expect("the pipeline and tasks/ exist");
    runnel_engine::validate::validate(&loaded)
        .iter()
        .map(|d| report::render(d, &loaded.sources, Style::Plain))
        .collect()
}

/// The names of the Tasks in the catalog, `tasks/`.
fn catalog_tasks() -> Vec<String> {
    let loaded = Loaded::from_paths(&[repo().join("tasks")]).expect("tasks/ exists");
    loaded
        .resources
        .iter()
        .filter_map(|r| match &r.resource {
            Resource::Task(task) => task.metadata.name.as_ref().map(|n| n.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

/// The written pipeline's task names with the catalog task each references, in order.
fn task_refs(pipeline: &Path) -> Vec<(String, String)> {
    let loaded = Loaded::from_paths(&[pipeline.to_path_buf()]).unwrap();
    let Some(Resource::Pipeline(p)) = loaded.resources.first().map(|r| &r.resource) else {
        panic!("{} holds no Pipeline", pipeline.display());
    };
    p.spec
        .tasks
        .iter()
        .map(|t| {
            let reference = t.task_ref.as_ref().expect("every task is a taskRef");
            let name = reference.name.as_ref().expect("named").as_str().to_owned();
            (t.name.as_str().to_owned(), name)
        })
        .collect()
}

/// The value a pipeline task passes to a param, as text.
fn task_param(pipeline: &Path, task: &str, param: &str) -> String {
    let loaded = Loaded::from_paths(&[pipeline.to_path_buf()]).unwrap();
    let Some(Resource::Pipeline(p)) = loaded.resources.first().map(|r| &r.resource) else {
        panic!("no Pipeline");
    };
    let task = p
        .spec
        .task(task)
        .unwrap_or_else(|| panic!("no task {task}"));
    let value = &task
        .params
        .iter()
        .find(|x| x.name.as_str() == param)
        .unwrap_or_else(|| panic!("{} passes no {param}", task.name.as_str()))
        .value;
    match &value.value {
        ParamValue::String(s) => s.clone(),
        other => panic!("{param} is not a string: {other:?}"),
    }
}

#[test]
fn each_language_gets_a_pipeline_that_validates_against_the_catalog() {
    for (marker, language, image) in [
        ("pyproject.toml", "python", "python:3.12-slim"),
        ("requirements.txt", "python", "python:3.12-slim"),
        ("package.json", "node", "node:20-bookworm-slim"),
        ("go.mod", "go", "golang:1.23-bookworm"),
        ("Cargo.toml", "rust", "rust:1.83-bookworm"),
    ] {
        let (_tmp, dir) = service_dir("Shop_Front", &[marker]);
        let out = init(&dir, &[]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(0), "{marker}: {all}");
        let pipeline = dir.join(".tekton/pipeline.yaml");
        assert!(
            all.contains(&format!("wrote {}", pipeline.display())),
            "{all}"
        );
        assert!(all.contains(&format!("({language}, {image})")), "{all}");

        // A taskRef the files do not resolve could be a cluster's task, so it is no
        // diagnostic: check that the catalog has each.
        let catalog = catalog_tasks();
        for (task, reference) in task_refs(&pipeline) {
            assert!(
                catalog.contains(&reference),
                "{task}: the catalog has no task `{reference}` (tasks/{reference}/{reference}.yaml)"
            );
        }
        let diagnostics = diagnostics_with_catalog(&pipeline);
        assert!(
            diagnostics.is_empty(),
            "{marker}: the pipeline has diagnostics against tasks/:\n{}",
            diagnostics.join("\n")
        );

        let written = std::fs::read_to_string(&pipeline).unwrap();
        assert!(
            written.starts_with("# Generated by `runnel init`"),
            "{written}"
        );
        assert!(
            written.contains("runnel validate .tekton/ PATH/TO/tasks/"),
            "{written}"
        );
        assert!(written.contains("  name: shop-front\n"), "{written}");
        assert!(
            written.contains("default: registry.example/shop-front:latest"),
            "{written}"
        );
        for task in ["code-quality", "unit-tests"] {
            assert_eq!(task_param(&pipeline, task, "language"), language);
            assert_eq!(task_param(&pipeline, task, "image"), image);
        }
        assert_eq!(
            task_refs(&pipeline),
            [
                ("fetch-source", "git-clone"),
                ("code-quality", "code-quality"),
                ("unit-tests", "unit-test"),
                ("gitleaks", "gitleaks"),
                ("secret-scan", "secret-scan"),
                ("build-image", "build-image"),
                ("image-scan", "trivy-scan"),
                ("deploy", "argocd-sync"),
                ("load-test", "k6-load-test"),
            ]
            .map(|(t, r)| (t.to_owned(), r.to_owned()))
        );
    }
}

/// The command the header gives to check the file works as written, from the repository.
#[test]
fn the_validate_command_in_the_header_passes() {
    let (_tmp, dir) = service_dir("api", &["go.mod"]);
    assert_eq!(init(&dir, &[]).status.code(), Some(0));
    let tasks = repo().join("tasks");
    let out = runnel(&dir, &["validate", ".tekton/", tasks.to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("0 errors, 0 warnings"), "{all}");
}

#[test]
fn language_and_name_from_the_command_line() {
    // No marker file: --language decides; --name names the service.
    let (_tmp, dir) = service_dir("whatever", &[]);
    let out = init(&dir, &["--language", "rust", "--name", "ledger"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pipeline = dir.join(".tekton/pipeline.yaml");
    assert_eq!(
        task_param(&pipeline, "unit-tests", "image"),
        "rust:1.83-bookworm"
    );
    let written = std::fs::read_to_string(&pipeline).unwrap();
    assert!(written.contains("  name: ledger\n"), "{written}");
    assert!(written.contains("default: ledger-staging"), "{written}");
    assert!(diagnostics_with_catalog(&pipeline).is_empty());

    // --language wins over the files.
    let (_tmp, dir) = service_dir("web", &["package.json"]);
    let out = init(&dir, &["--language", "python"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pipeline = dir.join(".tekton/pipeline.yaml");
    assert_eq!(task_param(&pipeline, "code-quality", "language"), "python");

    // A name that cannot name an image or an ArgoCD app is refused, with a suggestion.
    let (_tmp, dir) = service_dir("svc", &["go.mod"]);
    let out = init(&dir, &["--name", "My_Service"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("e.g. `my-service`"), "{all}");
    assert!(!dir.join(".tekton").exists());
}

#[test]
fn a_repository_without_a_marker_file_is_an_error_naming_what_was_looked_for() {
    let (_tmp, dir) = service_dir("mystery", &["Makefile"]);
    let out = init(&dir, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    for looked in [
        "pyproject.toml",
        "requirements.txt",
        "package.json",
        "go.mod",
        "Cargo.toml",
        "--language",
    ] {
        assert!(all.contains(looked), "the error names no {looked}: {all}");
    }
    assert!(!dir.join(".tekton").exists());
}

#[test]
fn markers_of_several_languages_ask_for_one() {
    let (_tmp, dir) = service_dir("mixed", &["Cargo.toml", "package.json"]);
    let out = init(&dir, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("package.json (node), Cargo.toml (rust)"),
        "{all}"
    );
    assert!(all.contains("--language"), "{all}");
}

#[test]
fn an_unknown_language_is_a_usage_error() {
    let (_tmp, dir) = service_dir("svc", &[]);
    let out = init(&dir, &["--language", "cobol"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("cobol"), "{all}");
    assert!(all.contains("python, node, go, rust"), "{all}");
}

#[test]
fn an_existing_pipeline_is_kept_unless_forced() {
    let (_tmp, dir) = service_dir("svc", &["go.mod"]);
    let pipeline = dir.join(".tekton/pipeline.yaml");
    std::fs::create_dir(dir.join(".tekton")).unwrap();
    std::fs::write(&pipeline, "# mine\n").unwrap();

    let out = init(&dir, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!(
            "{} already exists; pass --force to overwrite it",
            pipeline.display()
        )),
        "{all}"
    );
    assert_eq!(std::fs::read_to_string(&pipeline).unwrap(), "# mine\n");

    let out = init(&dir, &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = std::fs::read_to_string(&pipeline).unwrap();
    assert!(written.contains("golang:1.23-bookworm"), "{written}");
}

#[test]
fn a_missing_directory_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = runnel(
        tmp.path(),
        &["init", "--dir", "nowhere", "--language", "go"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("nowhere: no such directory"), "{all}");
}

/// The printed `[[repos]]` entry is a runnel.toml the server accepts, and its trigger binds
/// exactly the pipeline's `repo-url` and `revision` from a real GitHub push.
#[test]
fn the_printed_repos_entry_binds_the_pipeline_params_from_a_push() {
    let (_tmp, dir) = service_dir("shop", &["pyproject.toml"]);
    let out = init(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let intro = "add this to the server's runnel.toml:\n\n";
    let snippet = &stdout[stdout.find(intro).expect("the snippet is printed") + intro.len()..];

    let config: runnel::cli::config::Config =
        toml::from_str(snippet).unwrap_or_else(|e| panic!("{e}\n{snippet}"));
    let [repo] = config.repos.as_slice() else {
        panic!("one [[repos]] entry: {snippet}");
    };
    assert_eq!(repo.name, "your-org/shop");
    assert_eq!(repo.secret_env.as_deref(), Some("SHOP_HOOK_SECRET"));
    let [trigger] = repo.triggers.as_slice() else {
        panic!("one trigger: {snippet}");
    };
    trigger.check().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(trigger.pipeline_path(), ".tekton/");

    let body: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_shared(
            "webhooks/github/push_with-new-branch.payload.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("X-GitHub-Event", "push".parse().unwrap());
    let runnel_api::hooks::Reading::Run(event) =
        runnel_api::hooks::read(runnel_api::hooks::Forge::GitHub, &headers, &body).unwrap()
    else {
        panic!("a push starts a run");
    };
    let params = trigger.bind_params(&event, &headers, &body).unwrap();
    assert_eq!(
        params,
        [
            (
                "repo-url".to_owned(),
                "https://github.com/Codertocat/Hello-World.git".to_owned()
            ),
            (
                "revision".to_owned(),
                "6113728f27ae82c7b1a177c8d03f9e96e0adf246".to_owned()
            ),
        ]
    );

    // Those are the params the pipeline takes without a default (repo-url) or from a push.
    let written = std::fs::read_to_string(dir.join(".tekton/pipeline.yaml")).unwrap();
    for (name, _) in &params {
        assert!(written.contains(&format!("- name: {name}\n")), "{name}");
    }
}

/// A file of `shared/` (beside this repository), read in place.
fn repo_shared(path: &str) -> PathBuf {
    repo().join("../shared").join(path)
}
