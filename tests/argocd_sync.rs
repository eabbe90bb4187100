//! The catalog's `argocd-sync` task through the real binary (`runnel run`, local runner)
//! against the loopback stand-in of ArgoCD's API (`support::argocd`): the calls it makes
//! (the image override patch, the sync, the token), its results, how it fails (Degraded, a
//! failed sync, a refused token, the timeout), and that each run is recorded as a deployment.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use support::argocd::{ArgoCd, Call, DEFAULT_REVISION, Outcome, Settings};
use support::runnel;

fn tasks() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tasks")
}

/// A TaskRun of `argocd-sync` (by `taskRef`, from the catalog) against `server`, with the
/// given params after `server`; `secret_token` adds a Secret bound as `argocd-credentials`.
fn taskrun(server: &str, params: &[(&str, &str)], secret_token: Option<&str>) -> String {
    let mut yaml = String::new();
    if let Some(token) = secret_token {
        yaml.push_str(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: argocd-credentials}}\nstringData: {{token: {token}}}\n---\n"
        ));
    }
    yaml.push_str(
        "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {name: deploy}\nspec:\n  taskRef: {name: argocd-sync}\n  params:\n",
    );
    yaml.push_str(&format!("    - {{name: server, value: \"{server}\"}}\n"));
    for (name, value) in params {
        yaml.push_str(&format!("    - {{name: {name}, value: \"{value}\"}}\n"));
    }
    if secret_token.is_some() {
        yaml.push_str(
            "  workspaces:\n    - name: argocd-credentials\n      secret: {secretName: argocd-credentials}\n",
        );
    }
    yaml
}

/// Runs the TaskRun in `dir` with the catalog, `env` added to runnel's environment (and so
/// to the step's, on the local runner).
fn run(dir: &Path, yaml: &str, env: &[(&str, &str)]) -> Output {
    std::fs::write(dir.join("deploy.yaml"), yaml).unwrap();
    runnel()
        .args(["run", "deploy.yaml", "--runner", "local", "--tasks"])
        .arg(tasks())
        .env_remove("ARGOCD_AUTH_TOKEN")
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("runnel runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The value of `result NAME: VALUE` in runnel's output.
fn result(all: &str, name: &str) -> Option<String> {
    let prefix = format!("result {name}:");
    all.lines()
        .find_map(|l| l.trim().strip_prefix(&prefix).map(|v| v.trim().to_owned()))
}

/// The calls in order, as `METHOD PATH`.
fn routes(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .map(|c| format!("{} {}", c.method, c.path))
        .collect()
}

/// `runnel metrics dora --env ENVIRONMENT --json` of the runs recorded in `dir`.
fn dora(dir: &Path, environment: &str) -> Value {
    let out = runnel()
        .args(["metrics", "dora", "--json", "--env", environment])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

#[tokio::test(flavor = "multi_thread")]
async fn sets_the_image_syncs_and_waits_for_healthy() {
    let argocd = ArgoCd::start(Settings {
        token: Some("s3cret-token".into()),
        progressing_polls: 2,
        images: vec![
            "shop=registry.example/shop:1.0".into(),
            "proxy=registry.example/envoy:1.31".into(),
        ],
        ..Settings::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let image = "shop=registry.example/shop@sha256:0123abcd";
    let yaml = taskrun(
        &argocd.url(),
        &[
            ("application", "shop-staging"),
            ("environment", "qa"),
            ("revision", "v1.4.0"),
            ("image", image),
            ("timeout", "60"),
        ],
        Some("s3cret-token"),
    );
    let out = run(dir.path(), &yaml, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("shop-staging is Synced and Healthy"), "{all}");
    assert_eq!(
        result(&all, "sync-revision").as_deref(),
        Some("v1.4.0"),
        "{all}"
    );
    assert_eq!(result(&all, "health").as_deref(), Some("Healthy"), "{all}");

    let calls = argocd.calls();
    let app = "/api/v1/applications/shop-staging";
    let routes = routes(&calls);
    assert_eq!(
        routes[..3],
        [
            format!("GET {app}"),
            format!("PATCH {app}"),
            format!("POST {app}/sync")
        ],
        "{calls:#?}"
    );
    // Progressing twice, then done: the task polls until it sees the end.
    assert_eq!(routes[3..], vec![format!("GET {app}"); 3], "{calls:#?}");
    for call in &calls {
        assert_eq!(
            call.header("authorization"),
            Some("Bearer s3cret-token"),
            "{call:#?}"
        );
    }

    // ApplicationPatchRequest: the image replaces the override of the same name, the others
    // stay (a merge patch replaces the list whole), as `argocd app set --kustomize-image`.
    let patch = &calls[1];
    assert_eq!(patch.header("content-type"), Some("application/json"));
    let fields: Vec<&String> = patch.body.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["name", "patch", "patchType"], "{patch:#?}");
    assert_eq!(patch.body["name"], "shop-staging");
    assert_eq!(patch.body["patchType"], "merge");
    let merge: Value = serde_json::from_str(patch.body["patch"].as_str().unwrap()).unwrap();
    assert_eq!(
        merge,
        json!({ "spec": { "source": { "kustomize": { "images": [
            image,
            "proxy=registry.example/envoy:1.31",
        ] } } } })
    );
    // ApplicationSyncRequest: the revision, no pruning.
    assert_eq!(
        calls[2].body,
        json!({ "name": "shop-staging", "revision": "v1.4.0", "prune": false })
    );
    let deployed = argocd.application("shop-staging").unwrap();
    assert_eq!(
        deployed["spec"]["source"]["kustomize"]["images"][0], image,
        "{deployed:#}"
    );

    // Recorded as a successful deployment to the environment the annotation names.
    let qa = dora(dir.path(), "qa");
    assert_eq!(qa["deployment_frequency"]["deployments"], 1, "{qa:#}");
    assert_eq!(qa["change_failure_rate"]["deployments"], 1, "{qa:#}");
    assert_eq!(qa["change_failure_rate"]["failed"], 0, "{qa:#}");
    let staging = dora(dir.path(), "staging");
    assert_eq!(
        staging["change_failure_rate"]["deployments"], 0,
        "{staging:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_degraded_application_fails_with_its_message() {
    let argocd = ArgoCd::start(Settings {
        token: Some("env-token".into()),
        progressing_polls: 1,
        outcome: Outcome::Degraded("Deployment \"shop\" exceeded its progress deadline".into()),
        ..Settings::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    // No image: no PATCH. The token comes from ARGOCD_AUTH_TOKEN.
    let yaml = taskrun(&argocd.url(), &[("application", "shop-staging")], None);
    let out = run(dir.path(), &yaml, &[("ARGOCD_AUTH_TOKEN", "env-token")]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(
            "argocd-sync: shop-staging is Degraded: Deployment \"shop\" exceeded its progress deadline"
        ),
        "{all}"
    );
    assert_eq!(result(&all, "health").as_deref(), Some("Degraded"), "{all}");
    assert_eq!(
        result(&all, "sync-revision").as_deref(),
        Some(DEFAULT_REVISION),
        "{all}"
    );

    let calls = argocd.calls();
    assert!(calls.iter().all(|c| c.method != "PATCH"), "{calls:#?}");
    assert!(
        calls
            .iter()
            .all(|c| c.header("authorization") == Some("Bearer env-token")),
        "{calls:#?}"
    );
    // Without a revision the sync request names none.
    let sync = calls.iter().find(|c| c.method == "POST").unwrap();
    assert_eq!(sync.body, json!({ "name": "shop-staging", "prune": false }));

    // A failed deployment to the default environment: no successful one, one failure.
    let staging = dora(dir.path(), "staging");
    assert_eq!(
        staging["deployment_frequency"]["deployments"], 0,
        "{staging:#}"
    );
    assert_eq!(
        staging["change_failure_rate"]["deployments"], 1,
        "{staging:#}"
    );
    assert_eq!(staging["change_failure_rate"]["failed"], 1, "{staging:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sync_operation_fails_with_its_message() {
    let argocd = ArgoCd::start(Settings {
        outcome: Outcome::Failed("one or more objects failed to apply".into()),
        ..Settings::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = taskrun(&argocd.url(), &[("application", "shop-staging")], None);
    let out = run(dir.path(), &yaml, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("the sync of shop-staging ended Failed: one or more objects failed to apply"),
        "{all}"
    );
    // No token anywhere: no Authorization header.
    let calls = argocd.calls();
    assert!(
        calls.iter().all(|c| c.header("authorization").is_none()),
        "{calls:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_that_never_ends_times_out() {
    let argocd = ArgoCd::start(Settings {
        outcome: Outcome::Stuck,
        ..Settings::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = taskrun(
        &argocd.url(),
        &[("application", "shop-staging"), ("timeout", "3")],
        None,
    );
    let started = std::time::Instant::now();
    let out = run(dir.path(), &yaml, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(
            "shop-staging is not Synced and Healthy after 3s: sync OutOfSync, health Progressing, operation Running"
        ),
        "{all}"
    );
    assert_eq!(
        result(&all, "health").as_deref(),
        Some("Progressing"),
        "{all}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{all}"
    );
    let polls = argocd.calls().iter().filter(|c| c.method == "GET").count();
    assert!(polls >= 2, "polled {polls} times");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_fails_before_anything_changes() {
    let argocd = ArgoCd::start(Settings {
        token: Some("the-right-one".into()),
        ..Settings::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = taskrun(
        &argocd.url(),
        &[
            ("application", "shop-staging"),
            ("image", "shop=registry.example/shop:2.0"),
        ],
        Some("a-wrong-one"),
    );
    let out = run(dir.path(), &yaml, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("GET /api/v1/applications/shop-staging: HTTP 401: invalid session"),
        "{all}"
    );
    assert!(all.contains("(check the token)"), "{all}");
    // Refused at the first call: no patch, no sync.
    assert_eq!(
        routes(&argocd.calls()),
        ["GET /api/v1/applications/shop-staging"]
    );
}
