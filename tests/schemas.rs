//! The JSON Schemas under `schemas/` are generated from the model types; this test fails when
//! they drift. Regenerate with `RUNNEL_UPDATE_SCHEMAS=1 cargo test --test schemas`.

use std::path::Path;

use runnel_engine::schema::{SCHEMAS, generate};

#[test]
fn checked_in_schemas_match_the_model() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let update = std::env::var_os("RUNNEL_UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for (version, kind, file) in SCHEMAS {
        let path = dir.join(file);
        let generated = serde_json::to_string_pretty(&generate(*version, *kind))
            .expect("a schema serializes")
            + "\n";
        if update {
            std::fs::create_dir_all(path.parent().expect("schema files live in folders"))
                .expect("create schemas dir");
            std::fs::write(&path, &generated).expect("write schema");
            continue;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        if on_disk != generated {
            stale.push(file.to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "schemas out of date: {stale:?}; run `RUNNEL_UPDATE_SCHEMAS=1 cargo test --test schemas` and commit schemas/"
    );
}

#[test]
fn v1_schemas_reject_v1beta1_only_fields() {
    let v1 = generate(
        runnel_engine::model::ApiVersion::V1,
        runnel_engine::model::Kind::PipelineRun,
    );
    let text = serde_json::to_string(&v1).expect("serializes");
    assert!(
        !text.contains("x-runnel-v1beta1"),
        "v1 schema still has v1beta1 fields"
    );
    let beta = generate(
        runnel_engine::model::ApiVersion::V1beta1,
        runnel_engine::model::Kind::PipelineRun,
    );
    assert!(
        serde_json::to_string(&beta)
            .expect("serializes")
            .contains("x-runnel-v1beta1")
    );
}

/// The server's OpenAPI document (`schemas/openapi.json`) is generated from the handlers;
/// this fails when the checked-in copy drifts.
#[test]
fn checked_in_openapi_matches_the_server() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/openapi.json");
    let doc = runnel_api::openapi::document();
    let generated = doc.to_pretty_json().expect("the document serializes") + "\n";
    if std::env::var_os("RUNNEL_UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).expect("write schemas/openapi.json");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "schemas/openapi.json is out of date; run `RUNNEL_UPDATE_SCHEMAS=1 cargo test --test schemas` and commit it"
    );
    // Every documented API path is served (the router is built from the same routes), and
    // needs a token unless it is a webhook or /healthz.
    let value: serde_json::Value = serde_json::from_str(&generated).unwrap();
    let paths = value["paths"].as_object().unwrap();
    for p in [
        "/api/v1/runs",
        "/api/v1/runs/{run}",
        "/api/v1/runs/{run}/cancel",
        "/api/v1/runs/{run}/taskruns/{task_run}/steps/{index}/log",
        "/api/v1/runs/{run}/taskruns/{task_run}/steps/{index}/log/stream",
        "/api/v1/deliveries",
        "/hooks/{forge}",
        "/healthz",
    ] {
        assert!(paths.contains_key(p), "{p} is not documented");
    }
    for (p, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let open = op["security"] == serde_json::json!([{}]);
            assert_eq!(open, !p.starts_with("/api/"), "{method} {p}: {op}");
        }
    }
}
