//! The run records store (`runnel_engine::store`), the same cases on both backends
//! (`backends::each_backend`).

use std::sync::Mutex;

use chrono::{DateTime, Duration, TimeZone, Utc};
use runnel_engine::store::{
    DeliveryRecord, DeploymentKind, DeploymentOrigin, DeploymentRecord, Enqueue, Enqueued, Outcome,
    QueuedRun, RunFilter, RunKind, RunRecord, Source, Status, StepRecord, Store, StoreError,
    TaskRunRecord, new_id, owner_is_alive, owner_of_this_process,
};
use serde_json::json;
use uuid::Uuid;

mod backends;
use backends::{each_backend, with_database};

fn at(seconds: i64, micros: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 15, 9, 26).unwrap()
        + Duration::seconds(seconds)
        + Duration::microseconds(micros)
}

fn run(name: &str, queued_at: DateTime<Utc>) -> RunRecord {
    RunRecord {
        id: new_id(),
        name: name.to_owned(),
        kind: RunKind::PipelineRun,
        target: "hello".to_owned(),
        params: json!({}),
        status: Status::Queued,
        reason: "Pending".to_owned(),
        message: None,
        queued_at,
        started_at: None,
        finished_at: None,
        results: json!({}),
        source: Source::default(),
        runner: "local".to_owned(),
        owner: None,
        log_prefix: format!("runs/{name}"),
    }
}

fn task_run(run_id: Uuid, name: &str, attempt: i32, queued_at: DateTime<Utc>) -> TaskRunRecord {
    TaskRunRecord {
        id: new_id(),
        run_id,
        name: name.to_owned(),
        pipeline_task: None,
        task: None,
        matrix_index: None,
        attempt,
        finally: false,
        params: json!({}),
        status: Status::Queued,
        reason: "Pending".to_owned(),
        message: None,
        queued_at,
        started_at: None,
        finished_at: None,
        results: json!({}),
    }
}

fn step(task_run_id: Uuid, index: i32, status: Status) -> StepRecord {
    StepRecord {
        id: new_id(),
        task_run_id,
        index,
        name: format!("step-{index}"),
        image: None,
        status,
        reason: status.to_string(),
        message: None,
        exit_code: None,
        started_at: None,
        finished_at: None,
        log: None,
    }
}

fn names(runs: &[RunRecord]) -> Vec<&str> {
    runs.iter().map(|run| run.name.as_str()).collect()
}

#[tokio::test]
async fn every_field_round_trips() {
    each_backend(|db| async move {
        let store = db.open().await;

        let full = RunRecord {
            id: new_id(),
            name: "héllo-wörld-run-x7k2p".to_owned(),
            kind: RunKind::TaskRun,
            target: "grüße-🚀".to_owned(),
            params: json!({
                "ключ": "値 ✓",
                "list": [1, 2.5, -3, null, true, "x", {"deep": []}],
                "empty": {},
                "big": 9_007_199_254_740_993_u64,
                "quote": "it's \"quoted\" \\ and\nmultiline"
            }),
            status: Status::Succeeded,
            reason: "Succeeded".to_owned(),
            message: Some("Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 0 — ✓".to_owned()),
            queued_at: at(0, 1),
            started_at: Some(at(1, 999_999)),
            finished_at: Some(at(62, 500_000)),
            results: json!({"digest": "sha256:abc", "lines": ["a", "b"]}),
            source: Source {
                repo: Some("https://git.example/ünï/repo.git".to_owned()),
                branch: Some("feature/ß".to_owned()),
                commit: Some("0123456789abcdef0123456789abcdef01234567".to_owned()),
            },
            runner: "docker".to_owned(),
            owner: Some("host:42:1234".to_owned()),
            log_prefix: "runs/héllo/".to_owned(),
        };
        let sparse = RunRecord {
            params: json!(null),
            results: json!([]),
            ..run("sparse", at(5, 0))
        };
        store.save_run(&full).await.unwrap();
        store.save_run(&sparse).await.unwrap();
        assert_eq!(
            store.get_run(&full.id.to_string()).await.unwrap(),
            Some(full.clone())
        );
        assert_eq!(
            store.get_run(&sparse.id.to_string()).await.unwrap(),
            Some(sparse.clone())
        );

        let full_task_run = TaskRunRecord {
            pipeline_task: Some("build-ü".to_owned()),
            task: Some("golang-build".to_owned()),
            matrix_index: Some(3),
            finally: true,
            params: json!({"platform": "linux/amd64", "flags": ["-v", "-x"]}),
            status: Status::Failed,
            reason: "Failed".to_owned(),
            message: Some("\"step-build\" exited with code 2 ✗".to_owned()),
            started_at: Some(at(2, 0)),
            finished_at: Some(at(3, 7)),
            results: json!({"IMAGE_DIGEST": "sha256:def"}),
            ..task_run(full.id, "héllo-run-build-3", 2, at(1, 0))
        };
        let sparse_task_run = task_run(full.id, "héllo-run-test", 0, at(1, 1));
        store.save_task_run(&full_task_run).await.unwrap();
        store.save_task_run(&sparse_task_run).await.unwrap();
        assert_eq!(
            store.task_runs(full.id).await.unwrap(),
            vec![full_task_run.clone(), sparse_task_run.clone()]
        );

        let full_step = StepRecord {
            image: Some("golang:1.24@sha256:0123".to_owned()),
            reason: "Error".to_owned(),
            message: Some("ünïcödé output ✗".to_owned()),
            exit_code: Some(-1),
            started_at: Some(at(2, 1)),
            finished_at: Some(at(3, 2)),
            log: Some("runs/héllo/build-3/step-0.log".to_owned()),
            ..step(full_task_run.id, 0, Status::Failed)
        };
        let sparse_step = step(full_task_run.id, 1, Status::Skipped);
        store.save_step(&full_step).await.unwrap();
        store.save_step(&sparse_step).await.unwrap();
        assert_eq!(
            store.steps(full_task_run.id).await.unwrap(),
            vec![full_step, sparse_step]
        );
        assert_eq!(store.steps(sparse_task_run.id).await.unwrap(), vec![]);

        // Every status and kind survives.
        for (i, status) in Status::ALL.into_iter().enumerate() {
            let mut record = run(&format!("status-{i}"), at(100 + i as i64, 0));
            record.status = status;
            store.save_run(&record).await.unwrap();
            let back = store
                .get_run(&record.id.to_string())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(back.status, status);
            assert_eq!(back.kind, RunKind::PipelineRun);
        }
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn saving_again_replaces_the_record() {
    each_backend(|db| async move {
        let store = db.open().await;
        let mut record = run("upsert", at(0, 0));
        record.owner = Some("host:1:2".to_owned());
        record.message = Some("waiting".to_owned());
        store.save_run(&record).await.unwrap();

        record.status = Status::Running;
        record.reason = "Running".to_owned();
        record.message = None;
        record.started_at = Some(at(1, 0));
        record.owner = None;
        record.params = json!({"a": "b"});
        record.source.repo = Some("repo".to_owned());
        store.save_run(&record).await.unwrap();
        let all = store.list_runs(&RunFilter::default()).await.unwrap();
        assert_eq!(all, vec![record.clone()]);

        let mut attempt = task_run(record.id, "upsert-a", 0, at(1, 0));
        store.save_task_run(&attempt).await.unwrap();
        attempt.status = Status::Succeeded;
        attempt.finished_at = Some(at(2, 0));
        attempt.results = json!({"r": "1"});
        store.save_task_run(&attempt).await.unwrap();
        assert_eq!(
            store.task_runs(record.id).await.unwrap(),
            vec![attempt.clone()]
        );

        let mut first = step(attempt.id, 0, Status::Running);
        store.save_step(&first).await.unwrap();
        first.status = Status::Succeeded;
        first.exit_code = Some(0);
        first.log = Some("log".to_owned());
        store.save_step(&first).await.unwrap();
        assert_eq!(store.steps(attempt.id).await.unwrap(), vec![first]);
    })
    .await;
}

#[tokio::test]
async fn records_need_their_parent() {
    each_backend(|db| async move {
        let store = db.open().await;
        let orphan = task_run(new_id(), "no-run", 0, at(0, 0));
        let error = store.save_task_run(&orphan).await.unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot save TaskRun {}", orphan.id)),
            "{error}"
        );
        let error = store
            .save_step(&step(new_id(), 0, Status::Queued))
            .await
            .unwrap_err();
        assert!(error.to_string().starts_with("cannot save step"), "{error}");
    })
    .await;
}

#[tokio::test]
async fn list_filters_pages_and_orders() {
    each_backend(|db| async move {
        let store = db.open().await;
        // Times whose variable-precision RFC 3339 text would sort wrong ("…:26Z" after
        // "…:26.5Z").
        let mut records = vec![
            run("a", at(0, 0)),
            run("b", at(0, 500_000)),
            run("c", at(1, 0)),
            run("d", at(60, 1)),
            run("e", at(3600, 0)),
            run("f", at(86_400, 0)),
        ];
        let statuses = [
            Status::Succeeded,
            Status::Failed,
            Status::Succeeded,
            Status::Running,
            Status::Failed,
            Status::Queued,
        ];
        let sources = [
            ("repo-1", "main"),
            ("repo-1", "dev"),
            ("repo-2", "main"),
            ("repo-1", "main"),
            ("repo-2", "dev"),
            ("repo-1", "main"),
        ];
        for ((record, status), (repo, branch)) in records.iter_mut().zip(statuses).zip(sources) {
            record.status = status;
            record.source.repo = Some(repo.to_owned());
            record.source.branch = Some(branch.to_owned());
        }
        let mut unsourced = run("g", at(30, 0));
        unsourced.status = Status::Cancelled;
        records.push(unsourced);
        // Saved in an order of their own, so that order comes from the query.
        for i in [3, 0, 6, 5, 1, 4, 2] {
            store.save_run(&records[i]).await.unwrap();
        }
        let list = |filter: RunFilter| {
            let store = store.clone();
            async move { store.list_runs(&filter).await.unwrap() }
        };

        assert_eq!(
            names(&list(RunFilter::default()).await),
            ["f", "e", "d", "g", "c", "b", "a"]
        );
        let page = |limit, offset| RunFilter {
            limit,
            offset,
            ..RunFilter::default()
        };
        assert_eq!(names(&list(page(2, 0)).await), ["f", "e"]);
        assert_eq!(names(&list(page(2, 2)).await), ["d", "g"]);
        assert_eq!(names(&list(page(3, 6)).await), ["a"]);
        assert!(list(page(3, 7)).await.is_empty());
        assert!(list(page(0, 0)).await.is_empty());

        let status = |status| RunFilter {
            status: Some(status),
            ..RunFilter::default()
        };
        assert_eq!(names(&list(status(Status::Succeeded)).await), ["c", "a"]);
        assert_eq!(names(&list(status(Status::Failed)).await), ["e", "b"]);
        assert_eq!(names(&list(status(Status::Cancelled)).await), ["g"]);
        assert!(list(status(Status::Skipped)).await.is_empty());

        let repo = RunFilter {
            repo: Some("repo-1".to_owned()),
            ..RunFilter::default()
        };
        assert_eq!(names(&list(repo.clone()).await), ["f", "d", "b", "a"]);
        let main = RunFilter {
            branch: Some("main".to_owned()),
            ..repo.clone()
        };
        assert_eq!(names(&list(main.clone()).await), ["f", "d", "a"]);
        let succeeded_main = RunFilter {
            status: Some(Status::Succeeded),
            ..main
        };
        assert_eq!(names(&list(succeeded_main).await), ["a"]);
        let dev = RunFilter {
            branch: Some("dev".to_owned()),
            ..RunFilter::default()
        };
        assert_eq!(names(&list(dev).await), ["e", "b"]);

        // since is inclusive, until exclusive.
        let window = RunFilter {
            since: Some(at(0, 500_000)),
            until: Some(at(3600, 0)),
            ..RunFilter::default()
        };
        assert_eq!(names(&list(window).await), ["d", "g", "c", "b"]);
        let since = RunFilter {
            since: Some(at(3600, 0)),
            ..RunFilter::default()
        };
        assert_eq!(names(&list(since).await), ["f", "e"]);
        let until = RunFilter {
            until: Some(at(1, 0)),
            ..RunFilter::default()
        };
        assert_eq!(names(&list(until).await), ["b", "a"]);
        let paged_repo = RunFilter {
            limit: 2,
            offset: 1,
            ..repo
        };
        assert_eq!(names(&list(paged_repo).await), ["d", "b"]);

        // Runs queued at the same time: the greater id first.
        let mut twins = vec![run("twin", at(-10, 0)), run("twin", at(-10, 0))];
        twins.sort_by_key(|record| record.id);
        for twin in &twins {
            store.save_run(twin).await.unwrap();
        }
        let oldest = list(RunFilter {
            limit: 2,
            offset: 7,
            ..RunFilter::default()
        })
        .await;
        assert_eq!(
            oldest.iter().map(|record| record.id).collect::<Vec<_>>(),
            [twins[1].id, twins[0].id]
        );
    })
    .await;
}

/// An id with the given first 32 bits (the rest from a fresh v7).
fn id_starting_with(first: u32) -> Uuid {
    let mut bytes = *new_id().as_bytes();
    bytes[..4].copy_from_slice(&first.to_be_bytes());
    Uuid::from_bytes(bytes)
}

#[tokio::test]
async fn get_run_by_id_prefix_or_name() {
    each_backend(|db| async move {
        let store = db.open().await;
        let first = RunRecord {
            id: id_starting_with(0xabcd_0123),
            ..run("hello-run-x7k2p", at(0, 0))
        };
        let second = RunRecord {
            id: id_starting_with(0xabcd_4567),
            ..run("hello-run-x7k2p", at(5, 0))
        };
        let other = RunRecord {
            id: id_starting_with(0x0193_a1b2),
            ..run("other", at(9, 0))
        };
        for record in [&first, &second, &other] {
            store.save_run(record).await.unwrap();
        }
        let get = |key: String| {
            let store = store.clone();
            async move { store.get_run(&key).await }
        };
        let id_of = |found: Result<Option<RunRecord>, StoreError>| found.unwrap().map(|r| r.id);

        // Full id, in either form.
        assert_eq!(id_of(get(first.id.to_string()).await), Some(first.id));
        assert_eq!(
            id_of(get(first.id.simple().to_string()).await),
            Some(first.id)
        );
        assert_eq!(
            id_of(get(format!("  {}\n", other.id)).await),
            Some(other.id)
        );
        // Unique prefixes, with or without dashes, any case.
        assert_eq!(id_of(get("abcd0".to_owned()).await), Some(first.id));
        assert_eq!(id_of(get("ABCD4567".to_owned()).await), Some(second.id));
        assert_eq!(id_of(get("0193".to_owned()).await), Some(other.id));
        let dashed = other.id.to_string()[..15].to_owned();
        assert_eq!(id_of(get(dashed).await), Some(other.id));
        // Names: the newest of that name.
        assert_eq!(
            id_of(get("hello-run-x7k2p".to_owned()).await),
            Some(second.id)
        );
        assert_eq!(id_of(get("other".to_owned()).await), Some(other.id));
        // Nothing.
        assert_eq!(id_of(get("nope".to_owned()).await), None);
        assert_eq!(
            id_of(get("019".to_owned()).await),
            None,
            "too short for a prefix"
        );
        assert_eq!(id_of(get("ffff".to_owned()).await), None);
        assert_eq!(id_of(get(new_id().to_string()).await), None);
        assert_eq!(id_of(get(String::new()).await), None);

        // An ambiguous prefix.
        let error = get("abcd".to_owned()).await.unwrap_err();
        match &error {
            StoreError::AmbiguousId {
                prefix,
                matches,
                more,
            } => {
                assert_eq!(prefix, "abcd");
                assert_eq!(matches, &[first.id, second.id]);
                assert!(!more);
            }
            other => panic!("not AmbiguousId: {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains("\"abcd\" is ambiguous"), "{message}");
        assert!(message.contains(&first.id.to_string()), "{message}");
        assert!(message.contains(&second.id.to_string()), "{message}");

        // A name that looks like a prefix is found as a name first.
        let hexy = run("abcd", at(20, 0));
        store.save_run(&hexy).await.unwrap();
        assert_eq!(id_of(get("abcd".to_owned()).await), Some(hexy.id));

        // More than five matches.
        for i in 0..6 {
            let many = RunRecord {
                id: id_starting_with(0xeeee_0000 + i),
                ..run("many", at(30, 0))
            };
            store.save_run(&many).await.unwrap();
        }
        match get("eeee".to_owned()).await.unwrap_err() {
            StoreError::AmbiguousId { matches, more, .. } => {
                assert_eq!(matches.len(), 5);
                assert!(more);
            }
            other => panic!("not AmbiguousId: {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn task_runs_and_steps_come_in_order() {
    each_backend(|db| async move {
        let store = db.open().await;
        let parent = run("ordered", at(0, 0));
        let unrelated = run("unrelated", at(0, 0));
        store.save_run(&parent).await.unwrap();
        store.save_run(&unrelated).await.unwrap();

        // Expected order: queued_at, then name, then attempt.
        let expected = vec![
            task_run(parent.id, "ordered-fetch", 0, at(1, 0)),
            task_run(parent.id, "ordered-build", 0, at(2, 0)),
            task_run(parent.id, "ordered-build", 1, at(2, 0)),
            task_run(parent.id, "ordered-build", 10, at(2, 0)),
            task_run(parent.id, "ordered-lint", 0, at(2, 0)),
            task_run(parent.id, "ordered-finally", 0, at(3, 0)),
        ];
        for i in [5, 3, 0, 4, 1, 2] {
            store.save_task_run(&expected[i]).await.unwrap();
        }
        store
            .save_task_run(&task_run(unrelated.id, "unrelated-a", 0, at(0, 0)))
            .await
            .unwrap();
        assert_eq!(store.task_runs(parent.id).await.unwrap(), expected);
        assert_eq!(store.task_runs(new_id()).await.unwrap(), vec![]);

        let build = &expected[1];
        let steps: Vec<StepRecord> = (0..12)
            .map(|index| step(build.id, index, Status::Succeeded))
            .collect();
        for record in steps.iter().rev() {
            store.save_step(record).await.unwrap();
        }
        store
            .save_step(&step(expected[0].id, 0, Status::Running))
            .await
            .unwrap();
        assert_eq!(store.steps(build.id).await.unwrap(), steps);
    })
    .await;
}

#[tokio::test]
async fn mark_orphans_fails_the_runs_of_dead_engines() {
    each_backend(|db| async move {
        let store = db.open().await;
        let dead = "dead-host:1:1";
        let alive = "live-host:2:2";
        let with = |name: &str, status: Status, owner: Option<&str>| RunRecord {
            status,
            reason: status.to_string(),
            owner: owner.map(str::to_owned),
            started_at: Some(at(1, 0)),
            ..run(name, at(0, 0))
        };
        let running_dead = with("running-dead", Status::Running, Some(dead));
        let queued_dead = with("queued-dead", Status::Queued, Some(dead));
        let running_alive = with("running-alive", Status::Running, Some(alive));
        let finished_dead = with("finished-dead", Status::Succeeded, Some(dead));
        let failed_dead = with("failed-dead", Status::Failed, Some(dead));
        let unowned = with("unowned", Status::Running, None);
        let untouched = [&running_alive, &finished_dead, &failed_dead, &unowned];
        for record in [&running_dead, &queued_dead].into_iter().chain(untouched) {
            store.save_run(record).await.unwrap();
        }

        let with_status = |mut record: TaskRunRecord, status: Status| {
            record.status = status;
            record.reason = status.to_string();
            record
        };
        let running_task = with_status(
            task_run(running_dead.id, "t-run", 0, at(1, 0)),
            Status::Running,
        );
        let queued_task = with_status(
            task_run(running_dead.id, "t-queue", 0, at(2, 0)),
            Status::Queued,
        );
        let done_task = with_status(
            task_run(running_dead.id, "t-done", 0, at(0, 5)),
            Status::Succeeded,
        );
        let alive_task = with_status(
            task_run(running_alive.id, "t-alive", 0, at(1, 0)),
            Status::Running,
        );
        for record in [&running_task, &queued_task, &done_task, &alive_task] {
            store.save_task_run(record).await.unwrap();
        }
        let done_step = StepRecord {
            finished_at: Some(at(1, 5)),
            ..step(running_task.id, 0, Status::Succeeded)
        };
        let running_step = step(running_task.id, 1, Status::Running);
        let queued_step = step(running_task.id, 2, Status::Queued);
        let alive_step = step(alive_task.id, 0, Status::Running);
        for record in [&done_step, &running_step, &queued_step, &alive_step] {
            store.save_step(record).await.unwrap();
        }
        // A deploy task cut off mid-way, and one of the live engine's.
        let deploying = |run_id: Uuid| DeploymentRecord {
            id: new_id(),
            service: "acme/shop".to_owned(),
            environment: "production".to_owned(),
            commit: Some("a1".to_owned()),
            status: Status::Running,
            kind: DeploymentKind::Deploy,
            started_at: Some(at(1, 0)),
            finished_at: None,
            run_id: Some(run_id),
            task_run: Some("t-run".to_owned()),
            origin: DeploymentOrigin::Task,
        };
        let (cut_off, alive_deployment) = (deploying(running_dead.id), deploying(running_alive.id));
        for record in [&cut_off, &alive_deployment] {
            store.save_deployment(record).await.unwrap();
        }

        let asked = Mutex::new(Vec::new());
        let before = runnel_engine::store::now();
        let mut failed = store
            .mark_orphans(|owner| {
                asked.lock().unwrap().push(owner.to_owned());
                owner != dead
            })
            .await
            .unwrap();
        failed.sort();
        let mut expected = vec![running_dead.id, queued_dead.id];
        expected.sort();
        assert_eq!(failed, expected);
        let mut asked = asked.into_inner().unwrap();
        asked.sort();
        assert_eq!(asked, [dead, alive], "each owner asked once");

        let message = format!("the engine running it stopped (owner {dead}) before it finished");
        for original in [&running_dead, &queued_dead] {
            let back = store
                .get_run(&original.id.to_string())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(back.status, Status::Failed);
            assert_eq!(back.reason, "EngineRestarted");
            assert_eq!(back.message.as_deref(), Some(message.as_str()));
            assert!(back.finished_at.unwrap() >= before);
            let unchanged = RunRecord {
                status: back.status,
                reason: back.reason.clone(),
                message: back.message.clone(),
                finished_at: back.finished_at,
                ..(*original).clone()
            };
            assert_eq!(back, unchanged, "nothing else changes");
        }
        for original in untouched {
            let back = store
                .get_run(&original.id.to_string())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&back, original);
        }

        let task_runs = store.task_runs(running_dead.id).await.unwrap();
        assert_eq!(task_runs.len(), 3);
        let task = |name: &str| task_runs.iter().find(|t| t.name == name).unwrap().clone();
        assert_eq!(task("t-done"), done_task);
        let failed_task = task("t-run");
        assert_eq!(failed_task.status, Status::Failed);
        assert_eq!(failed_task.reason, "EngineRestarted");
        assert_eq!(failed_task.message.as_deref(), Some(message.as_str()));
        assert!(failed_task.finished_at.unwrap() >= before);
        let skipped_task = task("t-queue");
        assert_eq!(skipped_task.status, Status::Skipped);
        assert_eq!(skipped_task.reason, "EngineRestarted");
        assert_eq!(skipped_task.finished_at, None);
        assert_eq!(
            store.task_runs(running_alive.id).await.unwrap(),
            vec![alive_task.clone()]
        );

        let steps = store.steps(running_task.id).await.unwrap();
        assert_eq!(steps[0], done_step);
        assert_eq!(
            (steps[1].status, steps[1].reason.as_str()),
            (Status::Failed, "EngineRestarted")
        );
        assert!(steps[1].finished_at.unwrap() >= before);
        assert_eq!(
            (
                steps[2].status,
                steps[2].reason.as_str(),
                steps[2].finished_at
            ),
            (Status::Skipped, "EngineRestarted", None)
        );
        assert_eq!(store.steps(alive_task.id).await.unwrap(), vec![alive_step]);
        let back = store.deployment(cut_off.id).await.unwrap().unwrap();
        assert_eq!(back.status, Status::Failed);
        assert!(back.finished_at.unwrap() >= before);
        assert_eq!(
            store.deployment(alive_deployment.id).await.unwrap(),
            Some(alive_deployment)
        );

        // Done once: a second pass finds nothing.
        assert!(
            store
                .mark_orphans(|owner| owner != dead)
                .await
                .unwrap()
                .is_empty()
        );
        // Only the live owner is left to ask about.
        let failed = store
            .mark_orphans(|owner| {
                assert_eq!(owner, alive);
                true
            })
            .await
            .unwrap();
        assert!(failed.is_empty());
    })
    .await;
}

#[tokio::test]
async fn stores_opened_together_share_the_database() {
    each_backend(|db| async move {
        // Both apply the migrations at the same time on a database that has none yet.
        let (one, two) = tokio::join!(Store::open(&db.url), Store::open(&db.url));
        let (one, two) = (one.unwrap(), two.unwrap());

        let first = run("from-one", at(0, 0));
        one.save_run(&first).await.unwrap();
        assert_eq!(two.get_run("from-one").await.unwrap(), Some(first.clone()));

        // Writes from both at once all land.
        let writes = |store: Store, prefix: &'static str| async move {
            for i in 0..25 {
                store
                    .save_run(&run(&format!("{prefix}-{i}"), at(i, 0)))
                    .await
                    .unwrap();
            }
        };
        tokio::join!(writes(one.clone(), "one"), writes(two.clone(), "two"));
        let all = one
            .list_runs(&RunFilter {
                limit: 1000,
                ..RunFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 51);

        // And a third opening later finds the schema in place.
        let three = db.open().await;
        assert_eq!(
            three.get_run("two-24").await.unwrap().unwrap().name,
            "two-24"
        );
        one.close().await;
        two.close().await;
        three.close().await;
    })
    .await;
}

#[tokio::test]
async fn open_reports_what_it_cannot_open() {
    let error = Store::open("mysql://user:secret@db/runs")
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("cannot open the run database at"),
        "{message}"
    );
    assert!(message.contains("unsupported URL"), "{message}");
    assert!(!message.contains("secret"), "{message}");
    assert!(Store::open("sqlite://").await.is_err());
    assert!(Store::open("runs.db").await.is_err());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let error = Store::open_sqlite(&file.join("runs.db")).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("cannot create the directory"),
        "{message}"
    );

    let not_sqlite = dir.path().join("not-sqlite.db");
    std::fs::write(
        &not_sqlite,
        "this is not a database, just text long enough for a header",
    )
    .unwrap();
    let error = Store::open_sqlite(&not_sqlite).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&not_sqlite.display().to_string()),
        "{message}"
    );

    let store = Store::open(&format!("sqlite:{}", dir.path().join("short.db").display()))
        .await
        .unwrap();
    assert_eq!(store.backend(), "sqlite");
    assert!(dir.path().join("short.db").exists());
}

#[test]
fn this_process_is_alive() {
    let owner = owner_of_this_process();
    let parts: Vec<&str> = owner.rsplitn(3, ':').collect();
    assert_eq!(parts.len(), 3, "{owner}");
    assert_eq!(parts[1], std::process::id().to_string());
    assert!(parts[0].parse::<u64>().unwrap() > 0, "{owner}");
    assert!(owner_is_alive(&owner));
}

#[test]
fn a_finished_process_is_dead() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let (host_and_pid, start) = owner_of_this_process()
        .rsplit_once(':')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .unwrap();
    let host = host_and_pid.rsplit_once(':').unwrap().0;
    assert!(!owner_is_alive(&format!("{host}:{pid}:{start}")));

    // This process's pid with another start time: a later process that got the pid.
    let later: u64 = start.parse::<u64>().unwrap() + 1;
    assert!(!owner_is_alive(&format!("{host_and_pid}:{later}")));
    // Another host: nothing can be told, so it is taken as alive.
    assert!(owner_is_alive(&format!("not-{host}:{pid}:{start}")));
}

#[test]
fn the_postgres_url_of_a_case() {
    assert_eq!(
        with_database("postgres://postgres@localhost/postgres?host=/tmp/x", "t1"),
        "postgres://postgres@localhost/t1?host=/tmp/x"
    );
    assert_eq!(
        with_database("postgresql://u:p@h:5/db", "t2"),
        "postgresql://u:p@h:5/t2"
    );
    assert_eq!(with_database("postgres://h", "t3"), "postgres://h/t3");
}

fn delivery(delivery_id: &str, content_key: &str) -> DeliveryRecord {
    DeliveryRecord {
        id: new_id(),
        forge: "github".to_owned(),
        delivery_id: Some(delivery_id.to_owned()),
        event: "push".to_owned(),
        repo: Some("acme/shop".to_owned()),
        git_ref: Some("refs/heads/main".to_owned()),
        sha: Some("a".repeat(40)),
        content_key: Some(content_key.to_owned()),
        received_at: at(0, 0),
        outcome: Outcome::Queued,
        status_code: 202,
        reason: None,
        run_id: None,
    }
}

fn queued(run: &RunRecord) -> QueuedRun {
    QueuedRun {
        run: run.clone(),
        repo: Some("acme/shop".to_owned()),
        branch: Some("main".to_owned()),
        request: json!({"pipeline": ".tekton/", "sha": "a".repeat(40)}),
    }
}

#[tokio::test]
async fn deliveries_queue_one_run_per_delivery_id_and_per_change() {
    each_backend(|db| async move {
        let store = db.open().await;
        let first = run("push-1", at(0, 0));
        let d1 = DeliveryRecord {
            run_id: Some(first.id),
            ..delivery("d-1", "acme/shop push main aaa")
        };
        assert_eq!(
            store
                .enqueue(&first, &queued(&first), Some(&d1))
                .await
                .unwrap(),
            Enqueued::Queued
        );

        // The same delivery id again, and the same change under a new id: no run.
        for (id, key) in [("d-1", "other key"), ("d-2", "acme/shop push main aaa")] {
            let again = run("push-again", at(1, 0));
            let d = DeliveryRecord {
                run_id: Some(again.id),
                ..delivery(id, key)
            };
            assert_eq!(
                store
                    .enqueue(&again, &queued(&again), Some(&d))
                    .await
                    .unwrap(),
                Enqueued::Duplicate(Some(first.id)),
                "{} {id}",
                db.backend
            );
            assert_eq!(store.get_run(&again.id.to_string()).await.unwrap(), None);
        }
        // Another forge may reuse a delivery id; another change is another run.
        let other = run("push-2", at(2, 0));
        let d3 = DeliveryRecord {
            forge: "gitlab".to_owned(),
            run_id: Some(other.id),
            ..delivery("d-1", "acme/shop push main bbb")
        };
        assert_eq!(
            store
                .enqueue(&other, &queued(&other), Some(&d3))
                .await
                .unwrap(),
            Enqueued::Queued
        );
        // An ignored delivery is recorded too.
        let ping = DeliveryRecord {
            event: "ping".to_owned(),
            outcome: Outcome::Ignored,
            status_code: 200,
            reason: Some("ping".to_owned()),
            content_key: None,
            ..delivery("d-3", "")
        };
        store.save_delivery(&ping).await.unwrap();

        let listed = store.list_deliveries(10, 0).await.unwrap();
        let outcomes: Vec<(&str, Outcome)> = listed
            .iter()
            .map(|d| (d.delivery_id.as_deref().unwrap(), d.outcome))
            .collect();
        assert_eq!(listed.len(), 5, "{}: {outcomes:?}", db.backend);
        assert_eq!(
            outcomes
                .iter()
                .filter(|(_, o)| *o == Outcome::Duplicate)
                .count(),
            2
        );
        let dups: Vec<_> = listed
            .iter()
            .filter(|d| d.outcome == Outcome::Duplicate)
            .collect();
        assert!(dups.iter().all(|d| d.run_id == Some(first.id)));
        assert!(
            dups.iter()
                .any(|d| d.reason.as_deref().unwrap().contains("d-1"))
        );
        assert!(listed.contains(&ping));

        // The queue: oldest first, with requests; claimed once; cancelled while queued.
        let q = store.queued_runs().await.unwrap();
        assert_eq!(
            q.iter().map(|q| q.run.id).collect::<Vec<_>>(),
            vec![first.id, other.id]
        );
        assert_eq!(q[0], queued(&first));
        assert_eq!(
            store.run_request(first.id).await.unwrap(),
            Some(queued(&first).request)
        );
        assert!(store.claim_run(first.id, "host:1:2").await.unwrap());
        assert!(!store.claim_run(first.id, "host:1:2").await.unwrap());
        let claimed = store.get_run(&first.id.to_string()).await.unwrap().unwrap();
        assert_eq!(claimed.status, Status::Running);
        assert_eq!(claimed.owner.as_deref(), Some("host:1:2"));
        assert!(store.cancel_queued(other.id, "superseded").await.unwrap());
        assert!(!store.cancel_queued(first.id, "too late").await.unwrap());
        let cancelled = store.get_run(&other.id.to_string()).await.unwrap().unwrap();
        assert_eq!(cancelled.status, Status::Cancelled);
        assert_eq!(cancelled.message.as_deref(), Some("superseded"));
        assert!(store.queued_runs().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn tokens_are_found_by_hash_and_revoked() {
    each_backend(|db| async move {
        let store = db.open().await;
        let ci = store.create_token("ci", "hash-1", false).await.unwrap();
        let viewer = store.create_token("viewer", "hash-2", true).await.unwrap();
        assert_eq!(store.find_token("hash-1").await.unwrap(), Some(ci.clone()));
        assert!(store.find_token("hash-2").await.unwrap().unwrap().read_only);
        assert_eq!(store.find_token("hash-3").await.unwrap(), None);
        // A hash is unique.
        assert!(store.create_token("again", "hash-1", true).await.is_err());
        assert_eq!(store.list_tokens().await.unwrap(), vec![ci.clone(), viewer]);
        assert!(store.revoke_token(ci.id).await.unwrap());
        assert!(!store.revoke_token(ci.id).await.unwrap());
        assert_eq!(store.find_token("hash-1").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_batch_queues_each_run_or_finds_it_a_duplicate_even_within_the_batch() {
    each_backend(|db| async move {
        let store = db.open().await;
        let item = |name: &str, delivery_id: &str, key: &str| {
            let r = run(name, at(0, 0));
            Enqueue {
                queued: queued(&r),
                delivery: Some(DeliveryRecord {
                    run_id: Some(r.id),
                    ..delivery(delivery_id, key)
                }),
                run: r,
            }
        };
        let items = vec![
            item("one", "b-1", "key one"),
            item("again", "b-1", "key again"),
            item("two", "b-2", "key two"),
            item("same change", "b-3", "key two"),
        ];
        let done = store.enqueue_all(&items).await.unwrap();
        assert_eq!(
            done,
            vec![
                Enqueued::Queued,
                Enqueued::Duplicate(Some(items[0].run.id)),
                Enqueued::Queued,
                Enqueued::Duplicate(Some(items[2].run.id)),
            ],
            "{}",
            db.backend
        );
        let queued_ids: Vec<_> = store
            .queued_runs()
            .await
            .unwrap()
            .into_iter()
            .map(|q| q.run.id)
            .collect();
        assert_eq!(queued_ids, vec![items[0].run.id, items[2].run.id]);
        let deliveries = store.list_deliveries(10, 0).await.unwrap();
        assert_eq!(deliveries.len(), 4);
        assert_eq!(
            deliveries
                .iter()
                .filter(|d| d.outcome == Outcome::Duplicate)
                .count(),
            2
        );
    })
    .await;
}
