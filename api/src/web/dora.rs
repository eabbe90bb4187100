//! `/dora`: the DORA metrics of a service and environment (or all of them) over a window,
//! from [`runnel_engine::dora::report`]: the four keys and rework rate, each with its value
//! in human units, its tier and the counts behind it, and for each key a trend chart drawn
//! here as SVG from the report's series (no script). The query string is the API's:
//! `service`, `environment`, `from`/`to` (RFC 3339 or a date) or `since`, and `bucket`.

use std::fmt::Write;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use runnel_engine::dora::{
    self, Bucket, DoraReport, Point, Tier, human_duration, human_frequency, human_rate, parse_since,
};
use runnel_engine::store::DoraQuery;
use serde::Deserialize;

use super::html::{Page, error_page, esc, time, url_encode};
use super::session::Viewer;
use crate::server::AppState;

/// The window when the query names none: the last 30 days.
const DEFAULT_DAYS: i64 = 30;
/// A window up to this many days is cut into days unless `bucket` says otherwise.
const DAILY_UP_TO_DAYS: i64 = 31;
/// The most days or weeks a chart draws.
const MAX_BUCKETS: i64 = 400;
/// The windows the page offers as links.
const PRESETS: [(&str, &str); 4] = [
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("365d", "year"),
];

/// The query string. Every field is text, so that a bad value is this page's 400 with a
/// message, not the extractor's; an empty field (a form's) is no value.
#[derive(Debug, Default, Deserialize)]
pub struct DoraParams {
    service: Option<String>,
    environment: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// The window's length before `to`, e.g. `30d`, `2w`, `12h` (instead of `from`).
    since: Option<String>,
    /// `day`, `week` or `auto`.
    bucket: Option<String>,
}

/// What the query asks for, checked.
#[derive(Debug, Clone, PartialEq)]
struct Request {
    query: DoraQuery,
    bucket: Bucket,
    /// Whether `bucket` was chosen (not the default for the window's length).
    bucket_chosen: bool,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    params: Result<Query<DoraParams>, QueryRejection>,
) -> Response {
    let request = match params {
        Ok(Query(p)) => parse(&p, Utc::now()),
        Err(e) => Err(e.body_text()),
    };
    let request = match request {
        Ok(r) => r,
        Err(message) => return error_page(StatusCode::BAD_REQUEST, Some(&viewer), &message),
    };
    match dora::report(&state.store, request.query.clone(), request.bucket).await {
        Ok(report) => Page {
            title: "DORA metrics",
            page: "dora",
            viewer: Some(&viewer),
            body: render(&request, &report),
        }
        .response(StatusCode::OK),
        Err(e) => {
            tracing::error!(error = %e, "cannot compute the DORA metrics");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(&viewer),
                "the database is unavailable",
            )
        }
    }
}

/// An empty form field is no value.
fn field(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Checks the query string against `now` (the default end of the window).
fn parse(p: &DoraParams, now: DateTime<Utc>) -> Result<Request, String> {
    let to = match field(&p.to) {
        Some(t) => instant("to", t, now)?,
        None => now,
    };
    let from = match (field(&p.from), field(&p.since)) {
        (Some(_), Some(_)) => return Err("give `from` or `since`, not both".to_owned()),
        (Some(f), None) => instant("from", f, now)?,
        (None, since) => {
            let length = match since {
                Some(s) => window_length(s)?,
                None => Duration::days(DEFAULT_DAYS),
            };
            to.checked_sub_signed(length)
                .ok_or_else(|| format!("`since` {} reaches too far back", since.unwrap_or("")))?
        }
    };
    if from >= to {
        return Err(format!(
            "`from` ({}) must be before `to` ({})",
            rfc3339(from),
            rfc3339(to)
        ));
    }
    let daily = to - from <= Duration::days(DAILY_UP_TO_DAYS);
    let (bucket, bucket_chosen) = match field(&p.bucket) {
        None | Some("auto") if daily => (Bucket::Day, false),
        None | Some("auto") => (Bucket::Week, false),
        Some("day") => (Bucket::Day, true),
        Some("week") => (Bucket::Week, true),
        Some(other) => {
            return Err(format!("`bucket` must be day, week or auto, not `{other}`"));
        }
    };
    let length = match bucket {
        Bucket::Day => 86_400,
        Bucket::Week => 7 * 86_400,
    };
    // (`to` is after `from`: the seconds are positive.)
    let buckets = ((to - from).num_seconds() + length - 1) / length;
    if buckets > MAX_BUCKETS {
        return Err(format!(
            "the window from {} to {} holds {buckets} {}s, more than the {MAX_BUCKETS} a chart \
             can show: choose {}a shorter window",
            rfc3339(from),
            rfc3339(to),
            bucket_name(bucket),
            if bucket == Bucket::Day {
                "bucket=week or "
            } else {
                ""
            },
        ));
    }
    Ok(Request {
        query: DoraQuery {
            service: field(&p.service).map(str::to_owned),
            environment: field(&p.environment).map(str::to_owned),
            from,
            to,
        },
        bucket,
        bucket_chosen,
    })
}

/// `from` or `to`: RFC 3339, or a date (UTC): `from` at its start, `to` at its end (so
/// that the day is in the window, as a date picker means it), but no later than `now`.
fn instant(name: &str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        format!(
            "`{name}` must be a time in RFC 3339 (2024-05-01T00:00:00Z) or a date \
             (2024-05-01), not `{text}`"
        )
    })?;
    let day = if name == "to" {
        date.succ_opt()
    } else {
        Some(date)
    };
    let start = day
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("`{name}` is out of range: `{text}`"))?;
    Ok(if name == "to" { start.min(now) } else { start })
}

/// `since`: a number of minutes, hours, days or weeks (`12h`, `30d`, `2w`).
fn window_length(text: &str) -> Result<Duration, String> {
    parse_since(text).map_err(|e| format!("`since`: {e}"))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn bucket_name(bucket: Bucket) -> &'static str {
    match bucket {
        Bucket::Day => "day",
        Bucket::Week => "week",
    }
}

/// The page's body.
fn render(request: &Request, report: &DoraReport) -> String {
    let mut out = String::from("<div class=\"dora\">");
    let scope = |v: Option<&str>, all: &str| match v {
        Some(v) => format!("<b>{}</b>", esc(v)),
        None => all.to_owned(),
    };
    let _ = write!(
        out,
        "<h1>DORA metrics <span class=\"sub\" id=\"scope\">{} · {} · {} to {} · by {}</span></h1>",
        scope(report.service.as_deref(), "all services"),
        scope(report.environment.as_deref(), "all environments"),
        time(Some(report.from)),
        time(Some(report.to)),
        bucket_name(report.bucket),
    );
    out.push_str(&form(request));
    out.push_str("<div class=\"metrics\">");
    out.push_str(&metrics(report));
    out.push_str("</div><p class=\"hint\">What each metric counts, and the tiers: <code>docs/dora.md</code>.</p></div>");
    out
}

/// The GET form that changes the scope, window and bucket, and links to usual windows.
fn form(request: &Request) -> String {
    let q = &request.query;
    let service = q.service.as_deref().unwrap_or("");
    let environment = q.environment.as_deref().unwrap_or("");
    // `to` is the end of the window, not in it: its date is the last day's.
    let last_day = (q.to - Duration::nanoseconds(1)).date_naive();
    let mut out = String::new();
    let _ = write!(
        out,
        "<form class=\"filters\" method=\"get\" action=\"/dora\">\
         <label>Service <input name=\"service\" value=\"{}\" placeholder=\"all\"></label>\
         <label>Environment <input name=\"environment\" value=\"{}\" placeholder=\"all\"></label>\
         <label>From (UTC) <input type=\"date\" name=\"from\" value=\"{}\"></label>\
         <label>To (UTC, included) <input type=\"date\" name=\"to\" value=\"{last_day}\"></label>\
         <label>By <select name=\"bucket\">",
        esc(service),
        esc(environment),
        q.from.date_naive(),
    );
    let chosen = request.bucket_chosen.then_some(request.bucket);
    for (value, label, selected) in [
        ("", "auto", chosen.is_none()),
        ("day", "day", chosen == Some(Bucket::Day)),
        ("week", "week", chosen == Some(Bucket::Week)),
    ] {
        let _ = write!(
            out,
            "<option value=\"{value}\"{}>{label}</option>",
            if selected { " selected" } else { "" }
        );
    }
    out.push_str(
        "</select></label><button type=\"submit\">Show</button>\
         <span class=\"presets\">Last",
    );
    let mut scope = String::new();
    for (k, v) in [("service", service), ("environment", environment)] {
        if !v.is_empty() {
            let _ = write!(scope, "{k}={}&", url_encode(v));
        }
    }
    for (since, label) in PRESETS {
        let _ = write!(
            out,
            " <a href=\"/dora?{}since={since}\">{label}</a>",
            esc(&scope)
        );
    }
    out.push_str("</span></form>");
    out
}

/// Which metric a section shows, its name and its chart.
struct Metric<'a> {
    id: &'a str,
    name: &'a str,
    /// The value as a number (`data-value`) and in human units; `None` when there is none.
    value: Option<(f64, String)>,
    tier: Option<Tier>,
    /// What the value was computed from, HTML.
    counts: String,
    chart: Option<String>,
}

fn metrics(report: &DoraReport) -> String {
    let f = &report.deployment_frequency;
    let l = &report.lead_time;
    let c = &report.change_failure_rate;
    let r = &report.recovery_time;
    let w = &report.rework_rate;
    let series = &report.series;
    let unit = bucket_name(report.bucket);
    let list = [
        Metric {
            id: "deployment-frequency",
            name: "Deployment frequency",
            value: Some((f.per_day, human_frequency(f.per_day))),
            tier: f.tier,
            counts: format!(
                "{} in {}; median {} a week",
                count(
                    "deployments",
                    f.deployments,
                    "successful deployment",
                    "successful deployments"
                ),
                window_days(report),
                plural_f(f.median_days_per_week, "deployment day", "deployment days"),
            ),
            chart: Some(chart(
                &Chart {
                    id: "deployment-frequency",
                    title: format!("Successful deployments per {unit}"),
                    y_title: "deployments",
                    shape: Shape::Bars,
                    scale: Scale::Count,
                    values: series.iter().map(|p| Some(p.deployments as f64)).collect(),
                },
                report,
            )),
        },
        Metric {
            id: "lead-time",
            name: "Lead time for changes",
            value: l.median_seconds.map(|s| (s, human_duration(s))),
            tier: l.tier,
            counts: format!(
                "median of {}{}",
                count("changes", l.changes, "change shipped", "changes shipped"),
                l.p90_seconds.map_or(String::new(), |s| format!(
                    "; 90th percentile {}",
                    human_duration(s)
                )),
            ),
            chart: Some(chart(
                &Chart {
                    id: "lead-time",
                    title: format!("Median lead time for changes per {unit}"),
                    y_title: "lead time",
                    shape: Shape::Line,
                    scale: Scale::Seconds,
                    values: series.iter().map(|p| p.lead_time_seconds).collect(),
                },
                report,
            )),
        },
        Metric {
            id: "change-failure-rate",
            name: "Change failure rate",
            value: c.rate.map(|x| (x, human_rate(x))),
            tier: c.tier,
            counts: format!(
                "<b data-count=\"failed\">{}</b> of {} failed",
                c.failed,
                count("deployments", c.deployments, "deployment", "deployments")
            ),
            chart: Some(chart(
                &Chart {
                    id: "change-failure-rate",
                    title: format!("Change failure rate per {unit}"),
                    y_title: "failed",
                    shape: Shape::Bars,
                    scale: Scale::Rate,
                    values: series.iter().map(|p| p.change_failure_rate).collect(),
                },
                report,
            )),
        },
        Metric {
            id: "recovery-time",
            name: "Failed deployment recovery time",
            value: r.median_seconds.map(|s| (s, human_duration(s))),
            tier: r.tier,
            counts: format!(
                "median of <b data-count=\"recovered\">{}</b> recovered of {}",
                r.recovered,
                count(
                    "failed",
                    r.failed,
                    "failed deployment",
                    "failed deployments"
                )
            ),
            chart: Some(chart(
                &Chart {
                    id: "recovery-time",
                    title: format!("Median failed deployment recovery time per {unit}"),
                    y_title: "recovery time",
                    shape: Shape::Line,
                    scale: Scale::Seconds,
                    values: series.iter().map(|p| p.recovery_seconds).collect(),
                },
                report,
            )),
        },
        Metric {
            id: "rework-rate",
            name: "Rework rate",
            value: w.rate.map(|x| (x, human_rate(x))),
            tier: None,
            counts: format!(
                "<b data-count=\"unplanned\">{}</b> of {} unplanned (rollbacks, hotfixes, \
                 reverts, incident fixes)",
                w.unplanned,
                count("deployments", w.deployments, "deployment", "deployments")
            ),
            chart: None,
        },
    ];
    let mut out = String::new();
    for m in list {
        let value = match &m.value {
            Some((x, text)) => format!("<span class=\"value\" data-value=\"{x}\">{text}</span>"),
            None => "<span class=\"value none\">—</span>".to_owned(),
        };
        // Rework rate has no tiers in the reports.
        let tier = if m.id == "rework-rate" {
            String::new()
        } else {
            tier_badge(m.tier)
        };
        let _ = write!(
            out,
            "<section class=\"metric\" id=\"{id}\" aria-labelledby=\"{id}-name\">\
             <h2 id=\"{id}-name\">{name}</h2><p class=\"figure\">{value}{tier}</p>\
             <p class=\"counts\">{counts}</p>{chart}</section>",
            id = m.id,
            name = m.name,
            counts = m.counts,
            chart = m.chart.unwrap_or_default(),
        );
    }
    out
}

fn tier_badge(tier: Option<Tier>) -> String {
    match tier {
        Some(t) => format!(
            "<span class=\"tier tier-{0}\" data-role=\"tier\" title=\"the State of DevOps \
             reports' performance level\">{0}</span>",
            t.as_str()
        ),
        None => "<span class=\"tier tier-none\" data-role=\"tier\" title=\"no tier: nothing to \
                 measure\">—</span>"
            .to_owned(),
    }
}

/// `n` and a noun, with `n` marked for reading back (`data-count="{key}"`).
fn count(key: &str, n: u64, one: &str, many: &str) -> String {
    format!(
        "<b data-count=\"{key}\">{n}</b> {}",
        if n == 1 { one } else { many }
    )
}

fn plural_f(x: f64, one: &str, many: &str) -> String {
    format!("{} {}", trim(x, 1), if x == 1.0 { one } else { many })
}

/// The window's length in days, as read (`30 days`, `2.5 days`).
fn window_days(report: &DoraReport) -> String {
    let days = (report.to - report.from).num_seconds() as f64 / 86_400.0;
    plural_f(days, "day", "days")
}

/// `x` with at most `digits` decimals, without trailing zeros.
fn trim(x: f64, digits: usize) -> String {
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// How a chart draws its values.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// A bar per bucket with a value.
    Bars,
    /// A dot per bucket with a value, joined to its neighbours with values.
    Line,
}

/// What a chart's values are.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scale {
    Count,
    Seconds,
    /// 0–1, shown as a percentage.
    Rate,
}

impl Scale {
    fn label(self, x: f64) -> String {
        match self {
            Scale::Count => trim(x, 1),
            Scale::Seconds => human_duration(x),
            Scale::Rate => human_rate(x),
        }
    }
}

/// One trend chart: one value (or none: a gap) per bucket of the report's series.
struct Chart<'a> {
    id: &'a str,
    title: String,
    y_title: &'a str,
    shape: Shape,
    scale: Scale,
    values: Vec<Option<f64>>,
}

const CHART_W: f64 = 600.0;
const CHART_H: f64 = 200.0;
const LEFT: f64 = 58.0;
const RIGHT: f64 = 34.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 40.0;
/// At most this many dates under a chart.
const X_LABELS: usize = 6;

/// The top of the y axis and its ticks, with their labels.
fn y_axis(scale: Scale, max: f64) -> (f64, Vec<(f64, String)>) {
    let (unit, suffix) = match scale {
        Scale::Rate => {
            let ticks = [0.0, 0.5, 1.0].map(|x| (x, format!("{} %", x * 100.0)));
            return (1.0, ticks.to_vec());
        }
        Scale::Count => (1.0, ""),
        Scale::Seconds => [(86_400.0, "d"), (3_600.0, "h"), (60.0, "m")]
            .into_iter()
            .find(|(u, _)| max / u >= 2.0)
            .unwrap_or((1.0, "s")),
    };
    let in_units = (max / unit).max(1.0);
    let step = nice_step(in_units / 4.0).max(1.0);
    let top = (in_units / step).ceil() * step;
    let ticks = (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|t| *t <= top + step / 2.0)
        .map(|t| (t * unit, format!("{}{suffix}", trim(t, 1))))
        .collect();
    (top * unit, ticks)
}

/// The smallest of 1, 2, 5 times a power of ten at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let base = 10f64.powf(raw.log10().floor());
    let f = raw / base;
    let n = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    n * base
}

/// Draws `c` over the report's series as SVG: axes with the dates under them, then a bar
/// or a dot per value (each with its date and value as `<title>` and `data-*`).
fn chart(c: &Chart, report: &DoraReport) -> String {
    let series: &[Point] = &report.series;
    let n = series.len().max(1);
    let plot_w = CHART_W - LEFT - RIGHT;
    let plot_h = CHART_H - TOP - BOTTOM;
    let slot = plot_w / n as f64;
    let centre = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let max = c.values.iter().flatten().copied().fold(0.0, f64::max);
    let (top, ticks) = y_axis(c.scale, max);
    let y = |v: f64| TOP + plot_h - (v / top).clamp(0.0, 1.0) * plot_h;
    let bottom = TOP + plot_h;
    let with_value = c.values.iter().flatten().count();
    let unit = bucket_name(report.bucket);
    let id = c.id;
    let mut out = format!(
        "<svg class=\"chart {shape}\" id=\"{id}-chart\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {CHART_W} {CHART_H}\" role=\"img\" aria-labelledby=\"{id}-title\" \
         aria-describedby=\"{id}-desc\" data-buckets=\"{buckets}\">\
         <title id=\"{id}-title\">{title}</title>\
         <desc id=\"{id}-desc\">{buckets} {unit}s from {first} to {last}; {with_value} with a \
         value{gaps}.</desc>",
        shape = match c.shape {
            Shape::Bars => "bars",
            Shape::Line => "line",
        },
        title = esc(&c.title),
        buckets = series.len(),
        first = series.first().map_or(String::new(), |p| day(p.start)),
        last = series.last().map_or(String::new(), |p| day(p.start)),
        gaps = if with_value < series.len() {
            ", the others are gaps"
        } else {
            ""
        },
    );
    // The y axis: grid lines with their labels, and its title.
    for (v, label) in &ticks {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{yv:.1}\" y2=\"{yv:.1}\"/>\
             <text class=\"tick y\" x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{label}</text>",
            x2 = CHART_W - RIGHT,
            yv = y(*v),
            tx = LEFT - 6.0,
            ty = y(*v) + 3.5,
        );
    }
    let _ = write!(
        out,
        "<text class=\"axis-title\" transform=\"translate(12 {mid:.1}) rotate(-90)\" \
         text-anchor=\"middle\">{y_title}</text>\
         <line class=\"axis\" x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{bottom}\" y2=\"{bottom}\"/>",
        mid = TOP + plot_h / 2.0,
        y_title = esc(c.y_title),
        x2 = CHART_W - RIGHT,
    );
    // The x axis: a date under every k-th bucket, and its title.
    let every = series.len().div_ceil(X_LABELS).max(1);
    for (i, p) in series.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let _ = write!(
            out,
            "<line class=\"axis\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{bottom}\" y2=\"{y2}\"/>\
             <text class=\"tick x\" x=\"{x:.1}\" y=\"{ty}\" text-anchor=\"middle\">{date}</text>",
            x = centre(i),
            y2 = bottom + 4.0,
            ty = bottom + 15.0,
            date = day(p.start),
        );
    }
    let _ = write!(
        out,
        "<text class=\"axis-title\" x=\"{x:.1}\" y=\"{ty}\" text-anchor=\"middle\">{what} (UTC)</text>",
        x = LEFT + plot_w / 2.0,
        ty = CHART_H - 4.0,
        what = match report.bucket {
            Bucket::Day => "day",
            Bucket::Week => "week from",
        },
    );
    if with_value == 0 {
        let _ = write!(
            out,
            "<text class=\"empty\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\">no data</text>",
            x = LEFT + plot_w / 2.0,
            y = TOP + plot_h / 2.0,
        );
    }
    // The values.
    let mark = |i: usize, v: f64| {
        format!(
            " data-start=\"{}\" data-value=\"{v}\"><title>{}: {}</title>",
            day(series[i].start),
            day(series[i].start),
            c.scale.label(v)
        )
    };
    match c.shape {
        Shape::Bars => {
            let w = (slot * 0.7).min(40.0);
            for (i, v) in c.values.iter().enumerate() {
                let Some(v) = *v else { continue };
                let _ = write!(
                    out,
                    "<rect class=\"bar\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{h:.1}\"{mark}</rect>",
                    x = centre(i) - w / 2.0,
                    top = y(v),
                    h = bottom - y(v),
                    mark = mark(i, v),
                );
            }
        }
        Shape::Line => {
            let mut d = String::new();
            let mut joined = false;
            for (i, v) in c.values.iter().enumerate() {
                match v {
                    Some(v) => {
                        let _ = write!(
                            d,
                            "{}{:.1},{:.1} ",
                            if joined { "L" } else { "M" },
                            centre(i),
                            y(*v)
                        );
                        joined = true;
                    }
                    None => joined = false,
                }
            }
            if !d.is_empty() {
                let _ = write!(out, "<path class=\"line\" d=\"{}\"/>", d.trim_end());
            }
            for (i, v) in c.values.iter().enumerate() {
                let Some(v) = *v else { continue };
                let _ = write!(
                    out,
                    "<circle class=\"point\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3.5\"{mark}</circle>",
                    cx = centre(i),
                    cy = y(v),
                    mark = mark(i, v),
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

/// A bucket's date.
fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_engine::dora::compute;
    use runnel_engine::store::DoraHistory;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn params(pairs: &[(&str, &str)]) -> DoraParams {
        let mut p = DoraParams::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "service" => p.service = v,
                "environment" => p.environment = v,
                "from" => p.from = v,
                "to" => p.to = v,
                "since" => p.since = v,
                "bucket" => p.bucket = v,
                _ => panic!("{k}"),
            }
        }
        p
    }

    fn check(pairs: &[(&str, &str)]) -> Result<(DateTime<Utc>, DateTime<Utc>, Bucket), String> {
        let now = at("2024-06-01T12:00:00Z");
        parse(&params(pairs), now).map(|r| (r.query.from, r.query.to, r.bucket))
    }

    #[test]
    fn the_window_defaults_to_the_last_30_days_by_day() {
        assert_eq!(
            check(&[]),
            Ok((
                at("2024-05-02T12:00:00Z"),
                at("2024-06-01T12:00:00Z"),
                Bucket::Day
            ))
        );
        assert_eq!(
            check(&[("since", "90d"), ("service", " ")]),
            Ok((
                at("2024-03-03T12:00:00Z"),
                at("2024-06-01T12:00:00Z"),
                Bucket::Week
            ))
        );
        assert_eq!(
            check(&[("since", "2w"), ("to", "2024-05-15T00:00:00+02:00")]),
            Ok((
                at("2024-04-30T22:00:00Z"),
                at("2024-05-14T22:00:00Z"),
                Bucket::Day
            ))
        );
        assert_eq!(
            check(&[
                ("from", "2024-05-01"),
                ("to", "2024-05-14"),
                ("bucket", "week")
            ]),
            Ok((
                at("2024-05-01T00:00:00Z"),
                at("2024-05-15T00:00:00Z"),
                Bucket::Week
            ))
        );
        // A date's end later than now is now.
        assert_eq!(
            check(&[("from", "2024-05-31"), ("to", "2024-06-01")]),
            Ok((
                at("2024-05-31T00:00:00Z"),
                at("2024-06-01T12:00:00Z"),
                Bucket::Day
            ))
        );
        let long = check(&[("from", "2024-01-01"), ("to", "2024-01-31")]).unwrap();
        assert_eq!(long.2, Bucket::Day, "31 days are still days");
        let longer = check(&[("from", "2024-01-01"), ("to", "2024-02-01")]).unwrap();
        assert_eq!(longer.2, Bucket::Week);
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("from", "yesterday")],
                "`from` must be a time in RFC 3339",
            ),
            (&[("to", "2024-13-01")], "`to` must be a time in RFC 3339"),
            (&[("since", "30")], "`since`: \""),
            (&[("since", "0d")], "`since`: \""),
            (&[("since", "-3d")], "`since`: \""),
            (&[("since", "3y")], "`since`: \""),
            (&[("since", "99999999999w")], "is not a window length"),
            (&[("from", "2024-05-01"), ("since", "3d")], "not both"),
            (
                &[("from", "2024-06-02T00:00:00Z")],
                "`from` (2024-06-02T00:00:00Z) must be before `to` (2024-06-01T12:00:00Z)",
            ),
            (
                &[("bucket", "month")],
                "`bucket` must be day, week or auto, not `month`",
            ),
            (&[("since", "500d"), ("bucket", "day")], "holds 500 days"),
            (&[("from", "0001-01-01")], "choose a shorter window"),
        ];
        for (pairs, want) in cases {
            let got = check(pairs).unwrap_err();
            assert!(got.contains(want), "{pairs:?}: {got}");
        }
    }

    #[test]
    fn values_read_in_human_units() {
        assert_eq!(human_frequency(2.25), "2.2/day");
        assert_eq!(human_frequency(3.0 / 14.0), "1.5/week");
        assert_eq!(human_frequency(0.02), "0.6/month");
        assert_eq!(human_frequency(0.0), "0/day");
        assert_eq!(human_duration(42.4), "42s");
        assert_eq!(human_duration(245.0), "4m 05s");
        assert_eq!(human_duration(4.0 * 3600.0 + 12.0 * 60.0 + 10.0), "4h 12m");
        assert_eq!(human_duration(86_399.0), "1d 00h");
        assert_eq!(human_duration(26.0 * 3600.0), "1d 02h");
        assert_eq!(human_rate(0.125), "12.5 %");
        assert_eq!(trim(2.50, 1), "2.5");
        assert_eq!(trim(3.0, 1), "3");
    }

    #[test]
    fn axes_end_on_round_numbers() {
        let (top, ticks) = y_axis(Scale::Count, 7.0);
        assert_eq!(top, 8.0);
        assert_eq!(
            ticks.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(),
            ["0", "2", "4", "6", "8"]
        );
        assert_eq!(y_axis(Scale::Count, 0.0).0, 1.0);
        let (top, ticks) = y_axis(Scale::Seconds, 26.0 * 3600.0);
        assert_eq!(top, 30.0 * 3600.0);
        assert_eq!(ticks.last().unwrap().1, "30h");
        assert_eq!(y_axis(Scale::Rate, 0.3).1.last().unwrap().1, "100 %");
    }

    fn empty_report(service: &str, bucket: Bucket) -> DoraReport {
        compute(
            &DoraHistory::default(),
            DoraQuery {
                service: Some(service.to_owned()),
                environment: None,
                from: at("2024-05-01T00:00:00Z"),
                to: at("2024-05-15T00:00:00Z"),
            },
            bucket,
        )
    }

    #[test]
    fn charts_draw_a_mark_per_value_and_leave_gaps() {
        let mut report = empty_report("shop", Bucket::Day);
        report.series[1].lead_time_seconds = Some(3600.0);
        report.series[2].lead_time_seconds = Some(7200.0);
        report.series[5].lead_time_seconds = Some(1800.0);
        let svg = chart(
            &Chart {
                id: "lead-time",
                title: "Lead <time>".into(),
                y_title: "lead time",
                shape: Shape::Line,
                scale: Scale::Seconds,
                values: report.series.iter().map(|p| p.lead_time_seconds).collect(),
            },
            &report,
        );
        assert_eq!(svg.matches("<circle class=\"point\"").count(), 3, "{svg}");
        // Two runs of values: the gap between 2 and 5 starts a new one.
        let path = svg.split("<path class=\"line\" d=\"").nth(1).unwrap();
        let path = &path[..path.find('"').unwrap()];
        assert_eq!(path.matches('M').count(), 2, "{path}");
        assert_eq!(path.matches('L').count(), 1, "{path}");
        assert!(svg.contains("<title id=\"lead-time-title\">Lead &lt;time&gt;</title>"));
        assert!(svg.contains(
            "data-start=\"2024-05-02\" data-value=\"3600\"><title>2024-05-02: 1h 00m</title>"
        ));
        assert!(svg.contains(">2024-05-01</text>") && svg.contains("data-buckets=\"14\""));

        let bars = chart(
            &Chart {
                id: "deployment-frequency",
                title: "t".into(),
                y_title: "deployments",
                shape: Shape::Bars,
                scale: Scale::Count,
                values: report
                    .series
                    .iter()
                    .map(|p| Some(p.deployments as f64))
                    .collect(),
            },
            &report,
        );
        assert_eq!(bars.matches("<rect class=\"bar\"").count(), 14);
        assert!(!bars.contains("NaN"), "{bars}");
    }

    #[test]
    fn a_service_with_nothing_shows_dashes_and_escapes_its_name() {
        let report = empty_report("<img src=x onerror=alert(1)>", Bucket::Week);
        let request = Request {
            query: DoraQuery {
                service: report.service.clone(),
                environment: None,
                from: report.from,
                to: report.to,
            },
            bucket: Bucket::Week,
            bucket_chosen: true,
        };
        let html = render(&request, &report);
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("<b>&lt;img src=x onerror=alert(1)&gt;</b>"));
        assert!(html.contains("value=\"&lt;img src=x onerror=alert(1)&gt;\""));
        assert!(html.contains("service=%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E&amp;since=7d"));
        assert!(!html.contains("NaN") && !html.contains("inf"), "{html}");
        assert_eq!(
            html.matches("<span class=\"value none\">—</span>").count(),
            4
        );
        assert!(html.contains("<span class=\"value\" data-value=\"0\">0/day</span>"));
        assert_eq!(html.matches("class=\"tier tier-none\"").count(), 4);
        assert_eq!(html.matches("<svg class=\"chart").count(), 4);
        assert_eq!(html.matches(">no data</text>").count(), 3);
        assert!(html.contains("<option value=\"week\" selected>week</option>"));
        assert!(html.contains("name=\"to\" value=\"2024-05-14\""));
    }
}
