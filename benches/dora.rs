//! The DORA metrics query at scale (issue 7): a generated history of 100 services × 1,000
//! deployments (100,000) with 10 commits written per deployment (1,000,000), failures,
//! rollbacks, hotfixes, reverts, merge commits and incidents, loaded into SQLite (a temporary
//! file) and into PostgreSQL (a fresh database, when `RUNNEL_TEST_DATABASE_URL` names a
//! server; dropped afterwards): the measured service through the store's API
//! (`save_deployment`, `record_shipped`, `save_incident`), the others with multi-row INSERTs
//! of the same rows (minutes faster; one of them is read back through the store to check
//! it), or all through the API with `--load api`. Then `dora::report` for
//! the busiest service over the last 90 days, by day and by week, and for every service,
//! each against baselines measured in the same run on the same data: one deployment read by
//! id (a single indexed row), and the window's deployment rows read with
//! `Store::list_deployments`.
//!
//! `cargo bench --bench dora [-- sqlite|postgres] [--iterations N] [--services N] [--keep]
//! [--load api]`:
//! timed iterations per case (default 50, after 5 warm-up ones; a fifth of that for the
//! all-services cases), how many services to generate (default 100), and `--keep` to leave
//! the databases behind for `EXPLAIN` (their location is printed). PostgreSQL is `VACUUM
//! ANALYZE`d after the load (as autovacuum would have done on a real history); SQLite is
//! left as runnel leaves it (no `ANALYZE`). Timings are printed, never asserted.

use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, SecondsFormat, TimeZone, Utc};
use futures::{StreamExt, TryStreamExt};
use runnel_engine::dora::{self, Bucket, DoraReport};
use runnel_engine::store::{
    CommitRecord, DeploymentKind, DeploymentOrigin, DeploymentRecord, DoraQuery, IncidentRecord,
    Status, Store, StoreError,
};
use sqlx::{AssertSqlSafe, Connection};
use uuid::{Builder, Uuid};

const DATABASE_URL_VARIABLE: &str = "RUNNEL_TEST_DATABASE_URL";
const DEPLOYMENTS_PER_SERVICE: usize = 1_000;
/// Commits written between two deployments; each successful deployment that is not a
/// rollback ships those not shipped yet.
const COMMITS_PER_DEPLOYMENT: usize = 10;
const ENVIRONMENT: &str = "production";
const WINDOW_DAYS: i64 = 90;
const SEED: u64 = 0x0d0a_2026_5eed;
const TARGET_MS: f64 = 100.0;
const WARM_UP: usize = 5;

/// The end of the history and of the measured window: "now" for the bench (a Monday).
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap()
}

/// The service the single-service cases query: the busiest (its 1,000 deployments span one
/// year, others' two or three).
fn service_name(index: usize) -> String {
    format!("svc-{index:03}")
}

// ---------------------------------------------------------------------------------------
// The history

/// splitmix64: small, deterministic, good enough to scatter test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A duration uniform in `[low, high)` seconds.
    fn seconds(&mut self, low: i64, high: i64) -> Duration {
        Duration::seconds(low + self.below((high - low) as u64) as i64)
    }

    /// A uuid v7 of time `at`, its other bits from this generator.
    fn id(&mut self, at: DateTime<Utc>) -> Uuid {
        let mut bytes = [0; 10];
        bytes[..8].copy_from_slice(&self.next().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next().to_le_bytes()[..2]);
        Builder::from_unix_timestamp_millis(at.timestamp_millis() as u64, &bytes).into_uuid()
    }

    fn sha(&mut self) -> String {
        format!(
            "{:016x}{:016x}{:08x}",
            self.next(),
            self.next(),
            self.next() as u32
        )
    }
}

const SUBJECTS: [&str; 8] = [
    "fix: retry the upstream call on timeout",
    "feat: paginate the order list",
    "chore: bump dependencies",
    "refactor: split the billing module",
    "fix: handle an empty cache",
    "feat: export invoices as CSV",
    "docs: describe the deploy flow",
    "test: cover the refund path",
];

fn subject(pr: u64) -> String {
    format!("{} (#{pr})", SUBJECTS[pr as usize % SUBJECTS.len()])
}

/// A commit written before `before`: lead times from 5 minutes to a week, most under a day;
/// one in eight a merge commit, one in three hundred a revert of an earlier change.
fn commit(rng: &mut Rng, before: DateTime<Utc>, pr: &mut u64) -> CommitRecord {
    let lead = 300 + (rng.unit().powi(3) * 7.0 * 86_400.0) as i64;
    *pr += 1;
    let (parents, subject) = if rng.chance(0.125) {
        (2, format!("Merge pull request #{pr} from acme/topic-{pr}"))
    } else if *pr > 100 && rng.chance(0.003) {
        (
            1,
            format!("Revert \"{}\"", subject(*pr - 1 - rng.below(50))),
        )
    } else {
        (1, subject(*pr))
    };
    CommitRecord {
        sha: rng.sha(),
        authored_at: before - Duration::seconds(lead),
        parents,
        subject,
    }
}

/// A deployment and the commits it ships (none unless it succeeded and is not a rollback).
struct Deployment {
    record: DeploymentRecord,
    ships: Vec<CommitRecord>,
}

/// One service's history, oldest first.
struct History {
    deployments: Vec<Deployment>,
    incidents: Vec<IncidentRecord>,
}

impl History {
    fn commits(&self) -> usize {
        self.deployments.iter().map(|d| d.ships.len()).sum()
    }
}

/// The history of service `index`: 1,000 deployments to production on weekdays between
/// 08:00 and 18:00 UTC over one, two or three years up to [`now`]; 6 % failed, 1 %
/// cancelled; 2 % declared rollbacks and 1 % undeclared ones (an older commit redeployed),
/// 3 % hotfixes; about 2 % of the successful ones followed by an incident (linked to the
/// deployment, to its commit, or to neither; most resolved, many fixed by a later
/// deployment); the latest deployment of every tenth service still running.
fn history(index: usize) -> History {
    let mut rng = Rng(SEED ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let service = service_name(index);
    let span_days = 365 * (1 + index as u64 % 3);
    let start = now() - Duration::days(span_days as i64);
    let mut times: Vec<DateTime<Utc>> = (0..DEPLOYMENTS_PER_SERVICE)
        .map(|_| {
            loop {
                let day = start + Duration::days(rng.below(span_days) as i64);
                if day.weekday().number_from_monday() <= 5 {
                    break day + rng.seconds(8 * 3600, 18 * 3600);
                }
            }
        })
        .collect();
    times.sort();

    let mut deployments: Vec<Deployment> = Vec::with_capacity(times.len());
    // The commits of the successful deployments, in order (what a rollback goes back to).
    let mut deployed: Vec<String> = Vec::new();
    let mut pending: Vec<CommitRecord> = Vec::new();
    let mut pr = 0;
    for (j, finished) in times.iter().copied().enumerate() {
        let started = finished - rng.seconds(120, 900);
        for _ in 0..COMMITS_PER_DEPLOYMENT {
            pending.push(commit(&mut rng, started, &mut pr));
        }
        let running = index.is_multiple_of(10) && j + 1 == times.len();
        let outcome = rng.unit();
        let status = if running {
            Status::Running
        } else if outcome < 0.06 {
            Status::Failed
        } else if outcome < 0.07 {
            Status::Cancelled
        } else {
            Status::Succeeded
        };
        let roll = rng.unit();
        let can_roll_back = deployed.len() >= 5;
        let (kind, rollback) = match roll {
            _ if can_roll_back && roll < 0.02 => (DeploymentKind::Rollback, true),
            _ if can_roll_back && roll < 0.03 => (DeploymentKind::Deploy, true),
            _ if roll < 0.06 => (DeploymentKind::Hotfix, false),
            _ => (DeploymentKind::Deploy, false),
        };
        let commit = if rollback {
            deployed[deployed.len() - 2 - rng.below(3) as usize].clone()
        } else {
            pending.last().expect("commits were written").sha.clone()
        };
        let ships = if status == Status::Succeeded && !rollback {
            std::mem::take(&mut pending)
        } else {
            Vec::new()
        };
        if status == Status::Succeeded {
            deployed.push(commit.clone());
        }
        let by_task = rng.chance(0.9);
        deployments.push(Deployment {
            record: DeploymentRecord {
                id: rng.id(started),
                service: service.clone(),
                environment: ENVIRONMENT.to_owned(),
                commit: Some(commit),
                status,
                kind,
                started_at: Some(started),
                finished_at: (!running).then_some(finished),
                run_id: None,
                task_run: by_task.then(|| format!("deploy-{index}-{j}")),
                origin: if by_task {
                    DeploymentOrigin::Task
                } else {
                    DeploymentOrigin::Api
                },
            },
            ships,
        });
    }

    let mut incidents = Vec::new();
    for (j, d) in deployments.iter().enumerate() {
        let d = &d.record;
        let Some(finished) = d.finished_at else {
            continue;
        };
        if d.status != Status::Succeeded || !rng.chance(0.02) {
            continue;
        }
        let opened = finished + rng.seconds(600, 6 * 3600);
        let resolved = Some(opened + rng.seconds(1800, 2 * 86_400)).filter(|r| *r < now());
        if opened >= now() {
            continue;
        }
        let link = rng.unit();
        let (deployment_id, commit) = match link {
            _ if link < 0.75 => (Some(d.id), None),
            _ if link < 0.95 => (None, d.commit.clone()),
            _ => (None, None),
        };
        let fix = deployments[j + 1..]
            .iter()
            .map(|n| &n.record)
            .find(|n| n.status == Status::Succeeded && n.finished_at.is_some_and(|f| f > opened));
        let fixed_by = fix
            .filter(|n| resolved.is_some_and(|r| n.finished_at.is_some_and(|f| f <= r)))
            .filter(|_| rng.chance(0.7))
            .map(|n| n.id);
        incidents.push(IncidentRecord {
            id: rng.id(opened),
            service: service.clone(),
            environment: ENVIRONMENT.to_owned(),
            title: format!("elevated error rate on {service}"),
            opened_at: opened,
            resolved_at: resolved,
            deployment_id,
            commit,
            fixed_by,
        });
    }
    History {
        deployments,
        incidents,
    }
}

// ---------------------------------------------------------------------------------------
// Loading

/// Saves one service's history the way runnel records it: each deployment, the commits each
/// successful one shipped, then the incidents.
async fn load_service(store: &Store, history: &History) -> Result<(), StoreError> {
    for d in &history.deployments {
        store.save_deployment(&d.record).await?;
        if !d.ships.is_empty() {
            store.record_shipped(&d.record, &d.ships).await?;
        }
    }
    for incident in &history.incidents {
        store.save_incident(incident).await?;
    }
    Ok(())
}

/// A second pool on the store's database, for the bulk load and the row counts.
enum Bulk {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// The SQLite text of a time, as `store::codec::Ts` writes it.
fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn id_text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

/// Multi-row INSERTs of the rows the store's API would write for `$history`, on `$tx` of
/// database `$db`, each id bound as text followed by `$uuid` and each time as text followed
/// by `$time` (casts on PostgreSQL, nothing on SQLite, which stores that text).
macro_rules! insert_history {
    ($db:ty, $tx:expr, $history:expr, $uuid:expr, $time:expr) => {{
        for chunk in $history.deployments.chunks(500) {
            let mut q = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO deployments (id, service, environment, commit_sha, status, kind, \
                 started_at, finished_at, run_id, task_run, origin) ",
            );
            q.push_values(chunk, |mut b, d| {
                let r = &d.record;
                b.push_bind(id_text(r.id))
                    .push_unseparated($uuid)
                    .push_bind(r.service.clone())
                    .push_bind(r.environment.clone())
                    .push_bind(r.commit.clone())
                    .push_bind(r.status.as_str())
                    .push_bind(r.kind.as_str())
                    .push_bind(r.started_at.map(time_text))
                    .push_unseparated($time)
                    .push_bind(r.finished_at.map(time_text))
                    .push_unseparated($time)
                    .push_bind(r.run_id.map(id_text))
                    .push_unseparated($uuid)
                    .push_bind(r.task_run.clone())
                    .push_bind(r.origin.as_str());
            });
            q.build().execute(&mut *$tx).await?;
        }
        let shipped: Vec<(&DeploymentRecord, &CommitRecord)> = $history
            .deployments
            .iter()
            .flat_map(|d| d.ships.iter().map(move |c| (&d.record, c)))
            .collect();
        for chunk in shipped.chunks(1_000) {
            let mut q = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO commits (service, sha, authored_at, parents, subject) ",
            );
            q.push_values(chunk, |mut b, (d, c)| {
                b.push_bind(d.service.clone())
                    .push_bind(c.sha.clone())
                    .push_bind(time_text(c.authored_at))
                    .push_unseparated($time)
                    .push_bind(i64::from(c.parents))
                    .push_bind(c.subject.clone());
            });
            q.build().execute(&mut *$tx).await?;
            let mut q = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO shipped_commits (service, environment, sha, deployment_id, \
                 shipped_at) ",
            );
            q.push_values(chunk, |mut b, (d, c)| {
                b.push_bind(d.service.clone())
                    .push_bind(d.environment.clone())
                    .push_bind(c.sha.clone())
                    .push_bind(id_text(d.id))
                    .push_unseparated($uuid)
                    .push_bind(d.finished_at.map(time_text))
                    .push_unseparated($time);
            });
            q.build().execute(&mut *$tx).await?;
        }
        if !$history.incidents.is_empty() {
            let mut q = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO incidents (id, service, environment, title, opened_at, \
                 resolved_at, deployment_id, commit_sha, fixed_by) ",
            );
            q.push_values(&$history.incidents, |mut b, i| {
                b.push_bind(id_text(i.id))
                    .push_unseparated($uuid)
                    .push_bind(i.service.clone())
                    .push_bind(i.environment.clone())
                    .push_bind(i.title.clone())
                    .push_bind(time_text(i.opened_at))
                    .push_unseparated($time)
                    .push_bind(i.resolved_at.map(time_text))
                    .push_unseparated($time)
                    .push_bind(i.deployment_id.map(id_text))
                    .push_unseparated($uuid)
                    .push_bind(i.commit.clone())
                    .push_bind(i.fixed_by.map(id_text))
                    .push_unseparated($uuid);
            });
            q.build().execute(&mut *$tx).await?;
        }
    }};
}

impl Bulk {
    /// Writes one service's history in one transaction. Each commit is shipped once by the
    /// generator, so plain INSERTs leave what `record_shipped`'s upserts would.
    async fn insert(&self, history: &History) -> Result<(), sqlx::Error> {
        match self {
            Bulk::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                insert_history!(sqlx::Sqlite, tx, history, "", "");
                tx.commit().await
            }
            Bulk::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                insert_history!(sqlx::Postgres, tx, history, "::uuid", "::timestamptz");
                tx.commit().await
            }
        }
    }

    /// The rows in the four tables.
    async fn counts(&self) -> (i64, i64, i64, i64) {
        const COUNTS: &str = "SELECT (SELECT count(*) FROM deployments), \
             (SELECT count(*) FROM commits), (SELECT count(*) FROM shipped_commits), \
             (SELECT count(*) FROM incidents)";
        match self {
            Bulk::Sqlite(pool) => sqlx::query_as(COUNTS).fetch_one(pool).await,
            Bulk::Postgres(pool) => sqlx::query_as(COUNTS).fetch_one(pool).await,
        }
        .expect("the tables can be counted")
    }

    async fn close(&self) {
        match self {
            Bulk::Sqlite(pool) => pool.close().await,
            Bulk::Postgres(pool) => pool.close().await,
        }
    }
}

/// How the history gets into the database.
#[derive(Clone, Copy, PartialEq)]
enum Load {
    /// The measured service through the store's API, the others with [`Bulk::insert`].
    Bulk,
    /// Every service through the store's API (slow: minutes).
    Api,
}

/// What was loaded, as the generator counted it.
#[derive(Default)]
struct Loaded {
    deployments: usize,
    commits: usize,
    incidents: usize,
}

/// Loads `services` histories, `concurrency` services at a time.
async fn load(
    store: &Store,
    bulk: &Bulk,
    how: Load,
    services: usize,
    concurrency: usize,
) -> Loaded {
    let start = Instant::now();
    let loaded = futures::stream::iter(0..services)
        .map(|index| async move {
            let history = history(index);
            if index == 0 || how == Load::Api {
                load_service(store, &history)
                    .await
                    .map_err(|e| e.to_string())?;
            } else {
                bulk.insert(&history).await.map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(history)
        })
        .buffer_unordered(concurrency)
        .enumerate()
        .map(|(done, history)| {
            if (done + 1).is_multiple_of(10) {
                eprintln!(
                    "  {} services loaded in {:.0} s",
                    done + 1,
                    start.elapsed().as_secs_f64()
                );
            }
            history
        })
        .try_fold(Loaded::default(), |mut loaded, history| async move {
            loaded.deployments += history.deployments.len();
            loaded.commits += history.commits();
            loaded.incidents += history.incidents.len();
            Ok(loaded)
        })
        .await;
    let loaded = loaded.unwrap_or_else(|error| panic!("loading the history: {error}"));
    if services > 1 && how == Load::Bulk {
        check_bulk(store).await;
    }
    loaded
}

/// Reads a bulk-loaded deployment and incident back through the store: they must be what
/// was generated (the bulk load wrote what the store's API would have).
async fn check_bulk(store: &Store) {
    let history = history(1);
    for d in [history.deployments.first(), history.deployments.last()]
        .into_iter()
        .flatten()
    {
        let read = store.deployment(d.record.id).await.unwrap();
        assert_eq!(
            read.as_ref(),
            Some(&d.record),
            "bulk-loaded deployment read back"
        );
    }
    if let Some(incident) = history.incidents.first() {
        let read = store.incident(incident.id).await.unwrap();
        assert_eq!(
            read.as_ref(),
            Some(incident),
            "bulk-loaded incident read back"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Measuring

/// Milliseconds: the median and the 95th percentile (nearest rank) of the timed iterations.
#[derive(Clone, Copy)]
struct Timing {
    median: f64,
    p95: f64,
}

async fn measure<T, F, Fut>(iterations: usize, mut f: F) -> Timing
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    for _ in 0..WARM_UP.min(iterations) {
        black_box(f().await);
    }
    let mut samples: Vec<f64> = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        black_box(f().await);
        samples.push(start.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    let rank =
        |q: f64| samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
    Timing {
        median: rank(0.5),
        p95: rank(0.95),
    }
}

fn window(service: Option<String>) -> DoraQuery {
    DoraQuery {
        environment: service.as_ref().map(|_| ENVIRONMENT.to_owned()),
        service,
        from: now() - Duration::days(WINDOW_DAYS),
        to: now(),
    }
}

/// Prints one row: the timing and its ratios to the baselines.
fn row(name: &str, t: Timing, lookup: Timing, list: Timing) {
    println!(
        "  {name:<52} {:>9.2} {:>9.2} {:>9.1}× {:>8.2}×",
        t.median,
        t.p95,
        t.median / lookup.median,
        t.median / list.median
    );
}

fn summary(r: &DoraReport) -> String {
    let hours = |s: Option<f64>| s.map_or("-".to_owned(), |s| format!("{:.1} h", s / 3600.0));
    let percent = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{:.1} %", r * 100.0));
    format!(
        "{} successful deployments ({:.2}/day), change failure rate {} ({} of {}), \
         lead time median {} over {} commits, recovery median {} ({} of {} recovered), \
         rework {}",
        r.deployment_frequency.deployments,
        r.deployment_frequency.per_day,
        percent(r.change_failure_rate.rate),
        r.change_failure_rate.failed,
        r.change_failure_rate.deployments,
        hours(r.lead_time.median_seconds),
        r.lead_time.changes,
        hours(r.recovery_time.median_seconds),
        r.recovery_time.recovered,
        r.recovery_time.failed,
        percent(r.rework_rate.rate),
    )
}

/// The measured cases on one loaded store; returns the single-service report by day, to
/// compare the backends.
async fn cases(store: &Store, iterations: usize, services: usize) -> DoraReport {
    let one = window(Some(service_name(0)));
    let all = window(None);
    let listed = store.list_deployments(&one, 10_000).await.unwrap();
    let probe = listed
        .iter()
        .find(|d| d.finished_at.is_some())
        .expect("the window has deployments")
        .id;
    let day = dora::report(store, one.clone(), Bucket::Day).await.unwrap();
    println!(
        "  {}, {WINDOW_DAYS} days: {} deployment rows; {}",
        service_name(0),
        listed.len(),
        summary(&day)
    );

    let lookup = measure(iterations, || async {
        store.deployment(probe).await.unwrap()
    })
    .await;
    let list = measure(iterations, || async {
        store.list_deployments(&one, 10_000).await.unwrap()
    })
    .await;
    let by_day = measure(iterations, || dora::report(store, one.clone(), Bucket::Day)).await;
    let by_week = measure(iterations, || {
        dora::report(store, one.clone(), Bucket::Week)
    })
    .await;
    let history = measure(iterations, || store.dora_history(&one)).await;
    let read = store.dora_history(&one).await.unwrap();
    let compute = measure(iterations, || async {
        dora::compute(&read, one.clone(), Bucket::Day)
    })
    .await;

    let few = iterations.div_ceil(5);
    let list_all = measure(few, || async {
        store.list_deployments(&all, 1_000_000).await.unwrap()
    })
    .await;
    let all_by_week = measure(few, || dora::report(store, all.clone(), Bucket::Week)).await;
    let history_all = measure(few, || store.dora_history(&all)).await;
    let read_all = store.dora_history(&all).await.unwrap();
    let compute_all = measure(few, || async {
        dora::compute(&read_all, all.clone(), Bucket::Week)
    })
    .await;
    let listed_all = store.list_deployments(&all, 1_000_000).await.unwrap().len();

    println!(
        "\n  {:<52} {:>9} {:>9} {:>10} {:>9}",
        "ms", "median", "p95", "÷ lookup", "÷ list"
    );
    row("baseline: one deployment by id", lookup, lookup, list);
    let list_name = format!("baseline: list_deployments, 1 service, {WINDOW_DAYS} days");
    row(&list_name, list, lookup, list);
    let name = |what: &str| format!("dora::report, 1 service, {WINDOW_DAYS} days, {what}");
    row(&name("by day"), by_day, lookup, list);
    row(&name("by week"), by_week, lookup, list);
    row("  of which Store::dora_history", history, lookup, list);
    row("  of which dora::compute (by day)", compute, lookup, list);
    println!(
        "  all {services} services, {WINDOW_DAYS} days ({listed_all} deployment rows; ÷ list \
         is against the all-services list):"
    );
    row(
        "baseline: list_deployments, all services",
        list_all,
        lookup,
        list_all,
    );
    row(
        "dora::report, all services, by week",
        all_by_week,
        lookup,
        list_all,
    );
    row(
        "  of which Store::dora_history",
        history_all,
        lookup,
        list_all,
    );
    row(
        "  of which dora::compute (by week)",
        compute_all,
        lookup,
        list_all,
    );
    let met = |t: Timing| if t.p95 < TARGET_MS { "met" } else { "NOT met" };
    println!(
        "  target: one service, {WINDOW_DAYS} days, < {TARGET_MS} ms: by day p95 {:.2} ms ({}), \
         by week p95 {:.2} ms ({})",
        by_day.p95,
        met(by_day),
        by_week.p95,
        met(by_week)
    );
    day
}

// ---------------------------------------------------------------------------------------
// Backends

struct Options {
    load: Load,
    iterations: usize,
    services: usize,
    keep: bool,
}

fn print_load(backend: &str, how: Load, loaded: &Loaded, secs: f64, rows: (i64, i64, i64, i64)) {
    let how = match how {
        Load::Bulk => "svc-000 through the store API, the others in multi-row INSERTs",
        Load::Api => "all through the store API",
    };
    println!(
        "{backend}: loaded {} deployments, {} commits shipped, {} incidents ({how}) in \
         {secs:.1} s ({:.0} deployments/s, {:.0} commits/s); in the tables: {} deployments, \
         {} commits, {} shipped_commits, {} incidents",
        loaded.deployments,
        loaded.commits,
        loaded.incidents,
        loaded.deployments as f64 / secs,
        loaded.commits as f64 / secs,
        rows.0,
        rows.1,
        rows.2,
        rows.3
    );
}

async fn sqlite(options: &Options) -> DoraReport {
    let dir = std::env::temp_dir().join(format!("runnel-bench-dora-{}", Uuid::now_v7().simple()));
    let path: PathBuf = dir.join("runs.db");
    let store = Store::open_sqlite(&path).await.expect("SQLite store opens");
    println!("\nsqlite: {}", path.display());
    let bulk = Bulk::Sqlite(
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("a second SQLite pool opens"),
    );
    let start = Instant::now();
    // One writer at a time: SQLite has one write lock.
    let loaded = load(&store, &bulk, options.load, options.services, 1).await;
    let secs = start.elapsed().as_secs_f64();
    print_load("sqlite", options.load, &loaded, secs, bulk.counts().await);
    bulk.close().await;
    let report = cases(&store, options.iterations, options.services).await;
    store.close().await;
    if options.keep {
        println!("sqlite: kept {}", path.display());
    } else {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    report
}

async fn postgres(options: &Options) -> Option<DoraReport> {
    let Ok(admin_url) = std::env::var(DATABASE_URL_VARIABLE) else {
        println!("\npostgres: skipped, {DATABASE_URL_VARIABLE} is not set");
        return None;
    };
    let database = format!("runnel_bench_dora_{}", Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to {DATABASE_URL_VARIABLE}: {error}"));
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = with_database(&admin_url, &database);
    println!("\npostgres: database {database}");
    let store = Store::open(&url).await.expect("PostgreSQL store opens");
    let bulk = Bulk::Postgres(
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .expect("a second PostgreSQL pool opens"),
    );
    let start = Instant::now();
    let loaded = load(&store, &bulk, options.load, options.services, 4).await;
    let secs = start.elapsed().as_secs_f64();
    let analyze = Instant::now();
    if let Bulk::Postgres(pool) = &bulk {
        sqlx::raw_sql("VACUUM ANALYZE").execute(pool).await.unwrap();
    }
    let analyze = analyze.elapsed().as_secs_f64();
    print_load("postgres", options.load, &loaded, secs, bulk.counts().await);
    println!("postgres: VACUUM ANALYZE took {analyze:.1} s");
    bulk.close().await;
    let report = cases(&store, options.iterations, options.services).await;
    store.close().await;
    if options.keep {
        println!("postgres: kept database {database}");
    } else {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP DATABASE {database} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
    }
    admin.close().await.unwrap();
    Some(report)
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").expect("a URL") + 3;
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut url = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |flag: &str, default: usize| {
        args.iter()
            .skip_while(|a| *a != flag)
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(default)
    };
    let options = Options {
        load: match args
            .iter()
            .skip_while(|a| *a != "--load")
            .nth(1)
            .map(String::as_str)
        {
            Some("api") => Load::Api,
            _ => Load::Bulk,
        },
        iterations: number("--iterations", 50).max(1),
        services: number("--services", 100).max(1),
        keep: args.iter().any(|a| a == "--keep"),
    };
    let only = args
        .iter()
        .find(|a| ["sqlite", "postgres"].contains(&a.as_str()))
        .cloned();
    println!(
        "{} services × {DEPLOYMENTS_PER_SERVICE} deployments, {COMMITS_PER_DEPLOYMENT} commits \
         written per deployment; window: the {WINDOW_DAYS} days before {}; {} timed iterations \
         after {WARM_UP} warm-up ({} for all services)",
        options.services,
        now().date_naive(),
        options.iterations,
        options.iterations.div_ceil(5)
    );
    let sqlite = match only.as_deref() {
        None | Some("sqlite") => Some(sqlite(&options).await),
        _ => None,
    };
    let postgres = match only.as_deref() {
        None | Some("postgres") => postgres(&options).await,
        _ => None,
    };
    if let (Some(a), Some(b)) = (&sqlite, &postgres) {
        println!(
            "the report of {} is {} on both backends",
            service_name(0),
            if a == b { "the same" } else { "DIFFERENT" }
        );
    }
}
