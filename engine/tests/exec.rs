//! The execution core end to end: YAML loaded from strings (or `pipelines/hello.yaml`),
//! prepared as the CLI prepares it, and executed by the engine on the real local runner, so
//! that every step is an actual `sh` process. Each case checks what Tekton would report for
//! the same documents: statuses, reasons, messages, skip reasons, results and the order in
//! which things happen (never how long they take).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runnel_engine::exec::events::{ExecEvent, Observer, Observers};
use runnel_engine::exec::record::{RecordContext, Recorder};
use runnel_engine::exec::{
    Engine, EngineConfig, Prepared, RunControl, RunEnd, RunOptions, TaskSummary, prepare,
};
use runnel_engine::load::Loaded;
use runnel_engine::logs::{LogStore, parse_line};
use runnel_engine::resolve::Catalog;
use runnel_engine::store::{DeploymentKind, DeploymentOrigin, RunKind, Status, Store};
use runnel_engine::subst::Value;
use runnel_runner::local::LocalRunner;
use runnel_runner::{StepStatus, Stream};
use tokio::sync::Notify;

const PLACE: &str = "the given files (test.yaml)";

/// Keeps every event, and wakes a waiter when a step starts.
#[derive(Default)]
struct Collector {
    events: Mutex<Vec<ExecEvent>>,
    step_started: Notify,
}

impl Observer for Collector {
    fn on_event(&self, event: &ExecEvent) {
        self.events.lock().unwrap().push(event.clone());
        if matches!(event, ExecEvent::StepStarted { .. }) {
            self.step_started.notify_one();
        }
    }
}

/// One test's state directory, options and observer.
struct Harness {
    dir: tempfile::TempDir,
    config: EngineConfig,
    opts: RunOptions,
    collector: Arc<Collector>,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::new(&dir.path().join("state"));
        config.max_parallel = 4;
        config.grace = Duration::from_secs(1);
        Harness {
            dir,
            config,
            opts: RunOptions::default(),
            collector: Arc::new(Collector::default()),
        }
    }

    fn param(mut self, name: &str, value: &str) -> Harness {
        self.opts.params.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Loads `yaml` as `test.yaml` and prepares its runs.
    fn prepare(&self, yaml: &str) -> Vec<Prepared> {
        let mut loaded = Loaded::new();
        loaded.add_source("test.yaml", yaml.to_owned());
        prepare_loaded(&loaded, &self.opts, &self.config)
    }

    fn engine(&self) -> Engine {
        Engine::new(
            Arc::new(LocalRunner::default()),
            Observers(vec![self.collector.clone()]),
            self.config.clone(),
        )
    }

    /// Runs every run the YAML describes, one after the other.
    async fn run_all(&self, yaml: &str) -> Vec<RunEnd> {
        let engine = self.engine();
        let mut ends = Vec::new();
        for p in self.prepare(yaml) {
            ends.push(engine.execute(p, RunControl::default()).await);
        }
        ends
    }

    /// Runs the one run the YAML describes.
    async fn run(&self, yaml: &str) -> RunEnd {
        let mut ends = self.run_all(yaml).await;
        assert_eq!(ends.len(), 1, "expected one run, got {ends:#?}");
        ends.remove(0)
    }

    fn events(&self) -> Events {
        Events(self.collector.events.lock().unwrap().clone())
    }
}

fn prepare_loaded(loaded: &Loaded, opts: &RunOptions, config: &EngineConfig) -> Vec<Prepared> {
    let errors: Vec<&str> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.as_str())
        .collect();
    assert!(
        errors.is_empty(),
        "the test YAML does not load: {errors:#?}"
    );
    let mut catalog = Catalog::new();
    catalog.add_loaded(loaded, PLACE);
    prepare(loaded, &catalog, opts, config).expect("prepare")
}

/// A TaskRun (attempt) as its start event tells it.
#[derive(Debug, Clone)]
struct Started {
    id: uuid::Uuid,
    name: String,
    pipeline_task: Option<String>,
    attempt: u32,
    matrix_index: Option<usize>,
}

struct Events(Vec<ExecEvent>);

impl Events {
    fn task_runs(&self) -> Vec<Started> {
        self.0
            .iter()
            .filter_map(|e| match e {
                ExecEvent::TaskRunStarted {
                    id,
                    name,
                    pipeline_task,
                    attempt,
                    matrix_index,
                    ..
                } => Some(Started {
                    id: *id,
                    name: name.clone(),
                    pipeline_task: pipeline_task.clone(),
                    attempt: *attempt,
                    matrix_index: *matrix_index,
                }),
                _ => None,
            })
            .collect()
    }

    /// The attempts of one pipeline task (or of the TaskRun named `task`).
    fn attempts_of(&self, task: &str) -> Vec<Started> {
        self.task_runs()
            .into_iter()
            .filter(|s| s.pipeline_task.as_deref() == Some(task) || s.name == task)
            .collect()
    }

    /// Everything the steps of a pipeline task (all its attempts) printed on stdout.
    fn stdout_of(&self, task: &str) -> String {
        let ids: Vec<uuid::Uuid> = self.attempts_of(task).iter().map(|s| s.id).collect();
        let mut out = String::new();
        for e in &self.0 {
            if let ExecEvent::Output {
                task_run,
                stream: Stream::Stdout,
                line,
                ..
            } = e
                && ids.contains(task_run)
            {
                out.push_str(&String::from_utf8_lossy(line));
                out.push('\n');
            }
        }
        out
    }

    fn skip_reason(&self, task: &str) -> Option<String> {
        self.0.iter().find_map(|e| match e {
            ExecEvent::TaskSkipped {
                pipeline_task,
                reason,
                ..
            } if pipeline_task == task => Some(reason.clone()),
            _ => None,
        })
    }

    /// Where the first attempt of `task` started in the event stream.
    fn started_at(&self, task: &str) -> usize {
        let id = self.attempts_of(task).first().map(|s| s.id);
        self.0
            .iter()
            .position(|e| matches!(e, ExecEvent::TaskRunStarted { id: i, .. } if Some(*i) == id))
            .unwrap_or_else(|| panic!("`{task}` never started"))
    }

    /// Where the last attempt of `task` finished in the event stream.
    fn finished_at(&self, task: &str) -> usize {
        let id = self.attempts_of(task).last().map(|s| s.id);
        self.0
            .iter()
            .position(|e| matches!(e, ExecEvent::TaskRunFinished { id: i, .. } if Some(*i) == id))
            .unwrap_or_else(|| panic!("`{task}` never finished"))
    }
}

fn summary<'a>(end: &'a RunEnd, task: &str) -> &'a TaskSummary {
    end.tasks
        .iter()
        .find(|t| t.name == task)
        .unwrap_or_else(|| panic!("no summary for `{task}` in {:#?}", end.tasks))
}

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

// ---------------------------------------------------------------------------------------
// 1. The README's diamond.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_diamond_succeeds_in_dependency_order() {
    let h = Harness::new();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/hello.yaml");
    let loaded = Loaded::from_paths(&[path]).unwrap();
    let prepared = prepare_loaded(&loaded, &h.opts, &h.config);
    assert_eq!(prepared.len(), 1);
    assert_eq!(prepared[0].kind, RunKind::PipelineRun);
    assert_eq!(prepared[0].target, "hello");
    let end = h
        .engine()
        .execute(prepared.into_iter().next().unwrap(), RunControl::default())
        .await;

    assert_eq!(end.status, Status::Succeeded, "{end:#?}");
    assert_eq!(end.reason, "Succeeded");
    assert_eq!(
        end.message.as_deref(),
        Some("Tasks Completed: 5 (Failed: 0, Cancelled 0), Skipped: 0")
    );
    assert_eq!(
        end.results.get("greeting"),
        Some(&string("hello world (11 letters)"))
    );
    assert!(end.name.starts_with("hello-run-"), "{}", end.name);
    for t in ["greet", "shout", "count", "join", "report"] {
        assert_eq!(summary(&end, t).status, Status::Succeeded, "{t}");
    }
    assert!(summary(&end, "report").finally);

    let ev = h.events();
    assert!(ev.finished_at("greet") < ev.started_at("shout"));
    assert!(ev.finished_at("greet") < ev.started_at("count"));
    assert!(ev.finished_at("shout") < ev.started_at("join"));
    assert!(ev.finished_at("count") < ev.started_at("join"));
    assert!(ev.finished_at("join") < ev.started_at("report"));
    assert_eq!(ev.stdout_of("shout"), "HELLO WORLD\n");
    assert_eq!(ev.stdout_of("report"), "pipeline finished: Succeeded\n");
    // TaskRuns are named RUN-TASK, as Tekton names a PipelineRun's children.
    let names: Vec<String> = ev.task_runs().into_iter().map(|s| s.name).collect();
    assert!(names.contains(&format!("{}-join", end.name)), "{names:?}");
    // RunStarted first, RunFinished last.
    assert!(matches!(
        ev.0.first(),
        Some(ExecEvent::RunStarted { tasks: 5, .. })
    ));
    assert!(matches!(ev.0.last(), Some(ExecEvent::RunFinished { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_with_loud_no_skips_shout_and_completes() {
    let h = Harness::new().param("loud", "no").param("who", "tekton");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/hello.yaml");
    let loaded = Loaded::from_paths(&[path]).unwrap();
    let prepared = prepare_loaded(&loaded, &h.opts, &h.config);
    let end = h
        .engine()
        .execute(prepared.into_iter().next().unwrap(), RunControl::default())
        .await;
    assert_eq!(end.status, Status::Succeeded, "{end:#?}");
    assert_eq!(end.reason, "Completed");
    assert_eq!(
        end.results.get("greeting"),
        Some(&string("hello tekton (12 letters)"))
    );
    let ev = h.events();
    assert_eq!(
        ev.skip_reason("shout").as_deref(),
        Some("When Expressions evaluated to false")
    );
    // join only runs after shout: a `when` skip does not skip it.
    assert_eq!(summary(&end, "join").status, Status::Succeeded);
    assert_eq!(ev.stdout_of("report"), "pipeline finished: Completed\n");
}

// ---------------------------------------------------------------------------------------
// 2. `when`.

const WHENS: &str = r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: whens
spec:
  params:
    - name: go
      default: "no"
  tasks:
    - name: gated
      when:
        - input: $(params.go)
          operator: in
          values: ["yes"]
      taskSpec:
        results:
          - name: out
        steps:
          - name: s
            script: printf gated > $(results.out.path)
    - name: after
      runAfter: [gated]
      taskSpec:
        steps:
          - name: s
            script: echo after ran
    - name: reader
      params:
        - name: v
          value: $(tasks.gated.results.out)
      taskSpec:
        params:
          - name: v
        steps:
          - name: s
            script: echo "read $(params.v)"
    - name: grandchild
      runAfter: [reader]
      taskSpec:
        steps:
          - name: s
            script: echo grandchild ran
    - name: notin
      when:
        - input: $(params.go)
          operator: notin
          values: ["yes"]
      taskSpec:
        steps:
          - name: s
            script: echo notin ran
  finally:
    - name: fin
      params:
        - name: all
          value: $(tasks.status)
        - name: gated
          value: $(tasks.gated.status)
        - name: after
          value: $(tasks.after.status)
      taskSpec:
        params:
          - name: all
          - name: gated
          - name: after
        steps:
          - name: s
            script: echo "$(params.all) $(params.gated) $(params.after)"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_false_skips_only_the_task_and_its_result_readers() {
    let h = Harness::new();
    let end = h.run(WHENS).await;
    let ev = h.events();
    assert_eq!(
        ev.skip_reason("gated").as_deref(),
        Some("When Expressions evaluated to false")
    );
    assert_eq!(summary(&end, "gated").status, Status::Skipped);
    assert_eq!(
        summary(&end, "gated").reason,
        "When Expressions evaluated to false"
    );
    assert_eq!(summary(&end, "after").status, Status::Succeeded);
    assert_eq!(ev.stdout_of("after"), "after ran\n");
    assert_eq!(
        ev.skip_reason("reader").as_deref(),
        Some("Results were missing")
    );
    assert_eq!(
        ev.skip_reason("grandchild").as_deref(),
        Some("Parent Tasks were skipped")
    );
    assert_eq!(ev.stdout_of("notin"), "notin ran\n");
    assert_eq!(ev.stdout_of("fin"), "Completed None Succeeded\n");
    assert_eq!(end.status, Status::Succeeded);
    assert_eq!(end.reason, "Completed");
    assert_eq!(
        end.message.as_deref(),
        Some("Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_true_runs_the_task_and_its_readers() {
    let h = Harness::new().param("go", "yes");
    let end = h.run(WHENS).await;
    let ev = h.events();
    assert_eq!(ev.stdout_of("reader"), "read gated\n");
    assert_eq!(
        ev.skip_reason("notin").as_deref(),
        Some("When Expressions evaluated to false")
    );
    assert_eq!(ev.stdout_of("fin"), "Completed Succeeded Succeeded\n");
    assert_eq!(end.status, Status::Succeeded);
    assert_eq!(end.reason, "Completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_when_is_judged_before_skipped_parents() {
    // Tekton's skip() looks at a task's own `when` before its parents, and a task skipped by
    // its `when` does not skip its dependents: `d` runs although `c` and `b` never did.
    let h = Harness::new();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: order
spec:
  tasks:
    - name: a
      when:
        - {input: "x", operator: in, values: ["y"]}
      taskSpec:
        results: [{name: out}]
        steps:
          - name: s
            script: printf a > $(results.out.path)
    - name: b
      params: [{name: v, value: $(tasks.a.results.out)}]
      taskSpec:
        params: [{name: v}]
        steps:
          - name: s
            script: echo "b $(params.v)"
    - name: c
      runAfter: [b]
      when:
        - {input: "x", operator: in, values: ["y"]}
      taskSpec:
        steps:
          - name: s
            script: echo c ran
    - name: d
      runAfter: [c]
      taskSpec:
        steps:
          - name: s
            script: echo d ran
"#,
        )
        .await;
    let ev = h.events();
    assert_eq!(ev.skip_reason("b").as_deref(), Some("Results were missing"));
    assert_eq!(
        ev.skip_reason("c").as_deref(),
        Some("When Expressions evaluated to false")
    );
    assert_eq!(ev.stdout_of("d"), "d ran\n");
    assert_eq!(end.status, Status::Succeeded);
    assert_eq!(end.reason, "Completed");
}

// ---------------------------------------------------------------------------------------
// 3. A failing task.

const FAILING: &str = r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: failing
spec:
  tasks:
    - name: slow
      taskSpec:
        steps:
          - name: s
            script: sleep 0.5
    - name: bad
      taskSpec:
        results:
          - name: r
        steps:
          - name: s
            script: |
              echo failing now
              exit 3
    - name: child
      runAfter: [bad]
      taskSpec:
        steps:
          - name: s
            script: echo child ran
    - name: later
      runAfter: [slow]
      taskSpec:
        steps:
          - name: s
            script: echo later ran
  finally:
    - name: fin
      params:
        - name: all
          value: $(tasks.status)
        - name: bad
          value: $(tasks.bad.status)
        - name: slow
          value: $(tasks.slow.status)
        - name: child
          value: $(tasks.child.status)
        - name: reason
          value: $(tasks.bad.reason)
      taskSpec:
        params:
          - name: all
          - name: bad
          - name: slow
          - name: child
          - name: reason
        steps:
          - name: s
            script: echo "all=$(params.all) bad=$(params.bad) slow=$(params.slow) child=$(params.child) reason=$(params.reason)"
    - name: on-failure
      when:
        - input: $(tasks.status)
          operator: in
          values: [Failed]
      taskSpec:
        steps:
          - name: s
            script: echo cleaning up
    - name: on-success
      when:
        - input: $(tasks.status)
          operator: in
          values: [Succeeded]
      taskSpec:
        steps:
          - name: s
            script: echo celebrating
    - name: wants-result
      params:
        - name: v
          value: $(tasks.bad.results.r)
      taskSpec:
        params:
          - name: v
        steps:
          - name: s
            script: echo "got $(params.v)"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_stops_the_run_and_finally_sees_it() {
    let h = Harness::new();
    let end = h.run(FAILING).await;
    let ev = h.events();
    let bad = summary(&end, "bad");
    assert_eq!(bad.status, Status::Failed);
    assert_eq!(bad.reason, "Failed");
    assert_eq!(
        bad.message.as_deref(),
        Some("\"step-s\" exited with code 3")
    );
    assert_eq!(ev.stdout_of("bad"), "failing now\n");
    // Already running when `bad` failed: it finishes.
    assert_eq!(summary(&end, "slow").status, Status::Succeeded);
    // Not started yet: Tekton's skip() says the run was stopping, before anything else.
    assert_eq!(
        ev.skip_reason("child").as_deref(),
        Some("PipelineRun was stopping")
    );
    assert_eq!(
        ev.skip_reason("later").as_deref(),
        Some("PipelineRun was stopping")
    );
    assert_eq!(
        ev.stdout_of("fin"),
        "all=Failed bad=Failed slow=Succeeded child=None reason=Failed\n"
    );
    assert_eq!(summary(&end, "fin").status, Status::Succeeded);
    // finally tasks: `when` on the aggregate status, and results that do not exist.
    assert_eq!(ev.stdout_of("on-failure"), "cleaning up\n");
    assert_eq!(
        ev.skip_reason("on-success").as_deref(),
        Some("When Expressions evaluated to false")
    );
    assert_eq!(
        ev.skip_reason("wants-result").as_deref(),
        Some("Results were missing")
    );
    assert_eq!(end.status, Status::Failed);
    assert_eq!(end.reason, "Failed");
    assert_eq!(
        end.message.as_deref(),
        Some("Tasks Completed: 4 (Failed: 1, Cancelled 0), Skipped: 4")
    );
}

// ---------------------------------------------------------------------------------------
// 4. Retries.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_rerun_a_failed_attempt() {
    let h = Harness::new();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: retries
spec:
  tasks:
    - name: flaky
      retries: 3
      taskSpec:
        steps:
          - name: s
            script: |
              echo "attempt $(context.task.retry-count) of $(context.pipelineTask.retries)"
              [ "$(context.task.retry-count)" -ge 1 ]
    - name: doomed
      retries: 2
      taskSpec:
        steps:
          - name: s
            script: exit 1
"#,
        )
        .await;
    let ev = h.events();
    let flaky = summary(&end, "flaky");
    assert_eq!(flaky.status, Status::Succeeded);
    assert_eq!(flaky.retries, 1);
    let attempts = ev.attempts_of("flaky");
    assert_eq!(
        attempts.iter().map(|s| s.attempt).collect::<Vec<_>>(),
        [0, 1]
    );
    // Every attempt is the same TaskRun.
    assert!(
        attempts
            .iter()
            .all(|s| s.name == format!("{}-flaky", end.name))
    );
    assert_eq!(ev.stdout_of("flaky"), "attempt 0 of 3\nattempt 1 of 3\n");

    let doomed = summary(&end, "doomed");
    assert_eq!(doomed.status, Status::Failed);
    assert_eq!(doomed.retries, 2);
    assert_eq!(
        ev.attempts_of("doomed")
            .iter()
            .map(|s| s.attempt)
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(end.status, Status::Failed);
    assert_eq!(end.reason, "Failed");
}

// ---------------------------------------------------------------------------------------
// 5. Timeouts.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_timeout_fails_the_task_and_the_run() {
    let h = Harness::new();
    let started = Instant::now();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: slowpoke
spec:
  tasks:
    - name: sleepy
      timeout: 1s
      taskSpec:
        steps:
          - name: s
            script: sleep 30
  finally:
    - name: fin
      taskSpec:
        steps:
          - name: s
            script: echo "sleepy was $(tasks.sleepy.status)"
"#,
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(20));
    let sleepy = summary(&end, "sleepy");
    assert_eq!(sleepy.status, Status::Failed);
    assert_eq!(sleepy.reason, "TaskRunTimeout");
    assert_eq!(
        sleepy.message.as_deref(),
        Some(
            format!(
                "TaskRun \"{}-sleepy\" failed to finish within \"1s\"",
                end.name
            )
            .as_str()
        )
    );
    assert_eq!(h.events().stdout_of("fin"), "sleepy was Failed\n");
    assert_eq!(end.status, Status::Failed);
    assert_eq!(end.reason, "Failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tasks_timeout_cancels_the_dag_but_finally_runs() {
    let h = Harness::new();
    let started = Instant::now();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: tasks-timeout
spec:
  timeouts:
    pipeline: 1m
    tasks: 1s
  pipelineSpec:
    tasks:
      - name: sleepy
        taskSpec:
          steps:
            - name: s
              script: sleep 30
      - name: next
        runAfter: [sleepy]
        taskSpec:
          steps:
            - name: s
              script: echo next ran
    finally:
      - name: fin
        taskSpec:
          steps:
            - name: s
              script: echo finally ran
"#,
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(20));
    let ev = h.events();
    assert_eq!(summary(&end, "sleepy").status, Status::Cancelled);
    assert_eq!(summary(&end, "sleepy").reason, "TaskRunCancelled");
    assert_eq!(
        ev.skip_reason("next").as_deref(),
        Some("PipelineRun Tasks timeout has been reached")
    );
    assert_eq!(ev.stdout_of("fin"), "finally ran\n");
    assert_eq!(summary(&end, "fin").status, Status::Succeeded);
    assert_eq!(end.status, Status::Failed);
    assert_eq!(end.reason, "PipelineRunTimeout");
    assert_eq!(
        end.message.as_deref(),
        Some("PipelineRun \"tasks-timeout\" failed due to tasks failed to finish within \"1s\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_timeout_stops_everything() {
    let h = Harness::new();
    let started = Instant::now();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: pipeline-timeout
spec:
  timeouts:
    pipeline: 1s
  pipelineSpec:
    tasks:
      - name: sleepy
        taskSpec:
          steps:
            - name: s
              script: sleep 30
    finally:
      - name: fin
        taskSpec:
          steps:
            - name: s
              script: echo finally ran
"#,
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(end.status, Status::Failed);
    assert_eq!(end.reason, "PipelineRunTimeout");
    assert_eq!(
        end.message.as_deref(),
        Some("PipelineRun \"pipeline-timeout\" failed to finish within \"1s\"")
    );
    assert_eq!(summary(&end, "sleepy").status, Status::Cancelled);
    // Tekton's IsFinallySkipped: the pipeline timeout skips finally tasks not yet started.
    assert_eq!(
        h.events().skip_reason("fin").as_deref(),
        Some("PipelineRun timeout has been reached")
    );
}

// ---------------------------------------------------------------------------------------
// 6. onError.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_on_error_continue_records_the_exit_code_and_goes_on() {
    let h = Harness::new();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: tolerant
spec:
  steps:
    - name: first
      onError: continue
      script: |
        echo first
        exit 7
    - name: second
      script: echo "second ran after $(cat $(steps.first.exitCode.path))"
"#,
        )
        .await;
    assert_eq!(end.status, Status::Succeeded, "{end:#?}");
    assert_eq!(end.reason, "Succeeded");
    let ev = h.events();
    let (id, name) = {
        let runs = ev.task_runs();
        assert_eq!(runs.len(), 1);
        (runs[0].id, runs[0].name.clone())
    };
    assert_eq!(ev.stdout_of(&name), "first\nsecond ran after 7\n");
    let first =
        ev.0.iter()
            .find_map(|e| match e {
                ExecEvent::StepFinished {
                    task_run,
                    index: 0,
                    outcome,
                } if *task_run == id => Some(outcome.clone()),
                _ => None,
            })
            .expect("step 0 finished");
    assert_eq!(first.status, StepStatus::Failed);
    assert_eq!(first.exit_code, Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_task_on_error_continue_fails_the_task_not_the_run() {
    let h = Harness::new();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: ignored
spec:
  tasks:
    - name: shaky
      onError: continue
      taskSpec:
        results: [{name: r}]
        steps:
          - name: s
            script: exit 1
    - name: next
      runAfter: [shaky]
      taskSpec:
        steps:
          - name: s
            script: echo next ran
    - name: tolerant
      onError: continue
      params: [{name: v, value: $(tasks.shaky.results.r)}]
      taskSpec:
        params: [{name: v}]
        steps:
          - name: s
            script: echo tolerant ran
"#,
        )
        .await;
    assert_eq!(summary(&end, "shaky").status, Status::Failed);
    let ev = h.events();
    assert_eq!(ev.stdout_of("next"), "next ran\n");
    // docs/pipelines.md, "Produce results with OnError": a consumer with onError: continue
    // of a result never written is skipped.
    assert_eq!(
        ev.skip_reason("tolerant").as_deref(),
        Some("Results were missing")
    );
    // GetPipelineConditionStatus: an ignored failure is counted, but does not fail the run
    // (Completed, not Succeeded, because of the skipped task).
    assert_eq!(end.status, Status::Succeeded, "{end:#?}");
    assert_eq!(end.reason, "Completed");
    assert_eq!(
        end.message.as_deref(),
        Some("Tasks Completed: 2 (Failed: 1 (Ignored: 1), Cancelled 0), Skipped: 1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strict_consumer_of_a_result_never_written_fails_the_run() {
    // docs/pipelines.md, "Produce results with OnError": with onError: stopAndFail, the
    // consumer of a result its failed (ignored) producer never wrote fails the PipelineRun
    // (CheckMissingResultReferences in the reconciler); it is not skipped.
    let h = Harness::new();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: strict
spec:
  tasks:
    - name: shaky
      onError: continue
      taskSpec:
        results: [{name: r}]
        steps:
          - name: s
            script: exit 1
    - name: strict
      params: [{name: v, value: $(tasks.shaky.results.r)}]
      taskSpec:
        params: [{name: v}]
        steps:
          - name: s
            script: echo strict ran
"#,
        )
        .await;
    let ev = h.events();
    assert_eq!(ev.skip_reason("strict"), None);
    assert!(ev.attempts_of("strict").is_empty(), "strict ran");
    assert_eq!(end.status, Status::Failed, "{end:#?}");
}

// ---------------------------------------------------------------------------------------
// 7. Matrix.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_fans_out_and_aggregates_results() {
    let h = Harness::new();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: fan
spec:
  results:
    - name: all
      value: $(tasks.m.results.r[*])
  tasks:
    - name: m
      matrix:
        params:
          - name: os
            value: [linux, mac]
          - name: arch
            value: [amd64, arm64]
      taskSpec:
        params:
          - name: os
          - name: arch
        results:
          - name: r
        steps:
          - name: s
            script: printf '%s-%s' "$(params.os)" "$(params.arch)" > $(results.r.path)
    - name: use
      params:
        - name: all
          value: $(tasks.m.results.r[*])
        - name: n
          value: $(tasks.m.matrix.length)
        - name: rn
          value: $(tasks.m.matrix.r.length)
      taskSpec:
        params:
          - name: all
            type: array
          - name: n
          - name: rn
        steps:
          - name: s
            args: ["$(params.all[*])"]
            script: |
              echo "n=$(params.n) rn=$(params.rn)"
              for x in "$@"; do echo "item $x"; done
"#,
        )
        .await;
    assert_eq!(end.status, Status::Succeeded, "{end:#?}");
    let ev = h.events();
    let mut fanned: Vec<(Option<usize>, String)> = ev
        .attempts_of("m")
        .into_iter()
        .map(|s| (s.matrix_index, s.name))
        .collect();
    fanned.sort();
    let expected: Vec<(Option<usize>, String)> = (0..4)
        .map(|i| (Some(i), format!("{}-m-{i}", end.name)))
        .collect();
    assert_eq!(fanned, expected);
    // Tekton's FanOut order: each new param's values over the combinations so far.
    let combos = ["linux-amd64", "mac-amd64", "linux-arm64", "mac-arm64"];
    assert_eq!(
        end.results.get("all"),
        Some(&Value::Array(combos.map(str::to_owned).to_vec()))
    );
    assert_eq!(
        ev.stdout_of("use"),
        "n=4 rn=4\nitem linux-amd64\nitem mac-amd64\nitem linux-arm64\nitem mac-arm64\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_matrix_skips_the_task() {
    let h = Harness::new();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: empty-fan
spec:
  params:
    - name: items
      type: array
      default: []
  tasks:
    - name: m
      matrix:
        params:
          - name: item
            value: $(params.items[*])
      taskSpec:
        params:
          - name: item
        steps:
          - name: s
            script: echo "$(params.item)"
"#,
        )
        .await;
    assert_eq!(
        h.events().skip_reason("m").as_deref(),
        Some("Matrix Parameters have an empty array")
    );
    assert_eq!(end.status, Status::Succeeded);
    assert_eq!(end.reason, "Completed");
}

// ---------------------------------------------------------------------------------------
// 8. Workspaces.

const SHARED: &str = r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: shared
spec:
  workspaces:
    - name: shared
  tasks:
    - name: writer
      workspaces:
        - name: out
          workspace: shared
      taskSpec:
        workspaces:
          - name: out
        steps:
          - name: s
            script: echo "written by $(context.taskRun.name)" > $(workspaces.out.path)/msg.txt
    - name: reader
      runAfter: [writer]
      workspaces:
        - name: in
          workspace: shared
      taskSpec:
        workspaces:
          - name: in
        steps:
          - name: s
            script: |
              if [ -e $(workspaces.in.path)/msg.txt ]; then cat $(workspaces.in.path)/msg.txt; else echo missing; fi
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_pipeline_gets_a_shared_workspace() {
    let h = Harness::new();
    let end = h.run(SHARED).await;
    assert_eq!(end.status, Status::Succeeded, "{end:#?}");
    assert_eq!(
        h.events().stdout_of("reader"),
        format!("written by {}-writer\n", end.name)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_given_with_w_is_that_directory() {
    let mut h = Harness::new();
    let host = h.dir.path().join("my-ws");
    h.opts.workspaces.push(("shared".to_owned(), host.clone()));
    let end = h.run(SHARED).await;
    assert_eq!(end.status, Status::Succeeded, "{end:#?}");
    let written = std::fs::read_to_string(host.join("msg.txt")).unwrap();
    assert_eq!(written, format!("written by {}-writer\n", end.name));
    assert_eq!(h.events().stdout_of("reader"), written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_runs_bind_empty_dirs_and_config_maps() {
    let h = Harness::new();
    let yaml = format!(
        r#"{SHARED}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hi from a config map
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: cm-reader
spec:
  workspaces:
    - name: config
  tasks:
    - name: read
      workspaces:
        - name: config
      taskSpec:
        workspaces:
          - name: config
            readOnly: true
        steps:
          - name: s
            script: cat $(workspaces.config.path)/greeting
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: with-empty-dir
spec:
  pipelineRef:
    name: shared
  workspaces:
    - name: shared
      emptyDir: {{}}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: with-config-map
spec:
  pipelineRef:
    name: cm-reader
  workspaces:
    - name: config
      configMap:
        name: settings
"#
    );
    let ends = h.run_all(&yaml).await;
    assert_eq!(ends.len(), 2, "{ends:#?}");
    let ev = h.events();
    let (empty, cm) = (&ends[0], &ends[1]);
    assert_eq!(empty.name, "with-empty-dir");
    assert_eq!(empty.status, Status::Succeeded, "{empty:#?}");
    // An emptyDir lives and dies with each TaskRun's pod: the reader sees nothing.
    assert_eq!(ev.stdout_of("reader"), "missing\n");
    assert_eq!(cm.name, "with-config-map");
    assert_eq!(cm.status, Status::Succeeded, "{cm:#?}");
    assert_eq!(ev.stdout_of("read"), "hi from a config map\n");
}

// ---------------------------------------------------------------------------------------
// 9. Params and context.

const PARAMS: &str = r#"
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: show-task
spec:
  params:
    - name: greeting
    - name: who
    - name: list
      type: array
    - name: second
    - name: key
    - name: defaulted
      default: dflt
  steps:
    - name: args
      command: [printf, "arg:%s\n"]
      args: ["$(params.list[*])", "$(params.list[0])"]
    - name: script
      script: echo "$(params.greeting) $(params.who) second=$(params.second) key=$(params.key) def=$(params.defaulted) task=$(context.task.name)"
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: params
spec:
  params:
    - name: greeting
      default: hello
    - name: who
      default: nobody
    - name: list
      type: array
      default: [a, b, c]
    - name: obj
      type: object
      properties:
        key: {type: string}
        other: {type: string}
      default:
        key: v1
        other: v2
  tasks:
    - name: show
      taskRef:
        name: show-task
      params:
        - name: greeting
          value: $(params.greeting)
        - name: who
          value: $(params.who)
        - name: list
          value: $(params.list[*])
        - name: second
          value: $(params.list[1])
        - name: key
          value: $(params.obj.key)
    - name: embedded
      taskSpec:
        steps:
          - name: s
            script: |
              echo "propagated $(params.greeting) $(params.who) $(params.obj.other)"
              echo 'nope=$(params.nope)'
    - name: ctx
      taskSpec:
        steps:
          - name: s
            script: |
              echo "pr=$(context.pipelineRun.name)"
              echo "tr=$(context.taskRun.name)"
              echo "task=$(context.task.name)"
              echo "pipeline=$(context.pipeline.name)"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_defaults_overrides_arrays_objects_and_context() {
    let h = Harness::new().param("who", "runnel").param("list", "x,y,z");
    let end = h.run(PARAMS).await;
    assert_eq!(end.status, Status::Succeeded, "{end:#?}");
    let ev = h.events();
    assert_eq!(
        ev.stdout_of("show"),
        "arg:x\narg:y\narg:z\narg:x\nhello runnel second=y key=v1 def=dflt task=show-task\n"
    );
    assert_eq!(
        ev.stdout_of("embedded"),
        "propagated hello runnel v2\nnope=$(params.nope)\n"
    );
    let run = &end.name;
    assert!(run.starts_with("params-run-"), "{run}");
    assert_eq!(
        ev.stdout_of("ctx"),
        format!("pr={run}\ntr={run}-ctx\ntask={run}-ctx\npipeline=params\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_run_params_and_names() {
    let h = Harness::new();
    let end = h
        .run(&format!(
            r#"{PARAMS}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: pr-params
spec:
  pipelineRef:
    name: params
  params:
    - name: who
      value: pipeline-run
    - name: obj
      value:
        key: k2
"#
        ))
        .await;
    assert_eq!(end.status, Status::Succeeded, "{end:#?}");
    assert_eq!(end.name, "pr-params");
    let ev = h.events();
    assert_eq!(
        ev.stdout_of("show"),
        "arg:a\narg:b\narg:c\narg:a\nhello pipeline-run second=b key=k2 def=dflt task=show-task\n"
    );
    assert_eq!(
        ev.stdout_of("ctx"),
        "pr=pr-params\ntr=pr-params-ctx\ntask=pr-params-ctx\npipeline=params\n"
    );
}

// ---------------------------------------------------------------------------------------
// 10. Bad input.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_required_param_refuses_the_run() {
    let h = Harness::new();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: needy
spec:
  params:
    - name: needed
    - name: optional
      default: x
  tasks:
    - name: t
      taskSpec:
        steps:
          - name: s
            script: echo never
"#,
        )
        .await;
    assert_eq!(end.status, Status::Failed);
    assert_eq!(end.reason, "ParameterMissing");
    let message = end.message.unwrap_or_default();
    assert!(message.contains("needed"), "{message}");
    assert!(!message.contains("optional"), "{message}");
    assert!(h.events().task_runs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_run_missing_a_param_fails_validation() {
    // A TaskRun's missing params are a validation failure (ValidateResolvedTask in the
    // TaskRun reconciler), not a PipelineRun's ParameterMissing.
    let h = Harness::new();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: needy-task-run
spec:
  taskSpec:
    params:
      - name: needed
    steps:
      - name: s
        script: echo never
"#,
        )
        .await;
    assert_eq!(end.status, Status::Failed);
    assert_eq!(end.reason, "TaskRunValidationFailed");
    let message = end.message.unwrap_or_default();
    assert!(message.contains("needed"), "{message}");
    assert!(h.events().task_runs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_binary_fails_with_the_step_and_binary_named() {
    let h = Harness::new();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: nobinary
spec:
  tasks:
    - name: t
      taskSpec:
        steps:
          - name: run-it
            command: [runnel-no-such-binary-xyz]
          - name: never
            script: echo never
"#,
        )
        .await;
    assert_eq!(end.status, Status::Failed);
    assert_eq!(end.reason, "Failed");
    let t = summary(&end, "t");
    assert_eq!(t.status, Status::Failed);
    let message = t.message.clone().unwrap_or_default();
    assert!(message.contains("run-it"), "{message}");
    assert!(message.contains("runnel-no-such-binary-xyz"), "{message}");
    assert_eq!(h.events().stdout_of("t"), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_run_without_a_required_workspace_is_refused() {
    let h = Harness::new();
    let ends = h
        .run_all(&format!(
            r#"{SHARED}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: unbound-ref
spec:
  pipelineRef:
    name: shared
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: unbound-spec
spec:
  pipelineSpec:
    workspaces:
      - name: data
    tasks:
      - name: t
        workspaces:
          - name: data
        taskSpec:
          workspaces:
            - name: data
          steps:
            - name: s
              script: echo never
"#
        ))
        .await;
    assert_eq!(ends.len(), 2);
    for (end, ws) in ends.iter().zip(["shared", "data"]) {
        assert_eq!(end.status, Status::Failed, "{end:#?}");
        assert_eq!(end.reason, "InvalidWorkspaceBindings", "{end:#?}");
        let message = end.message.clone().unwrap_or_default();
        assert!(message.contains(&format!("\"{ws}\"")), "{message}");
    }
    assert!(h.events().task_runs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_run_without_a_required_workspace_is_refused() {
    let h = Harness::new();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: unbound-task-run
spec:
  taskSpec:
    workspaces:
      - name: src
      - name: extra
        optional: true
    steps:
      - name: s
        script: echo never
"#,
        )
        .await;
    assert_eq!(end.status, Status::Failed, "{end:#?}");
    assert_eq!(end.reason, "TaskRunValidationFailed", "{end:#?}");
    let message = end.message.unwrap_or_default();
    assert!(message.contains("\"src\""), "{message}");
    assert!(!message.contains("extra"), "{message}");
    assert!(h.events().task_runs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_task_ref_is_couldnt_get_task() {
    let h = Harness::new();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: lost
spec:
  tasks:
    - name: t
      taskRef:
        name: no-such-task
"#,
        )
        .await;
    assert_eq!(end.status, Status::Failed);
    assert_eq!(end.reason, "CouldntGetTask");
    let message = end.message.unwrap_or_default();
    assert!(message.contains("no-such-task"), "{message}");
    assert!(message.contains(PLACE), "{message}");
}

// ---------------------------------------------------------------------------------------
// 11. Concurrency.

const THREE: &str = r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: three
spec:
  params:
    - name: pause
      default: "0.2"
  workspaces:
    - name: w
  tasks:
    - name: a
      taskRef: {name: append}
      params: [{name: who, value: a}, {name: pause, value: $(params.pause)}]
      workspaces: [{name: w}]
    - name: b
      taskRef: {name: append}
      params: [{name: who, value: b}, {name: pause, value: $(params.pause)}]
      workspaces: [{name: w}]
    - name: c
      taskRef: {name: append}
      params: [{name: who, value: c}, {name: pause, value: $(params.pause)}]
      workspaces: [{name: w}]
---
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: append
spec:
  params:
    - name: who
    - name: pause
  workspaces:
    - name: w
  steps:
    - name: s
      script: |
        echo "start $(params.who)" >> $(workspaces.w.path)/log
        sleep $(params.pause)
        echo "end $(params.who)" >> $(workspaces.w.path)/log
"#;

fn log_lines(h: &Harness, end: &RunEnd) -> Vec<String> {
    assert_eq!(end.status, Status::Succeeded, "{end:#?}");
    let log = std::fs::read_to_string(h.dir.path().join("ws").join("log")).unwrap();
    log.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_parallel_one_runs_one_task_at_a_time() {
    let mut h = Harness::new();
    h.config.max_parallel = 1;
    h.opts
        .workspaces
        .push(("w".to_owned(), h.dir.path().join("ws")));
    let end = h.run(THREE).await;
    let lines = log_lines(&h, &end);
    assert_eq!(lines.len(), 6, "{lines:?}");
    for pair in lines.chunks(2) {
        let who = pair[0].strip_prefix("start ").expect("a start line");
        assert_eq!(pair[1], format!("end {who}"), "{lines:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_tasks_run_together() {
    let mut h = Harness::new().param("pause", "1");
    h.config.max_parallel = 3;
    h.opts
        .workspaces
        .push(("w".to_owned(), h.dir.path().join("ws")));
    let end = h.run(THREE).await;
    let lines = log_lines(&h, &end);
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(
        lines[..3].iter().all(|l| l.starts_with("start ")),
        "{lines:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 12. Cancellation.

const LONG: &str = r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: long
spec:
  tasks:
    - name: long
      taskSpec:
        steps:
          - name: s
            script: sleep 30
    - name: after
      runAfter: [long]
      taskSpec:
        steps:
          - name: s
            script: echo after ran
  finally:
    - name: fin
      taskSpec:
        steps:
          - name: s
            script: echo "finally ran, long $(tasks.long.status)"
"#;

/// Runs `LONG`, calling `stop` once its first step has started.
async fn cancelled_run(stop: impl FnOnce(&RunControl)) -> (RunEnd, Events) {
    let h = Harness::new();
    let engine = h.engine();
    let prepared = h.prepare(LONG).remove(0);
    let control = RunControl::default();
    let started = Instant::now();
    let run = tokio::spawn({
        let control = control.clone();
        async move { engine.execute(prepared, control).await }
    });
    tokio::time::timeout(Duration::from_secs(10), h.collector.step_started.notified())
        .await
        .expect("the step started");
    stop(&control);
    let end = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run ended after the cancel")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    (end, h.events())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_cancel_stops_tasks_and_runs_finally() {
    let (end, ev) = cancelled_run(|c| c.graceful.cancel()).await;
    let long = summary(&end, "long");
    assert_eq!(long.status, Status::Cancelled);
    assert_eq!(long.reason, "TaskRunCancelled");
    assert_eq!(
        ev.skip_reason("after").as_deref(),
        Some("PipelineRun was gracefully cancelled")
    );
    assert_eq!(ev.stdout_of("fin"), "finally ran, long Failed\n");
    assert_eq!(end.status, Status::Cancelled);
    assert_eq!(end.reason, "Cancelled");
    assert_eq!(
        end.message,
        Some(format!("PipelineRun \"{}\" was cancelled", end.name))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_cancel_skips_finally() {
    let (end, ev) = cancelled_run(|c| c.hard.cancel()).await;
    assert_eq!(summary(&end, "long").status, Status::Cancelled);
    assert_eq!(summary(&end, "long").reason, "TaskRunCancelled");
    assert!(ev.attempts_of("fin").is_empty(), "finally ran");
    assert_eq!(summary(&end, "fin").status, Status::Skipped);
    assert_eq!(summary(&end, "after").status, Status::Skipped);
    assert_eq!(end.status, Status::Cancelled);
    assert_eq!(end.reason, "Cancelled");
    assert_eq!(
        end.message,
        Some(format!("PipelineRun \"{}\" was cancelled", end.name))
    );
}

// ---------------------------------------------------------------------------------------
// 13. TaskRuns and bare Tasks.

const TASK: &str = r#"
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: echoer
spec:
  params:
    - name: x
      default: def
  results:
    - name: out
    - name: list
      type: array
  steps:
    - name: s
      script: |
        printf 'got %s' "$(params.x)" > $(results.out.path)
        printf '["%s","two"]' "$(params.x)" > $(results.list.path)
        echo "task=$(context.task.name) taskrun=$(context.taskRun.name)"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_runs_run_directly_with_results() {
    let h = Harness::new();
    let ends = h
        .run_all(&format!(
            r#"{TASK}
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: by-ref
spec:
  taskRef:
    name: echoer
  params:
    - name: x
      value: given
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: embedded
spec:
  taskSpec:
    results:
      - name: r
    steps:
      - name: s
        script: printf 'from %s' "$(context.taskRun.name)" > $(results.r.path)
"#
        ))
        .await;
    assert_eq!(ends.len(), 2, "only the TaskRuns run: {ends:#?}");
    let (by_ref, embedded) = (&ends[0], &ends[1]);
    assert_eq!(by_ref.name, "by-ref");
    assert_eq!(by_ref.status, Status::Succeeded, "{by_ref:#?}");
    assert_eq!(by_ref.reason, "Succeeded");
    assert_eq!(by_ref.results.get("out"), Some(&string("got given")));
    assert_eq!(
        by_ref.results.get("list"),
        Some(&Value::Array(vec!["given".into(), "two".into()]))
    );
    assert_eq!(
        h.events().stdout_of("by-ref"),
        "task=echoer taskrun=by-ref\n"
    );
    assert_eq!(embedded.status, Status::Succeeded, "{embedded:#?}");
    assert_eq!(embedded.results.get("r"), Some(&string("from embedded")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_task_runs_with_defaults_and_overrides() {
    let h = Harness::new();
    let end = h.run(TASK).await;
    assert_eq!(end.status, Status::Succeeded, "{end:#?}");
    assert!(end.name.starts_with("echoer-run-"), "{}", end.name);
    assert_eq!(end.results.get("out"), Some(&string("got def")));

    let h = Harness::new().param("x", "cli");
    let end = h.run(TASK).await;
    assert_eq!(end.results.get("out"), Some(&string("got cli")));
    assert_eq!(end.tasks.len(), 1);
    assert_eq!(end.tasks[0].status, Status::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_task_run_reports_its_step() {
    let h = Harness::new();
    let end = h
        .run(
            r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: broken
spec:
  retries: 1
  taskSpec:
    steps:
      - name: boom
        script: exit 4
"#,
        )
        .await;
    assert_eq!(end.status, Status::Failed);
    assert_eq!(end.reason, "Failed");
    assert_eq!(
        end.message.as_deref(),
        Some("\"step-boom\" exited with code 4")
    );
    assert_eq!(end.tasks[0].retries, 1);
    assert_eq!(h.events().attempts_of("broken").len(), 2);
}

// ---------------------------------------------------------------------------------------
// Records and logs.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorder_keeps_runs_task_runs_steps_and_logs() {
    let h = Harness::new();
    let store = Store::open_sqlite(&h.dir.path().join("records/runs.db"))
        .await
        .unwrap();
    let logs = LogStore::local(&h.dir.path().join("logs")).unwrap();
    let (recorder, recording) = Recorder::start(
        Some(store.clone()),
        logs.clone(),
        RecordContext {
            runner: "local".to_owned(),
            ..RecordContext::default()
        },
    );
    let recorder = Arc::new(recorder);
    let engine = Engine::new(
        Arc::new(LocalRunner::default()),
        Observers(vec![recorder.clone(), h.collector.clone()]),
        h.config.clone(),
    );
    let prepared = h
        .prepare(
            r#"
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: recorded
spec:
  pipelineSpec:
    tasks:
      - name: talk
        taskSpec:
          results:
            - name: word
          steps:
            - name: say
              script: |
                echo line one
                echo line two >&2
                printf hi > $(results.word.path)
            - name: quiet
              script: "true"
      - name: never
        runAfter: [talk]
        when:
          - input: a
            operator: in
            values: [b]
        taskSpec:
          steps:
            - name: s
              script: echo never
    finally:
      - name: tidy
        taskSpec:
          steps:
            - name: s
              script: "true"
"#,
        )
        .remove(0);
    let end = engine.execute(prepared, RunControl::default()).await;
    recorder.close();
    recording.await.unwrap().unwrap();
    assert_eq!(end.status, Status::Succeeded, "{end:#?}");

    let run = store
        .get_run("recorded")
        .await
        .unwrap()
        .expect("run record");
    assert_eq!(run.id, end.id);
    assert_eq!(run.kind, RunKind::PipelineRun);
    assert_eq!(run.status, Status::Succeeded);
    assert_eq!(run.reason, "Completed");
    assert_eq!(run.runner, "local");
    assert_eq!(run.owner, None);
    assert!(run.finished_at.is_some());
    assert_eq!(
        store.run_graph(run.id).await.unwrap(),
        Some(serde_json::json!([
            {"name": "talk", "after": [], "finally": false},
            {"name": "never", "after": ["talk"], "finally": false},
            {"name": "tidy", "after": [], "finally": true},
        ]))
    );

    let task_runs = store.task_runs(run.id).await.unwrap();
    let by_task: BTreeMap<String, _> = task_runs
        .iter()
        .map(|t| (t.pipeline_task.clone().unwrap_or_default(), t))
        .collect();
    assert_eq!(by_task.len(), 3, "{task_runs:#?}");
    let talk = by_task["talk"];
    assert_eq!(talk.name, "recorded-talk");
    assert_eq!(talk.status, Status::Succeeded);
    assert_eq!(talk.results, serde_json::json!({"word": "hi"}));
    let never = by_task["never"];
    assert_eq!(never.status, Status::Skipped);
    assert_eq!(never.reason, "When Expressions evaluated to false");

    let steps = store.steps(talk.id).await.unwrap();
    assert_eq!(
        steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["say", "quiet"]
    );
    assert!(steps.iter().all(|s| s.status == Status::Succeeded));
    assert!(steps.iter().all(|s| s.exit_code == Some(0)));
    let key = steps[0].log.clone().expect("a log key");
    let bytes = logs.read(&key).await.unwrap();
    let lines: Vec<(String, String)> = bytes
        .split_inclusive(|b| *b == b'\n')
        .filter_map(parse_line)
        .map(|l| {
            (
                l.stream.as_str().to_owned(),
                String::from_utf8_lossy(l.text).into_owned(),
            )
        })
        .collect::<Vec<_>>();
    // stdout and stderr are separate pipes: lines keep their order within a stream, but
    // which of two streams is read first is not defined (in Tekton either).
    let mut lines = lines;
    lines.sort();
    assert_eq!(
        lines,
        [
            ("err".to_owned(), "line two".to_owned()),
            ("out".to_owned(), "line one".to_owned())
        ]
    );
}

const STEP_ACTION: &str = r#"
apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: greeter
spec:
  image: busybox
  params:
    - name: who
    - name: opts
      type: object
      properties: {greeting: {type: string}, mark: {type: string}}
      default: {greeting: hello, mark: "."}
  results:
    - name: said
  env:
    - name: MARK
      value: $(params.opts.mark)
  script: |
    printf '%s %s%s' "$(params.opts.greeting)" "$(params.who)" "$MARK" | tee $(step.results.said.path)
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: uses-action
spec:
  params:
    - name: name
      value: runnel
  taskSpec:
    params:
      - name: name
    results:
      - name: greeting
        value: $(steps.greet.results.said)
    steps:
      - name: greet
        ref:
          name: greeter
        params:
          - name: who
            value: $(params.name)
          - name: opts
            value:
              mark: "!"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_action_runs_with_its_params_and_its_result_becomes_the_task_result() {
    let h = Harness::new();
    let end = h.run(STEP_ACTION).await;
    assert_eq!(end.status, Status::Succeeded, "{end:#?}");
    // `who` from the step's params (the task's param), `opts` merged over the default.
    assert_eq!(end.results.get("greeting"), Some(&string("hello runnel!")));
}

const TWO_LONG: &str = r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: two-long
spec:
  tasks:
    - name: first
      taskSpec:
        steps:
          - name: s
            script: sleep 30
    - name: second
      taskSpec:
        steps:
          - name: s
            script: sleep 30
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_still_waiting_for_a_slot_when_cancelled_is_skipped_not_cancelled() {
    let mut h = Harness::new();
    h.config.max_parallel = 1;
    let engine = h.engine();
    let prepared = h.prepare(TWO_LONG).remove(0);
    let control = RunControl::default();
    let run = tokio::spawn({
        let control = control.clone();
        async move { engine.execute(prepared, control).await }
    });
    tokio::time::timeout(Duration::from_secs(10), h.collector.step_started.notified())
        .await
        .expect("the first step started");
    control.graceful.cancel();
    let end = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run ended after the cancel")
        .unwrap();
    // One task ran and was cancelled; the other never got a slot, so (as in Tekton, which
    // would never have created it) it is skipped for the reason the run stopped.
    let statuses: Vec<(Status, String)> = end
        .tasks
        .iter()
        .map(|t| (t.status, t.reason.clone()))
        .collect();
    assert!(
        statuses.contains(&(Status::Cancelled, "TaskRunCancelled".to_owned())),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&(
            Status::Skipped,
            "PipelineRun was gracefully cancelled".to_owned()
        )),
        "{statuses:?}"
    );
    assert_eq!(end.status, Status::Cancelled);
    assert_eq!(h.events().task_runs().len(), 1, "only one TaskRun started");
}

/// A TaskRun of a task annotated `runnel.dev/deployment` is recorded as a deployment, its
/// annotations substituted like its steps; its attempts are one deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_task_is_recorded_as_a_deployment() {
    let h = Harness::new().param("env", "staging");
    let store = Store::open_sqlite(&h.dir.path().join("records/runs.db"))
        .await
        .unwrap();
    let logs = LogStore::local(&h.dir.path().join("logs")).unwrap();
    let (recorder, recording) = Recorder::start(
        Some(store.clone()),
        logs,
        RecordContext {
            runner: "local".to_owned(),
            source: runnel_engine::store::Source {
                repo: Some("acme/shop".to_owned()),
                branch: Some("main".to_owned()),
                commit: Some("0123abc".to_owned()),
            },
            finished_deployments: None,
        },
    );
    let recorder = Arc::new(recorder);
    let engine = Engine::new(
        Arc::new(LocalRunner::default()),
        Observers(vec![recorder.clone(), h.collector.clone()]),
        h.config.clone(),
    );
    let marker = h.dir.path().join("tried");
    let yaml = format!(
        r#"
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: deploy
  annotations:
    runnel.dev/deployment: "$(params.environment)"
    runnel.dev/deployment-kind: "$(params.kind)"
spec:
  params:
    - name: environment
    - name: kind
      default: deploy
  steps:
    - name: sync
      # Fails the first time: the retry's success is the deployment's.
      script: |
        if [ -e {marker} ]; then echo synced; else touch {marker}; exit 1; fi
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: release
spec:
  params:
    - name: env
  tasks:
    - name: build
      taskSpec:
        steps:
          - name: s
            script: "true"
    - name: to-env
      runAfter: [build]
      retries: 1
      taskRef:
        name: deploy
      params:
        - name: environment
          value: $(params.env)
    - name: hotfix
      runAfter: [to-env]
      taskSpec:
        metadata:
          annotations:
            runnel.dev/deployment: production
            runnel.dev/deployment-kind: hotfix
            runnel.dev/deployment-service: shop-web
            runnel.dev/deployment-commit: "$(context.pipelineRun.name)"
        steps:
          - name: s
            script: exit 3
"#,
        marker = marker.display()
    );
    let prepared = h.prepare(&yaml).remove(0);
    let run_id = prepared.id;
    let end = engine.execute(prepared, RunControl::default()).await;
    recorder.close();
    recording.await.unwrap().unwrap();
    assert_eq!(end.status, Status::Failed, "{end:#?}");

    let deployments = store.deployments_of_run(run_id).await.unwrap();
    assert_eq!(deployments.len(), 2, "{deployments:#?}");
    let (to_env, hotfix) = (&deployments[0], &deployments[1]);
    assert_eq!(to_env.service, "acme/shop");
    assert_eq!(to_env.environment, "staging");
    assert_eq!(to_env.commit.as_deref(), Some("0123abc"));
    assert_eq!(to_env.status, Status::Succeeded, "the retry succeeded");
    assert_eq!(to_env.kind, DeploymentKind::Deploy);
    assert_eq!(to_env.origin, DeploymentOrigin::Task);
    assert!(to_env.task_run.as_deref().unwrap().ends_with("-to-env"));
    assert!(to_env.started_at.unwrap() < to_env.finished_at.unwrap());
    assert_eq!(hotfix.service, "shop-web");
    assert_eq!(hotfix.environment, "production");
    assert_eq!(hotfix.kind, DeploymentKind::Hotfix);
    assert_eq!(hotfix.status, Status::Failed);
    let run = store.run_by_id(run_id).await.unwrap().unwrap();
    assert_eq!(hotfix.commit.as_deref(), Some(run.name.as_str()));
}
