//! Tests of the model: the conformance corpus deserializes, param values, v1beta1
//! conversion, spans, and the generated schemas.

use std::path::{Path, PathBuf};

use super::*;
use crate::diagnostic::{Code, Diagnostics, Severity};
use crate::source::SourceMap;
use crate::yaml;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

/// Parses one document of `text` into a resource (identifying it by apiVersion/kind).
fn load(text: &str) -> (Resource, ApiVersion, SourceMap) {
    let mut map = SourceMap::new();
    let id = map.add("test.yaml", text);
    let (docs, diags) = yaml::parse(map.get(id), id);
    assert!(diags.is_empty(), "{diags:?}");
    let root = &docs[0].root;
    let (version, kind) = identify(
        root.get("apiVersion").and_then(|n| n.as_str()).unwrap(),
        root.get("kind").and_then(|n| n.as_str()).unwrap(),
    )
    .unwrap();
    let resource = Resource::from_node(kind, root).unwrap();
    (resource, version, map)
}

#[test]
fn conformance_corpus_deserializes() {
    let dir = corpus_dir();
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    assert!(
        files.len() > 400,
        "conformance corpus not found at {}",
        dir.display()
    );
    let mut map = SourceMap::new();
    let mut failures = Vec::new();
    let mut loaded = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let id = map.add(path.clone(), text);
        let (docs, _) = yaml::parse(map.get(id), id);
        for doc in &docs {
            let root = &doc.root;
            if root.is_null() {
                continue;
            }
            let field = |k: &str| root.get(k).and_then(|n| n.as_str());
            let (Some(api), Some(kind)) = (field("apiVersion"), field("kind")) else {
                continue;
            };
            let Some((version, kind)) = identify(api, kind) else {
                continue;
            };
            match Resource::from_node(kind, root) {
                Ok(mut r) => {
                    loaded += 1;
                    assert_eq!(r.kind(), kind);
                    if version == ApiVersion::V1beta1 {
                        let mut diags = Diagnostics::new();
                        convert::to_v1(&mut r, &mut diags);
                        for d in diags.iter().filter(|d| d.is_error()) {
                            failures.push(format!(
                                "{}:{}:{}: conversion: {}",
                                path.display(),
                                d.span.line,
                                d.span.col,
                                d.message
                            ));
                        }
                    }
                }
                Err(e) => {
                    let (line, col) = e.span.map_or((0, 0), |s| (s.line, s.col));
                    failures.push(format!("{}:{line}:{col}: {}", path.display(), e.message));
                }
            }
        }
    }
    for f in &failures {
        eprintln!("{f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} documents failed",
        failures.len(),
        loaded + failures.len()
    );
    assert!(loaded > 500, "only {loaded} documents loaded");
}

#[test]
fn identify_versions_and_kinds() {
    assert_eq!(
        identify("tekton.dev/v1", "Task"),
        Some((ApiVersion::V1, Kind::Task))
    );
    assert_eq!(
        identify("tekton.dev/v1beta1", "PipelineRun"),
        Some((ApiVersion::V1beta1, Kind::PipelineRun))
    );
    assert_eq!(
        identify("tekton.dev/v1alpha1", "StepAction"),
        Some((ApiVersion::V1beta1, Kind::StepAction))
    );
    assert_eq!(
        identify("v1", "ConfigMap"),
        Some((ApiVersion::V1, Kind::ConfigMap))
    );
    assert_eq!(identify("tekton.dev/v1alpha1", "Task"), None);
    assert_eq!(identify("tekton.dev/v1", "ConfigMap"), None);
    assert_eq!(identify("v1", "Task"), None);
    assert_eq!(identify("apps/v1", "Deployment"), None);
}

fn param_values(yaml_text: &str) -> Vec<ParamValue> {
    let (r, _, _) = load(yaml_text);
    let Resource::TaskRun(tr) = r else {
        panic!("not a TaskRun")
    };
    tr.spec.params.into_iter().map(|p| p.value.value).collect()
}

#[test]
fn param_values_string_array_object() {
    let values = param_values(
        "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {name: x}\nspec:\n  params:\n  - name: s\n    value: hello\n  - name: a\n    value: [one, \"two\"]\n  - name: o\n    value: {url: 'https://x', rev: main}\n",
    );
    assert_eq!(values[0], ParamValue::String("hello".into()));
    let a = values[1].as_array().unwrap();
    assert_eq!(
        a.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        ["one", "two"]
    );
    assert_eq!((a[1].span.line, a[1].span.col), (9, 18));
    let o = values[2].as_object().unwrap();
    assert_eq!(o["url"].as_str(), "https://x");
    assert_eq!(o["rev"].as_str(), "main");
}

#[test]
fn param_value_scalars_read_like_tekton() {
    let values = param_values(
        "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {name: x}\nspec:\n  params:\n  - {name: i, value: 5}\n  - {name: f, value: 1.50}\n  - {name: b, value: true}\n  - {name: n, value: ~}\n  - {name: e, value: 1e21}\n  - {name: q, value: '007'}\n",
    );
    let strs: Vec<&str> = values.iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(strs, ["5", "1.5", "true", "", "1e+21", "007"]);
}

#[test]
fn param_spec_defaults_and_type() {
    let (r, _, _) = load(
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\nspec:\n  params:\n  - name: a\n    type: array\n  - name: d\n    default: [x]\n  - name: o\n    properties: {k: {}}\n  - name: s\n  steps: []\n",
    );
    let Resource::Task(t) = r else { panic!() };
    let types: Vec<ParamType> = t.spec.params.iter().map(|p| p.effective_type()).collect();
    assert_eq!(
        types,
        [
            ParamType::Array,
            ParamType::Array,
            ParamType::Object,
            ParamType::String
        ]
    );
}

#[test]
fn bad_param_type_is_an_error_with_a_span() {
    let mut map = SourceMap::new();
    let id = map.add(
        "t.yaml",
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\nspec:\n  params:\n  - name: a\n    type: list\n",
    );
    let (docs, _) = yaml::parse(map.get(id), id);
    let err = Resource::from_node(Kind::Task, &docs[0].root).unwrap_err();
    assert!(err.message.contains("list"), "{}", err.message);
    let span = err.span.unwrap();
    assert_eq!((span.line, span.col), (7, 11));
}

#[test]
fn run_after_entries_keep_their_spans() {
    let (r, _, map) = load(
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: p\nspec:\n  tasks:\n  - name: a\n    taskRef: {name: t}\n  - name: b\n    runAfter:\n    - a\n    - \"c\"\n    taskRef: {name: t}\n",
    );
    let Resource::Pipeline(p) = r else { panic!() };
    let b = &p.spec.tasks[1];
    assert_eq!((b.span.line, b.span.col), (9, 5));
    let ra = &b.run_after;
    assert_eq!(ra.len(), 2);
    assert_eq!((ra[0].span.line, ra[0].span.col), (11, 7));
    assert_eq!(ra[1].as_str(), "c");
    assert_eq!((ra[1].span.line, ra[1].span.col), (12, 7));
    assert_eq!(map.get(ra[0].span.file).slice(ra[0].span), "a");
    assert_eq!(p.spec.task("b").unwrap().name.as_str(), "b");
}

#[test]
fn v1beta1_pipeline_run_converts_to_v1() {
    let (mut r, version, _) = load(
        "apiVersion: tekton.dev/v1beta1\nkind: PipelineRun\nmetadata: {generateName: pr-}\nspec:\n  serviceAccountName: builder\n  timeout: 1h30m\n  podTemplate:\n    nodeSelector: {disk: ssd}\n  serviceAccountNames:\n  - {taskName: deploy, serviceAccountName: deployer}\n  taskRunSpecs:\n  - pipelineTaskName: build\n    taskServiceAccountName: b-sa\n    stepOverrides:\n    - name: compile\n      resources: {requests: {memory: 1Gi}}\n  pipelineRef:\n    name: p\n    bundle: registry.example/p:1\n",
    );
    assert_eq!(version, ApiVersion::V1beta1);
    let mut diags = Diagnostics::new();
    convert::to_v1(&mut r, &mut diags);
    let Resource::PipelineRun(pr) = r else {
        panic!()
    };
    let s = &pr.spec;
    assert!(s.timeout.is_none() && s.service_account_name.is_none() && s.pod_template.is_none());
    let timeouts = s.timeouts.as_ref().unwrap();
    assert_eq!(timeouts.pipeline.as_ref().unwrap().as_str(), "1h30m");
    assert_eq!(timeouts.pipeline.as_ref().unwrap().span.line, 6);
    let template = s.task_run_template.as_ref().unwrap();
    assert_eq!(
        template.service_account_name.as_ref().unwrap().as_str(),
        "builder"
    );
    assert_eq!(
        template.pod_template.as_ref().unwrap().node_selector["disk"],
        "ssd"
    );
    assert_eq!(s.task_run_specs.len(), 2);
    let build = &s.task_run_specs[0];
    assert_eq!(
        build.service_account_name.as_ref().unwrap().as_str(),
        "b-sa"
    );
    assert!(build.task_service_account_name.is_none());
    assert_eq!(build.step_specs[0].name.as_str(), "compile");
    assert_eq!(
        build.step_specs[0].compute_resources.requests["memory"]
            .value
            .as_str(),
        "1Gi"
    );
    let deploy = &s.task_run_specs[1];
    assert_eq!(
        deploy.pipeline_task_name.as_ref().unwrap().as_str(),
        "deploy"
    );
    assert_eq!(
        deploy.service_account_name.as_ref().unwrap().as_str(),
        "deployer"
    );
    let pref = s.pipeline_ref.as_ref().unwrap();
    assert!(pref.name.is_none() && pref.bundle.is_none());
    assert_eq!(pref.resolver.as_ref().unwrap().as_str(), "bundles");
    let params: Vec<(&str, &str)> = pref
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str().unwrap()))
        .collect();
    assert_eq!(
        params,
        [
            ("bundle", "registry.example/p:1"),
            ("name", "p"),
            ("kind", "Pipeline")
        ]
    );
    // serviceAccountNames and bundle warn; the renames do not.
    assert!(!diags.has_errors());
    assert_eq!(diags.warning_count(), 2);
    assert!(diags.iter().all(|d| d.code == Code::Deprecated));

    // Serialized, it is a plain v1 PipelineRun.
    let json = serde_json::to_value(&pr).unwrap();
    assert!(json["spec"].get("timeout").is_none());
    assert_eq!(json["spec"]["timeouts"]["pipeline"], "1h30m");
    assert_eq!(
        json["spec"]["taskRunTemplate"]["serviceAccountName"],
        "builder"
    );
}

#[test]
fn v1beta1_task_resources_warn_and_step_resources_convert() {
    let (mut r, _, _) = load(
        "apiVersion: tekton.dev/v1beta1\nkind: Task\nmetadata: {name: t}\nspec:\n  resources:\n    inputs:\n    - name: source\n      type: git\n  steps:\n  - name: build\n    image: alpine\n    resources:\n      limits: {cpu: 2, memory: 1Gi}\n    ports:\n    - containerPort: 80\n",
    );
    let mut diags = Diagnostics::new();
    convert::to_v1(&mut r, &mut diags);
    let Resource::Task(t) = r else { panic!() };
    assert!(t.spec.resources.is_none());
    let step = &t.spec.steps[0];
    assert!(step.resources.is_none() && step.ports.is_none());
    let cr = step.compute_resources.as_ref().unwrap();
    assert_eq!(cr.limits["cpu"].as_str(), "2");
    assert_eq!(cr.limits["memory"].as_str(), "1Gi");
    let d: Vec<_> = diags.iter().collect();
    assert_eq!(d.len(), 2);
    assert!(
        d.iter()
            .all(|d| d.code == Code::Deprecated && d.severity == Severity::Warning)
    );
    assert_eq!((d[0].span.line, d[0].span.col), (6, 5));
    assert!(d[0].message.contains("PipelineResources"));
    assert!(d[0].hint.is_some());
    assert_eq!(d[1].span.line, 15);
    assert!(d[1].message.contains("ports"));
}

#[test]
fn v1beta1_task_ref_bundle_becomes_a_resolver() {
    let (mut r, _, _) = load(
        "apiVersion: tekton.dev/v1beta1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  tasks:\n  - name: a\n    taskRef:\n      name: git-clone\n      bundle: gcr.io/tekton-releases/catalog/upstream/git-clone:0.7\n    resources:\n      inputs: [{name: src, resource: repo}]\n",
    );
    let mut diags = Diagnostics::new();
    convert::to_v1(&mut r, &mut diags);
    let Resource::Pipeline(p) = r else { panic!() };
    let tr = p.spec.tasks[0].task_ref.as_ref().unwrap();
    assert_eq!(tr.resolver.as_ref().unwrap().as_str(), "bundles");
    assert_eq!(tr.params[1].value.as_str(), Some("git-clone"));
    assert_eq!(tr.params[2].value.as_str(), Some("Task"));
    assert!(tr.name.is_none());
    assert!(p.spec.tasks[0].resources.is_none());
    assert_eq!(diags.warning_count(), 2);
}

#[test]
fn embedded_task_spec_and_custom_task() {
    let (r, _, _) = load(
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  tasks:\n  - name: a\n    taskSpec:\n      metadata: {labels: {app: x}}\n      params: [{name: p}]\n      steps:\n      - image: alpine\n        script: echo $(params.p)\n  - name: wait\n    taskSpec:\n      apiVersion: example.dev/v1\n      kind: Wait\n      spec: {duration: 5s}\n",
    );
    let Resource::Pipeline(p) = r else { panic!() };
    let a = p.spec.tasks[0].task_spec.as_ref().unwrap();
    assert!(!a.is_custom());
    assert_eq!(a.metadata.as_ref().unwrap().labels["app"], "x");
    let spec = a.to_task_spec();
    assert_eq!(spec.params[0].name.as_str(), "p");
    assert_eq!(
        spec.steps[0].script.as_ref().unwrap().as_str(),
        "echo $(params.p)"
    );
    let w = p.spec.tasks[1].task_spec.as_ref().unwrap();
    assert!(w.is_custom());
    assert_eq!(w.kind.as_ref().unwrap().as_str(), "Wait");
}

#[test]
fn missing_required_fields_are_errors() {
    let mut map = SourceMap::new();
    let id = map.add(
        "t.yaml",
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  tasks:\n  - taskRef: {name: t}\n",
    );
    let (docs, _) = yaml::parse(map.get(id), id);
    let err = Resource::from_node(Kind::Pipeline, &docs[0].root).unwrap_err();
    assert!(err.message.contains("name"), "{}", err.message);
    assert_eq!(err.span.map(|s| s.line), Some(6));
}

fn schema_json<T: schemars::JsonSchema>() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap()
}

#[test]
fn schemas_generate_and_close_objects() {
    for schema in [
        schema_json::<Task>(),
        schema_json::<Pipeline>(),
        schema_json::<TaskRun>(),
        schema_json::<PipelineRun>(),
        schema_json::<StepAction>(),
        schema_json::<ConfigMap>(),
        schema_json::<Secret>(),
    ] {
        assert!(!serde_json::to_string(&schema).unwrap().is_empty());
        assert_eq!(schema["additionalProperties"], false);
        let required = schema["required"].as_array().unwrap();
        for field in ["apiVersion", "kind", "metadata"] {
            assert!(required.iter().any(|r| r == field), "{field} not required");
        }
    }
    let task = schema_json::<Task>();
    let defs = &task["$defs"];
    let step = &defs["Step"];
    assert_eq!(step["additionalProperties"], false);
    assert!(step["properties"]["runAfter"].is_null());
    assert_eq!(step["properties"]["resources"]["x-runnel-v1beta1"], true);
    assert_eq!(step["properties"]["ports"]["x-runnel-v1beta1"], true);
    assert!(step["properties"]["computeResources"]["x-runnel-v1beta1"].is_null());
    assert!(step["properties"].get("ref").is_some());
    assert_eq!(
        defs["ParamSpec"]["properties"]["type"]["anyOf"][0]["$ref"],
        "#/$defs/ParamType"
    );
    assert_eq!(
        defs["ParamType"]["enum"],
        serde_json::json!(["string", "array", "object"])
    );
    assert!(defs["ParamValue"]["anyOf"].is_array());
    let pr = schema_json::<PipelineRun>();
    let spec = &pr["$defs"]["PipelineRunSpec"]["properties"];
    assert_eq!(spec["timeout"]["x-runnel-v1beta1"], true);
    assert!(spec["timeouts"]["x-runnel-v1beta1"].is_null());
    let volume = &pr["$defs"]["Volume"]["properties"];
    assert!(volume.get("downwardAPI").is_some() && volume.get("scaleIO").is_some());
}

/// Rarely-set fields are boxed ([`crate::model::OptionBox`]), so the types a big pipeline
/// holds thousands of stay small (inline, a step was ~1.9 KB and a pipeline task ~2.8 KB).
#[test]
#[cfg(target_pointer_width = "64")]
fn types_held_per_task_stay_small() {
    use std::mem::size_of;
    let sizes = [
        ("Step", size_of::<crate::model::Step>(), 800),
        ("PipelineTask", size_of::<crate::model::PipelineTask>(), 512),
        (
            "EmbeddedTask",
            size_of::<crate::model::pipeline::EmbeddedTask>(),
            384,
        ),
        ("TaskSpec", size_of::<crate::model::TaskSpec>(), 320),
    ];
    for (name, size, limit) in sizes {
        eprintln!("{name}: {size} bytes");
        assert!(size <= limit, "{name} is {size} bytes, over {limit}");
    }
}
