//! The DORA metrics page end to end: `runnel serve` through the real binary, its database
//! seeded directly with a small known history of deployments, shipped commits and an
//! incident. The page must show what `runnel_engine::dora::report` computes for the same
//! query (values, tiers, counts, and a bar or a dot per bucket in each chart), dashes for a
//! service with no deployments, and a 400 page for a bad query.
//!
//! The page's own test drives headless Chromium over WebDriver, as `tests/web.rs` does:
//! without Chromium and its driver it says why and passes, except in CI (`CI=true`), where
//! it fails (`tests/run` installs them). The 400 pages are checked over plain HTTP.

mod support;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use fantoccini::{Client, Locator};
use runnel_engine::dora::{self, Bucket, DoraReport};
use runnel_engine::store::{
    CommitRecord, DeploymentKind, DeploymentOrigin, DeploymentRecord, DoraQuery, IncidentRecord,
    Status, Store,
};
use serde_json::{Value, json};
use support::browser::*;
use support::*;
use uuid::Uuid;

const FROM: &str = "2024-05-01T00:00:00Z";
const TO: &str = "2024-05-15T00:00:00Z";
const EVIL: &str = "<img src=x onerror=window.pwned=1>";
const METRICS: [&str; 5] = [
    "deployment-frequency",
    "lead-time",
    "change-failure-rate",
    "recovery-time",
    "rework-rate",
];

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A state directory with a read-only token and the server's database (`runnel.db`, as
/// `runnel serve --state-dir` opens it) seeded with [`seed`]'s history.
async fn state_with_history(root: &Path) -> (PathBuf, String, Store) {
    let state = root.join("state");
    let token = token(&state, "viewer", true);
    let url = format!("sqlite://{}", state.join("runnel.db").display());
    let store = Store::open(&url).await.unwrap();
    seed(&store).await;
    (state, token, store)
}

fn config(root: &Path) -> PathBuf {
    let path = root.join("runnel.toml");
    std::fs::write(&path, "[server]\n").unwrap();
    path
}

/// `shop` in `production`: a deployment before the window (so that the window's commits
/// have a previous one to count their lead time from), then in the window one that a
/// hotfix follows, a failed one, the hotfix, and one that causes an incident. `other` has
/// a deployment of its own that the page for `shop` must not count.
async fn seed(store: &Store) {
    let deploy = |service: &str, sha: &str, status: Status, kind: DeploymentKind, end: &str| {
        let end = at(end);
        DeploymentRecord {
            id: Uuid::now_v7(),
            service: service.to_owned(),
            environment: "production".to_owned(),
            commit: Some(sha.to_owned()),
            status,
            kind,
            started_at: Some(end - chrono::Duration::minutes(10)),
            finished_at: Some(end),
            run_id: None,
            task_run: None,
            origin: DeploymentOrigin::Api,
        }
    };
    let commit = |sha: &str, authored: &str| CommitRecord {
        sha: sha.to_owned(),
        authored_at: at(authored),
        parents: 1,
        subject: format!("change {sha}"),
    };
    use DeploymentKind::{Deploy, Hotfix};
    use Status::{Failed, Succeeded};
    let history = [
        (
            deploy("shop", "c0", Succeeded, Deploy, "2024-04-20T12:00:00Z"),
            vec![commit("c0", "2024-04-19T12:00:00Z")],
        ),
        (
            deploy("shop", "c1", Succeeded, Deploy, "2024-05-02T12:00:00Z"),
            vec![commit("c1", "2024-05-02T08:00:00Z")],
        ),
        (
            deploy("shop", "c2", Failed, Deploy, "2024-05-05T10:00:00Z"),
            vec![],
        ),
        (
            deploy("shop", "c3", Succeeded, Hotfix, "2024-05-05T12:00:00Z"),
            vec![
                commit("c2", "2024-05-04T10:00:00Z"),
                commit("c3", "2024-05-05T09:00:00Z"),
            ],
        ),
        (
            deploy("shop", "c4", Succeeded, Deploy, "2024-05-09T12:00:00Z"),
            vec![commit("c4", "2024-05-08T12:00:00Z")],
        ),
        (
            deploy("other", "o1", Succeeded, Deploy, "2024-05-03T12:00:00Z"),
            vec![commit("o1", "2024-05-01T12:00:00Z")],
        ),
    ];
    for (d, commits) in &history {
        store.save_deployment(d).await.unwrap();
        store.record_shipped(d, commits).await.unwrap();
    }
    store
        .save_incident(&IncidentRecord {
            id: Uuid::now_v7(),
            service: "shop".into(),
            environment: "production".into(),
            title: "checkout down".into(),
            opened_at: at("2024-05-09T13:00:00Z"),
            resolved_at: Some(at("2024-05-09T15:30:00Z")),
            deployment_id: Some(history[4].0.id),
            commit: None,
            fixed_by: None,
        })
        .await
        .unwrap();
}

async fn expected(store: &Store, service: &str, from: &str, bucket: Bucket) -> DoraReport {
    let query = DoraQuery {
        service: Some(service.to_owned()),
        environment: Some("production".to_owned()),
        from: at(from),
        to: at(TO),
    };
    dora::report(store, query, bucket).await.unwrap()
}

fn page_url(base: &str, pairs: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params(&format!("{base}/dora"), pairs)
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_query_gets_a_400_page_that_says_why() {
    let root = tempfile::tempdir().unwrap();
    let (state, token, _store) = state_with_history(root.path()).await;
    let server = serve(root.path(), &config(root.path()), &state);
    let http = reqwest::Client::new();
    let get = async |pairs: &[(&str, &str)]| {
        let resp = http
            .get(page_url(&server.base, pairs))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
        (status, kind, resp.text().await.unwrap())
    };
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("service", "shop"), ("from", "last tuesday")],
            "`from` must be a time in RFC 3339 (2024-05-01T00:00:00Z) or a date (2024-05-01), \
             not `last tuesday`",
        ),
        (
            &[("from", TO), ("to", FROM)],
            "`from` (2024-05-15T00:00:00Z) must be before `to` (2024-05-01T00:00:00Z)",
        ),
        (
            &[("bucket", "month")],
            "`bucket` must be day, week or auto, not `month`",
        ),
        (
            &[("since", "soon")],
            "is not a window length (like 30d, 12h or 2w)",
        ),
        (
            &[("from", FROM), ("since", "7d")],
            "give `from` or `since`, not both",
        ),
        (
            &[("from", "2023-01-01"), ("bucket", "day")],
            "choose bucket=week",
        ),
    ];
    for (pairs, message) in cases {
        let (status, kind, body) = get(pairs).await;
        assert_eq!(status, 400, "{pairs:?}: {body}");
        assert!(kind.starts_with("text/html"), "{kind}");
        let shown = body
            .split_once("<p class=\"error\">")
            .and_then(|(_, rest)| rest.split_once("</p>"))
            .map(|(text, _)| text);
        assert!(
            shown.is_some_and(|text| text.contains(message)),
            "{pairs:?}: {body}"
        );
    }
    let (status, _, body) = get(&[("service", "shop"), ("from", FROM), ("to", TO)]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<svg class=\"chart"), "{body}");
}

/// What the page shows of each metric and its chart.
const READ_PAGE: &str = r#"
const read = id => {
  const s = document.getElementById(id);
  if (!s) return null;
  const v = s.querySelector('.figure .value');
  const t = s.querySelector('[data-role=tier]');
  const counts = Object.fromEntries([...s.querySelectorAll('.counts [data-count]')]
    .map(b => [b.dataset.count, Number(b.textContent)]));
  const svg = s.querySelector('svg.chart');
  let chart = null;
  if (svg) {
    const title = svg.querySelector(':scope > title');
    chart = {
      title: title ? title.textContent : null,
      labelled: svg.getAttribute('aria-labelledby') === title.id && svg.getAttribute('role') === 'img',
      buckets: Number(svg.dataset.buckets),
      bars: svg.querySelectorAll('rect.bar').length,
      points: svg.querySelectorAll('circle.point').length,
      marks: [...svg.querySelectorAll('.bar, .point')].map(e => [e.dataset.start, e.dataset.value]),
      marksTitled: [...svg.querySelectorAll('.bar, .point')].every(e => e.querySelector('title')),
      dates: [...svg.querySelectorAll('text.tick.x')].map(t => t.textContent),
      box: svg.getBoundingClientRect().width > 100,
    };
  }
  return { value: v.dataset.value ?? null, text: v.textContent, tier: t ? t.textContent : null, counts, chart };
};
return Object.fromEntries(ids.map(id => [id, read(id)]));
"#;

async fn read_page(browser: &Client) -> Value {
    let ids = serde_json::to_string(&METRICS).unwrap();
    js(browser, &format!("const ids = {ids};{READ_PAGE}")).await
}

/// A metric's value on the page, as the report's number (`None` for a dash).
fn shown_value(page: &Value, id: &str) -> Option<f64> {
    let m = &page[id];
    match m["value"].as_str() {
        Some(v) => Some(v.parse().unwrap()),
        None => {
            assert_eq!(m["text"], "—", "{id} shows no number: {m}");
            None
        }
    }
}

/// The chart's marks as (bucket date, value).
fn marks(page: &Value, id: &str) -> Vec<(String, f64)> {
    page[id]["chart"]["marks"]
        .as_array()
        .unwrap_or_else(|| panic!("no chart for {id}: {page}"))
        .iter()
        .map(|m| {
            (
                m[0].as_str().unwrap().to_owned(),
                m[1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// What a chart of `values` (one per bucket of `report`) must draw: a mark per value.
fn want_marks(
    report: &DoraReport,
    values: impl Fn(&dora::Point) -> Option<f64>,
) -> Vec<(String, f64)> {
    report
        .series
        .iter()
        .filter_map(|p| values(p).map(|v| (p.start.format("%Y-%m-%d").to_string(), v)))
        .collect()
}

fn tier(t: Option<dora::Tier>) -> &'static str {
    t.map_or("—", dora::Tier::as_str)
}

/// One value (or none) per bucket of a report's series.
type Series = fn(&dora::Point) -> Option<f64>;

/// Checks the page against the report: values, tiers, counts, and every chart's marks.
fn check_page(page: &Value, report: &DoraReport) {
    let f = &report.deployment_frequency;
    let l = &report.lead_time;
    let c = &report.change_failure_rate;
    let r = &report.recovery_time;
    let w = &report.rework_rate;
    assert_eq!(shown_value(page, "deployment-frequency"), Some(f.per_day));
    assert_eq!(shown_value(page, "lead-time"), l.median_seconds);
    assert_eq!(shown_value(page, "change-failure-rate"), c.rate);
    assert_eq!(shown_value(page, "recovery-time"), r.median_seconds);
    assert_eq!(shown_value(page, "rework-rate"), w.rate);
    let tiers = [
        ("deployment-frequency", f.tier),
        ("lead-time", l.tier),
        ("change-failure-rate", c.tier),
        ("recovery-time", r.tier),
    ];
    for (id, t) in tiers {
        assert_eq!(page[id]["tier"], tier(t), "{id}");
    }
    assert_eq!(
        page["rework-rate"]["tier"],
        Value::Null,
        "rework rate has no tiers"
    );
    let counts = json!({
        "deployment-frequency": {"deployments": f.deployments},
        "lead-time": {"changes": l.changes},
        "change-failure-rate": {"failed": c.failed, "deployments": c.deployments},
        "recovery-time": {"recovered": r.recovered, "failed": r.failed},
        "rework-rate": {"unplanned": w.unplanned, "deployments": w.deployments},
    });
    for id in METRICS {
        assert_eq!(page[id]["counts"], counts[id], "{id}");
    }

    let charts: [(&str, Series); 4] = [
        ("deployment-frequency", |p| Some(p.deployments as f64)),
        ("lead-time", |p| p.lead_time_seconds),
        ("change-failure-rate", |p| p.change_failure_rate),
        ("recovery-time", |p| p.recovery_seconds),
    ];
    for (id, values) in charts {
        let chart = &page[id]["chart"];
        assert_eq!(chart["buckets"], report.series.len(), "{id}: {chart}");
        assert_eq!(marks(page, id), want_marks(report, values), "{id}");
        assert_eq!(chart["labelled"], true, "{id}: {chart}");
        assert_eq!(chart["marksTitled"], true, "{id}: {chart}");
        assert_eq!(chart["box"], true, "{id} is drawn: {chart}");
        assert_eq!(
            chart["dates"][0],
            report.series[0].start.format("%Y-%m-%d").to_string(),
            "{id}: {chart}"
        );
    }
    assert_eq!(page["rework-rate"]["chart"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_the_reports_numbers_tiers_and_charts() {
    let (chromium, chromedriver) = match browser_tools() {
        Ok(t) => t,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("the DORA page's test cannot run in CI: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let root = tempfile::tempdir().unwrap();
    let (state, token, store) = state_with_history(root.path()).await;
    let server = serve(root.path(), &config(root.path()), &state);
    let base = server.base.clone();
    let driver = start_driver(&chromedriver).await;
    let browser = open_browser(&driver, &chromium).await;

    // Signing in from the link in the shell's navigation.
    browser.goto(&format!("{base}/login")).await.unwrap();
    browser
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(&token)
        .await
        .unwrap();
    browser
        .find(Locator::Css("form.login button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        &browser,
        "the runs list",
        "return document.body.dataset.page === 'runs';",
    )
    .await;
    let link = browser
        .find(Locator::Css("header.top nav a[href=\"/dora\"]"))
        .await
        .unwrap();
    assert_eq!(link.text().await.unwrap(), "DORA");
    link.click().await.unwrap();
    wait_js(
        &browser,
        "the DORA page",
        "return document.body.dataset.page === 'dora';",
    )
    .await;
    assert_eq!(
        js(
            &browser,
            "return document.querySelectorAll('svg.chart').length;"
        )
        .await,
        json!(4)
    );

    // shop in production over two weeks, by day: what the report says, on the page.
    let shop = [
        ("service", "shop"),
        ("environment", "production"),
        ("from", FROM),
        ("to", TO),
    ];
    browser.goto(&page_url(&base, &shop)).await.unwrap();
    let page = read_page(&browser).await;
    let report = expected(&store, "shop", FROM, Bucket::Day).await;
    check_page(&page, &report);

    // The history was made to give these (the report's own tests cover its rules; this
    // says the seeding and the page's units are what they seem).
    let shown: Vec<(&Value, &Value)> = METRICS
        .iter()
        .map(|id| (&page[id]["text"], &page[id]["tier"]))
        .collect();
    assert_eq!(
        json!(shown),
        json!([
            ["1.5/week", "high"],
            ["14h 00m", "elite"],
            ["75.0 %", "low"],
            ["3h 30m", "high"],
            ["25.0 %", null]
        ])
    );
    let bars_and_points: Vec<(&Value, &Value)> = METRICS[..4]
        .iter()
        .map(|id| (&page[id]["chart"]["bars"], &page[id]["chart"]["points"]))
        .collect();
    assert_eq!(
        json!(bars_and_points),
        json!([[14, 0], [0, 3], [3, 0], [0, 3]]),
        "14 days of deployments; lead and recovery times and failure rates on 3 of them"
    );
    assert_eq!(
        js(
            &browser,
            "return [document.querySelector('input[name=service]').value, \
             document.querySelector('input[name=from]').value, \
             document.querySelector('input[name=to]').value, \
             document.querySelector('#scope').textContent];"
        )
        .await,
        json!([
            "shop",
            "2024-05-01",
            "2024-05-14",
            "shop · production · 2024-05-01 00:00:00 UTC to 2024-05-15 00:00:00 UTC · by day"
        ])
    );

    // The form: by week, same window (its dates are the window's days).
    browser
        .find(Locator::Css("select[name=bucket] option[value=week]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .find(Locator::Css("form.filters button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        &browser,
        "the page by week",
        "return location.search.includes('bucket=week') && document.getElementById('scope') \
         && document.getElementById('scope').textContent.endsWith('by week');",
    )
    .await;
    let page = read_page(&browser).await;
    let weekly = expected(&store, "shop", FROM, Bucket::Week).await;
    check_page(&page, &weekly);
    assert_eq!(page["deployment-frequency"]["chart"]["bars"], 2);

    // A window longer than a month is cut into weeks unless the query says otherwise.
    let long_from = "2024-03-01T00:00:00Z";
    browser
        .goto(&page_url(
            &base,
            &[
                ("service", "shop"),
                ("environment", "production"),
                ("from", long_from),
                ("to", TO),
            ],
        ))
        .await
        .unwrap();
    let page = read_page(&browser).await;
    let long = expected(&store, "shop", long_from, Bucket::Week).await;
    assert_eq!(long.series.len(), 11);
    check_page(&page, &long);

    // A service with no deployments: dashes, not NaN; its name (from a webhook) is text.
    browser
        .goto(&page_url(
            &base,
            &[
                ("service", EVIL),
                ("environment", "production"),
                ("from", FROM),
                ("to", TO),
            ],
        ))
        .await
        .unwrap();
    let page = read_page(&browser).await;
    let empty = expected(&store, EVIL, FROM, Bucket::Day).await;
    check_page(&page, &empty);
    let shown: Vec<(&Value, &Value)> = METRICS
        .iter()
        .map(|id| (&page[id]["text"], &page[id]["tier"]))
        .collect();
    assert_eq!(
        json!(shown),
        json!([
            ["0/day", "—"],
            ["—", "—"],
            ["—", "—"],
            ["—", "—"],
            ["—", null]
        ])
    );
    assert_eq!(
        js(
            &browser,
            "return [/NaN|Infinity|undefined/.test(document.body.innerText), typeof window.pwned, \
             document.querySelectorAll('main img').length, \
             document.querySelector('input[name=service]').value, \
             document.querySelector('#scope b').textContent];"
        )
        .await,
        json!([false, "undefined", 0, EVIL, EVIL])
    );

    browser.close().await.unwrap();
}
