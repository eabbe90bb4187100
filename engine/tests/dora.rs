//! The DORA metrics (`runnel_engine::dora`) of a fixture history on both store backends
//! (`backends::each_backend`), against values worked out by hand in the comments; and the
//! edge cases: no deployments, one deployment, the same commit twice, a rollback, clock
//! skew, merge and squash commits, commits recorded out of order.

mod backends;

use backends::each_backend;
use chrono::{DateTime, NaiveDateTime, Utc};
use runnel_engine::dora::{Bucket, DoraReport, Tier, report};
use runnel_engine::store::{
    CommitRecord, DeploymentKind, DeploymentOrigin, DeploymentRecord, DoraQuery, IncidentRecord,
    Status, Store, new_id,
};

const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;

/// `"03-02 12:00"` is 2026-03-02T12:00:00Z (a Monday).
fn t(when: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(&format!("2026-{when}"), "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
}

struct History<'a> {
    store: &'a Store,
}

impl History<'_> {
    /// Saves a finished deployment of `service`/`environment` and the commits it shipped.
    async fn deploy(
        &self,
        (service, environment): (&str, &str),
        commit: &str,
        finished: &str,
        status: Status,
        kind: DeploymentKind,
        commits: &[CommitRecord],
    ) -> DeploymentRecord {
        let finished_at = t(finished);
        let deployment = DeploymentRecord {
            id: new_id(),
            service: service.to_owned(),
            environment: environment.to_owned(),
            commit: Some(commit.to_owned()),
            status,
            kind,
            started_at: Some(finished_at - chrono::Duration::minutes(5)),
            finished_at: Some(finished_at),
            run_id: None,
            task_run: None,
            origin: DeploymentOrigin::Api,
        };
        self.store.save_deployment(&deployment).await.unwrap();
        self.store
            .record_shipped(&deployment, commits)
            .await
            .unwrap();
        deployment
    }

    async fn ok(&self, commit: &str, finished: &str, commits: &[CommitRecord]) -> DeploymentRecord {
        self.deploy(
            SHOP,
            commit,
            finished,
            Status::Succeeded,
            DeploymentKind::Deploy,
            commits,
        )
        .await
    }
}

const SHOP: (&str, &str) = ("acme/shop", "production");

fn commit(sha: &str, authored: &str) -> CommitRecord {
    CommitRecord {
        sha: sha.to_owned(),
        authored_at: t(authored),
        parents: 1,
        subject: format!("change {sha}"),
    }
}

fn merge(sha: &str, authored: &str) -> CommitRecord {
    CommitRecord {
        parents: 2,
        subject: format!("Merge pull request #1 from {sha}"),
        ..commit(sha, authored)
    }
}

fn revert(sha: &str, authored: &str, of: &str) -> CommitRecord {
    CommitRecord {
        subject: format!("Revert \"change {of}\""),
        ..commit(sha, authored)
    }
}

fn query(service: Option<&str>, environment: Option<&str>, from: &str, to: &str) -> DoraQuery {
    DoraQuery {
        service: service.map(str::to_owned),
        environment: environment.map(str::to_owned),
        from: t(from),
        to: t(to),
    }
}

/// The fixture: `acme/shop` in production over two weeks, 2026-03-02 (a Monday) to
/// 2026-03-16, plus a deployment before it, one after it, and neighbours in another
/// environment and another service that must not count.
async fn fixture(store: &Store) {
    let h = History { store };
    // Before the window: the first deployment; its commits have no baseline.
    h.ok("a0", "02-20 10:00", &[commit("c0", "02-19 10:00")])
        .await;
    // Week 1.
    // D1 ships c1 (2 h), c2 (24 h) and a merge commit (not a change of its own).
    h.ok(
        "a1",
        "03-02 12:00",
        &[
            commit("c1", "03-02 10:00"),
            commit("c2", "03-01 12:00"),
            merge("m1", "03-02 11:00"),
        ],
    )
    .await;
    // D2 ships c3 (1 h) and c4, written an hour after the deployment (clock skew: dropped).
    h.ok(
        "a2",
        "03-03 09:00",
        &[commit("c3", "03-03 08:00"), commit("c4", "03-03 10:00")],
    )
    .await;
    // D3 deploys a2 again: not a rollback (it is what runs), and c3 stays D2's.
    h.ok("a2", "03-03 15:00", &[commit("c3", "03-03 08:00")])
        .await;
    // D4 fails; D5 deploys the same commit an hour later: recovery 1 h.
    h.deploy(
        SHOP,
        "a3",
        "03-05 10:00",
        Status::Failed,
        DeploymentKind::Deploy,
        &[],
    )
    .await;
    // (Staging got a3 first: another environment, so D5 is no rollback.)
    h.deploy(
        ("acme/shop", "staging"),
        "a3",
        "03-04 10:00",
        Status::Succeeded,
        DeploymentKind::Deploy,
        &[commit("c5", "03-04 11:00")],
    )
    .await;
    // D5 ships c5 (24 h).
    h.ok("a3", "03-05 11:00", &[commit("c5", "03-04 11:00")])
        .await;
    // Week 2.
    // D8 is recorded before D6 although it finished after it: c6 and c7, which it also
    // lists (they were rolled back in between), move to D6 when D6 is recorded.
    let c6 = commit("c6", "03-06 10:00");
    // A squash merge is one ordinary commit.
    let c7 = CommitRecord {
        subject: "Add search (#42)".to_owned(),
        ..commit("c7", "03-09 09:30")
    };
    // D8 ships c8 (2 h).
    h.ok(
        "a5",
        "03-10 10:00",
        &[commit("c8", "03-10 08:00"), c6.clone(), c7.clone()],
    )
    .await;
    // D6 ships c6 (72 h) and c7 (30 min); D7 then deploys a3 again, an older commit: a
    // rollback, so D6 failed, recovered in 4 h.
    h.ok("a4", "03-09 10:00", &[c6, c7]).await;
    h.ok("a3", "03-09 14:00", &[]).await;
    // D9 ships c9 (4 h); an incident names its commit at 12:00 and is resolved at 13:30;
    // D10, a hotfix at 14:00, ships c10 (1 h) and fixed it. D9 failed (once, for both
    // reasons), recovered in 3.5 h (the resolution comes before the hotfix).
    let d9 = h
        .ok("a6", "03-11 10:00", &[commit("c9", "03-11 06:00")])
        .await;
    let d10 = h
        .deploy(
            SHOP,
            "a7",
            "03-11 14:00",
            Status::Succeeded,
            DeploymentKind::Hotfix,
            &[commit("c10", "03-11 13:00")],
        )
        .await;
    store
        .save_incident(&IncidentRecord {
            id: new_id(),
            service: SHOP.0.to_owned(),
            environment: SHOP.1.to_owned(),
            title: "checkout errors".to_owned(),
            opened_at: t("03-11 12:00"),
            resolved_at: Some(t("03-11 13:30")),
            deployment_id: None,
            commit: d9.commit.clone(),
            fixed_by: Some(d10.id),
        })
        .await
        .unwrap();
    // D11 ships c11 (3 h); D12 reverts it a day later (c12, 1 h): D11 failed, 24 h.
    h.ok("a8", "03-12 10:00", &[commit("c11", "03-12 07:00")])
        .await;
    h.ok("a9", "03-13 10:00", &[revert("c12", "03-13 09:00", "c11")])
        .await;
    // After the window: a hotfix on Monday 09:00, so D12 failed too, recovered in 71 h.
    h.deploy(
        SHOP,
        "a10",
        "03-16 09:00",
        Status::Succeeded,
        DeploymentKind::Hotfix,
        &[commit("c13", "03-16 08:00")],
    )
    .await;
    // Another service, whose incident is no concern of the shop.
    let billing = h
        .deploy(
            ("acme/billing", "production"),
            "b1",
            "03-04 10:00",
            Status::Succeeded,
            DeploymentKind::Deploy,
            &[],
        )
        .await;
    store
        .save_incident(&IncidentRecord {
            id: new_id(),
            service: "acme/billing".to_owned(),
            environment: "production".to_owned(),
            title: "invoices late".to_owned(),
            opened_at: t("03-04 12:00"),
            resolved_at: None,
            deployment_id: Some(billing.id),
            commit: None,
            fixed_by: None,
        })
        .await
        .unwrap();
}

async fn shop(store: &Store, bucket: Bucket) -> DoraReport {
    report(
        store,
        query(Some(SHOP.0), Some(SHOP.1), "03-02 00:00", "03-16 00:00"),
        bucket,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fixture_gives_the_hand_computed_metrics() {
    each_backend(|db| async move {
        let store = db.open().await;
        fixture(&store).await;
        let r = shop(&store, Bucket::Week).await;
        let backend = db.backend;

        // Deployment frequency: D1–D12 are in the window, all but D4 successful: 11 in 14
        // days = 0.786 a day: high (at least weekly, not daily). Days with a successful
        // deployment: week 1 Mon, Tue, Thu = 3; week 2 Mon–Fri = 5; median 4.
        let f = &r.deployment_frequency;
        assert_eq!(f.deployments, 11, "{backend}");
        assert!((f.per_day - 11.0 / 14.0).abs() < 1e-9, "{backend}: {f:?}");
        assert_eq!(f.median_days_per_week, 4.0, "{backend}");
        assert_eq!(f.tier, Some(Tier::High), "{backend}");

        // Lead time: c1 2h, c2 24h, c3 1h, c5 24h, c6 72h, c7 0.5h, c8 2h, c9 4h, c10 1h,
        // c11 3h, c12 1h (m1 is a merge, c4 is negative, c0 shipped before the window,
        // c13 after it). Sorted: 0.5 1 1 1 2 2 3 4 24 24 72 hours: median (6th) 2 h; p90
        // the 10th of 11 (nearest rank: ceil(9.9)) = 24 h. Under a day: elite.
        let l = &r.lead_time;
        assert_eq!(l.changes, 11, "{backend}");
        assert_eq!(l.median_seconds, Some(2.0 * HOUR), "{backend}");
        assert_eq!(l.p90_seconds, Some(DAY), "{backend}");
        assert_eq!(l.tier, Some(Tier::Elite), "{backend}");

        // Change failure rate: D4 (failed), D6 (rolled back by D7), D9 (incident and
        // hotfix, once), D11 (reverted by D12), D12 (hotfix after the window): 5 of 12 =
        // 41.7 %: low.
        let c = &r.change_failure_rate;
        assert_eq!((c.deployments, c.failed), (12, 5), "{backend}");
        assert!((c.rate.unwrap() - 5.0 / 12.0).abs() < 1e-9, "{backend}");
        assert_eq!(c.tier, Some(Tier::Low), "{backend}");

        // Recovery: D4 1h, D6 4h, D9 3.5h, D11 24h, D12 71h; median 4 h: high.
        let v = &r.recovery_time;
        assert_eq!((v.failed, v.recovered), (5, 5), "{backend}");
        assert_eq!(v.median_seconds, Some(4.0 * HOUR), "{backend}");
        assert_eq!(v.tier, Some(Tier::High), "{backend}");

        // Rework: D7 (rollback), D10 (hotfix, incident fix), D12 (revert): 3 of 12.
        let w = &r.rework_rate;
        assert_eq!((w.deployments, w.unplanned), (12, 3), "{backend}");
        assert_eq!(w.rate, Some(0.25), "{backend}");

        // Weeks: 1 has D1–D5 (4 successful, D4 failed: 1 of 5), lead times 1 2 24 24 h
        // (median 13 h), recovery 1 h; 2 has D6–D12 (7, 4 failed), lead times 0.5 1 1 2 3 4
        // 72 h (median 2 h), recoveries 3.5 4 24 71 h (median 14 h).
        assert_eq!(r.series.len(), 2, "{backend}");
        let (w1, w2) = (&r.series[0], &r.series[1]);
        assert_eq!(w1.start, t("03-02 00:00"));
        assert_eq!(w2.start, t("03-09 00:00"));
        assert_eq!((w1.deployments, w1.failed), (4, 1), "{backend}");
        assert_eq!(w1.change_failure_rate, Some(0.2), "{backend}");
        assert_eq!(w1.lead_time_seconds, Some(13.0 * HOUR), "{backend}");
        assert_eq!(w1.recovery_seconds, Some(HOUR), "{backend}");
        assert_eq!((w2.deployments, w2.failed), (7, 4), "{backend}");
        assert_eq!(w2.lead_time_seconds, Some(2.0 * HOUR), "{backend}");
        assert_eq!(w2.recovery_seconds, Some(14.0 * HOUR), "{backend}");

        // By day: Monday 03-09 has D6 and D7 (D6 failed), c6 and c7 (median of 72 h and
        // 30 min = 36.25 h) and D6's 4 h recovery; Sunday 03-08 has nothing.
        let days = shop(&store, Bucket::Day).await.series;
        assert_eq!(days.len(), 14, "{backend}");
        let monday = &days[7];
        assert_eq!(monday.start, t("03-09 00:00"));
        assert_eq!((monday.deployments, monday.failed), (2, 1), "{backend}");
        assert_eq!(monday.lead_time_seconds, Some(36.25 * HOUR), "{backend}");
        assert_eq!(monday.recovery_seconds, Some(4.0 * HOUR), "{backend}");
        let sunday = &days[6];
        assert_eq!((sunday.deployments, sunday.failed), (0, 0), "{backend}");
        assert_eq!(sunday.change_failure_rate, None, "{backend}");
        assert_eq!(sunday.lead_time_seconds, None, "{backend}");

        // Every service and environment: the shop's 12, staging's and billing's 1 each; the
        // billing incident makes its deployment fail.
        let all = report(
            &store,
            query(None, None, "03-02 00:00", "03-16 00:00"),
            Bucket::Week,
        )
        .await
        .unwrap();
        assert_eq!(all.change_failure_rate.deployments, 14, "{backend}");
        assert_eq!(all.change_failure_rate.failed, 6, "{backend}");
        assert_eq!(all.deployment_frequency.deployments, 13, "{backend}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_deployments_give_no_values_rather_than_zeros() {
    each_backend(|db| async move {
        let store = db.open().await;
        let r = report(
            &store,
            query(Some("acme/none"), None, "03-02 00:00", "03-16 00:00"),
            Bucket::Day,
        )
        .await
        .unwrap();
        assert_eq!(r.deployment_frequency.deployments, 0);
        assert_eq!(r.deployment_frequency.per_day, 0.0);
        assert_eq!(r.deployment_frequency.tier, None);
        assert_eq!(r.lead_time.median_seconds, None);
        assert_eq!(r.change_failure_rate.rate, None);
        assert_eq!(r.recovery_time.median_seconds, None);
        assert_eq!(r.rework_rate.rate, None);
        assert_eq!(r.series.len(), 14);
        assert!(r.series.iter().all(|p| p.deployments == 0));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_deployment_has_no_baseline_so_no_lead_time() {
    each_backend(|db| async move {
        let store = db.open().await;
        let h = History { store: &store };
        h.ok("a1", "03-03 12:00", &[commit("c1", "03-03 10:00")])
            .await;
        let r = shop(&store, Bucket::Week).await;
        assert_eq!(r.deployment_frequency.deployments, 1);
        assert_eq!(r.lead_time.changes, 0);
        assert_eq!(r.lead_time.median_seconds, None);
        assert_eq!(r.change_failure_rate.rate, Some(0.0));
        assert_eq!(r.change_failure_rate.tier, Some(Tier::Elite));
        assert_eq!(r.recovery_time.median_seconds, None);

        // A second one gives the first a baseline: its own commit counts, not the first's.
        h.ok("a2", "03-04 12:00", &[commit("c2", "03-04 09:00")])
            .await;
        let r = shop(&store, Bucket::Week).await;
        assert_eq!(r.lead_time.changes, 1);
        assert_eq!(r.lead_time.median_seconds, Some(3.0 * HOUR));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_deployment_ships_nothing_and_an_unrecovered_one_has_no_recovery_time() {
    each_backend(|db| async move {
        let store = db.open().await;
        let h = History { store: &store };
        h.ok("a1", "03-02 12:00", &[]).await;
        h.deploy(
            SHOP,
            "a2",
            "03-03 12:00",
            Status::Failed,
            DeploymentKind::Deploy,
            &[commit("c2", "03-03 09:00")],
        )
        .await;
        let r = shop(&store, Bucket::Week).await;
        assert_eq!(r.lead_time.changes, 0);
        assert_eq!(r.change_failure_rate.failed, 1);
        assert_eq!(r.recovery_time.failed, 1);
        assert_eq!(r.recovery_time.recovered, 0);
        assert_eq!(r.recovery_time.median_seconds, None);
        // The same commit shipped later by a successful deployment counts from there.
        h.ok("a2", "03-04 12:00", &[commit("c2", "03-03 09:00")])
            .await;
        let r = shop(&store, Bucket::Week).await;
        assert_eq!(r.lead_time.median_seconds, Some(27.0 * HOUR));
        assert_eq!(r.recovery_time.median_seconds, Some(DAY));
    })
    .await;
}
