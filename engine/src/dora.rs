//! The DORA metrics of one service and environment (or all of them) over a time window,
//! computed from what [`Store::dora_history`](crate::store::Store::dora_history) reads:
//! deployment frequency, lead time for changes, change failure rate, failed deployment
//! recovery time and rework rate, each with its tier, and a time series by day or week.
//! The definitions and the tier table are in `docs/dora.md`; this module is their one
//! implementation, shared by the API, the CLI and the web page.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::{
    DeploymentFact, DeploymentKind, DoraHistory, DoraQuery, IncidentRecord, Status, Store,
    StoreError,
};

const DAY: f64 = 86_400.0;
const HOUR: f64 = 3_600.0;

/// How the time series is cut.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    #[default]
    Day,
    /// Seven days, counted from the window's start.
    Week,
}

impl Bucket {
    fn length(self) -> Duration {
        match self {
            Bucket::Day => Duration::days(1),
            Bucket::Week => Duration::days(7),
        }
    }
}

/// A performance level of the State of DevOps reports.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Elite,
    High,
    Medium,
    Low,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Elite => "elite",
            Tier::High => "high",
            Tier::Medium => "medium",
            Tier::Low => "low",
        }
    }

    /// Deployment frequency (successful deployments per day): elite on demand (at least
    /// daily), high at least weekly, medium at least monthly (2024 report).
    pub fn of_frequency(per_day: f64) -> Tier {
        if per_day >= 1.0 {
            Tier::Elite
        } else if per_day >= 1.0 / 7.0 {
            Tier::High
        } else if per_day >= 1.0 / 30.0 {
            Tier::Medium
        } else {
            Tier::Low
        }
    }

    /// Lead time for changes (the median, in seconds): elite under a day, high up to a
    /// week, medium up to a month (2024 report).
    pub fn of_lead_time(seconds: f64) -> Tier {
        if seconds < DAY {
            Tier::Elite
        } else if seconds <= 7.0 * DAY {
            Tier::High
        } else if seconds <= 30.0 * DAY {
            Tier::Medium
        } else {
            Tier::Low
        }
    }

    /// Change failure rate (0–1): the 2023 report's 5 %, 10 %, 15 % (2024's bands are
    /// not monotonic: its medium cluster fails less often than its high one).
    pub fn of_failure_rate(rate: f64) -> Tier {
        if rate <= 0.05 {
            Tier::Elite
        } else if rate <= 0.10 {
            Tier::High
        } else if rate <= 0.15 {
            Tier::Medium
        } else {
            Tier::Low
        }
    }

    /// Failed deployment recovery time (the median, in seconds): elite under an hour, high
    /// under a day, medium under a week, low beyond (2024 report; it gives high and medium
    /// the same "less than one day" and starts low at a week, so the week between is
    /// medium's).
    pub fn of_recovery(seconds: f64) -> Tier {
        if seconds < HOUR {
            Tier::Elite
        } else if seconds < DAY {
            Tier::High
        } else if seconds < 7.0 * DAY {
            Tier::Medium
        } else {
            Tier::Low
        }
    }
}

/// The metrics of a window.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoraReport {
    pub service: Option<String>,
    pub environment: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Bucket,
    pub deployment_frequency: DeploymentFrequency,
    pub lead_time: LeadTime,
    pub change_failure_rate: ChangeFailureRate,
    pub recovery_time: RecoveryTime,
    pub rework_rate: ReworkRate,
    /// The window cut into days or weeks, oldest first.
    pub series: Vec<Point>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentFrequency {
    /// Successful deployments in the window.
    pub deployments: u64,
    pub per_day: f64,
    /// The median, over the window's whole weeks, of the days with a successful deployment.
    pub median_days_per_week: f64,
    /// None when nothing was deployed, successfully or not.
    pub tier: Option<Tier>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadTime {
    /// The commits counted.
    pub changes: u64,
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub tier: Option<Tier>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeFailureRate {
    /// Finished deployments, successful or not.
    pub deployments: u64,
    /// Those that failed, were rolled back, were followed by a revert or hotfix, or
    /// caused an incident (each counted once).
    pub failed: u64,
    pub rate: Option<f64>,
    pub tier: Option<Tier>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryTime {
    /// Failed deployments in the window.
    pub failed: u64,
    /// Those recovered from (by a later successful deployment or the incident's
    /// resolution).
    pub recovered: u64,
    pub median_seconds: Option<f64>,
    pub tier: Option<Tier>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReworkRate {
    pub deployments: u64,
    /// Rollbacks, hotfixes, reverts and incident fixes.
    pub unplanned: u64,
    pub rate: Option<f64>,
}

/// One day or week of the series.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub start: DateTime<Utc>,
    /// Successful deployments.
    pub deployments: u64,
    /// Failed deployments (as the change failure rate counts them).
    pub failed: u64,
    pub change_failure_rate: Option<f64>,
    /// The median lead time of the commits shipped in it.
    pub lead_time_seconds: Option<f64>,
    /// The median recovery time of the deployments that failed in it.
    pub recovery_seconds: Option<f64>,
}

/// What a window's deployments turned out to be.
struct Judged<'a> {
    deployment: &'a DeploymentFact,
    failed: bool,
    unplanned: bool,
    recovery: Option<f64>,
}

/// How far back a window reaches by default.
pub const DEFAULT_SINCE: &str = "30d";

/// A window length: a number and a unit, `m`inutes, `h`ours, `d`ays or `w`eeks (`30d`,
/// `12h`, `2w`).
pub fn parse_since(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a window length (like 30d, 12h or 2w)"))?;
    let length = match unit {
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    };
    match length {
        Some(d) if d > Duration::zero() && d <= Duration::days(100 * 366) => Ok(d),
        _ => Err(format!(
            "{text:?} is not a window length (a positive number with m, h, d or w, like 30d)"
        )),
    }
}

/// The window `[from, to)` a request names: `to` defaults to `now`, `from` to `to` minus
/// `since` (default [`DEFAULT_SINCE`]); `from` must come before `to`.
pub fn window(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    since: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let to = to.unwrap_or(now);
    let from = match from {
        Some(from) => from,
        None => to - parse_since(since.unwrap_or(DEFAULT_SINCE))?,
    };
    if from >= to {
        return Err(format!(
            "the window is empty: from ({}) is not before to ({})",
            from.to_rfc3339(),
            to.to_rfc3339()
        ));
    }
    Ok((from, to))
}

/// The metrics of `query`'s window, read from `store`.
pub async fn report(
    store: &Store,
    query: DoraQuery,
    bucket: Bucket,
) -> Result<DoraReport, StoreError> {
    let history = store.dora_history(&query).await?;
    Ok(compute(&history, query, bucket))
}

/// The metrics of `query`'s window `[from, to)` from its history.
pub fn compute(history: &DoraHistory, query: DoraQuery, bucket: Bucket) -> DoraReport {
    let DoraQuery {
        service,
        environment,
        from,
        to,
    } = query;
    let judged = judge(history);

    let successes: Vec<&DeploymentFact> = judged
        .iter()
        .map(|j| j.deployment)
        .filter(|d| d.status == Status::Succeeded)
        .collect();
    let days = (to - from).num_seconds().max(1) as f64 / DAY;
    let per_day = successes.len() as f64 / days;
    let deployment_frequency = DeploymentFrequency {
        deployments: successes.len() as u64,
        per_day,
        median_days_per_week: median_days_per_week(&successes, from, to),
        tier: (!judged.is_empty()).then(|| Tier::of_frequency(per_day)),
    };

    let lead_times: Vec<(DateTime<Utc>, f64)> = history
        .shipped
        .iter()
        .map(|c| (c.shipped_at, seconds(c.shipped_at - c.authored_at)))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    let all_lead: Vec<f64> = lead_times.iter().map(|(_, s)| *s).collect();
    let lead_median = median(&all_lead);
    let lead_time = LeadTime {
        changes: all_lead.len() as u64,
        median_seconds: lead_median,
        p90_seconds: percentile(&all_lead, 0.9),
        tier: lead_median.map(Tier::of_lead_time),
    };

    let failed = judged.iter().filter(|j| j.failed).count() as u64;
    let rate = ratio(failed, judged.len() as u64);
    let change_failure_rate = ChangeFailureRate {
        deployments: judged.len() as u64,
        failed,
        rate,
        tier: rate.map(Tier::of_failure_rate),
    };

    let recoveries: Vec<f64> = judged.iter().filter_map(|j| j.recovery).collect();
    let recovery_median = median(&recoveries);
    let recovery_time = RecoveryTime {
        failed,
        recovered: recoveries.len() as u64,
        median_seconds: recovery_median,
        tier: recovery_median.map(Tier::of_recovery),
    };

    let unplanned = judged.iter().filter(|j| j.unplanned).count() as u64;
    let rework_rate = ReworkRate {
        deployments: judged.len() as u64,
        unplanned,
        rate: ratio(unplanned, judged.len() as u64),
    };

    let mut series = Vec::new();
    let mut start = from;
    while start < to {
        let end = (start + bucket.length()).min(to);
        let within = |t: DateTime<Utc>| start <= t && t < end;
        let here: Vec<&Judged> = judged
            .iter()
            .filter(|j| within(j.deployment.finished_at))
            .collect();
        let bucket_failed = here.iter().filter(|j| j.failed).count() as u64;
        let leads: Vec<f64> = lead_times
            .iter()
            .filter(|(t, _)| within(*t))
            .map(|(_, s)| *s)
            .collect();
        let recoveries: Vec<f64> = here.iter().filter_map(|j| j.recovery).collect();
        series.push(Point {
            start,
            deployments: here
                .iter()
                .filter(|j| j.deployment.status == Status::Succeeded)
                .count() as u64,
            failed: bucket_failed,
            change_failure_rate: ratio(bucket_failed, here.len() as u64),
            lead_time_seconds: median(&leads),
            recovery_seconds: median(&recoveries),
        });
        start = end;
    }

    DoraReport {
        service,
        environment,
        from,
        to,
        bucket,
        deployment_frequency,
        lead_time,
        change_failure_rate,
        recovery_time,
        rework_rate,
        series,
    }
}

/// Whether a deployment undoes or patches the one before it: a rollback (declared, or a
/// commit deployed before that is not the previous one), a hotfix, or a revert.
fn remediates(d: &DeploymentFact) -> bool {
    is_rollback(d) || d.kind == DeploymentKind::Hotfix || d.ships_revert
}

fn is_rollback(d: &DeploymentFact) -> bool {
    d.kind == DeploymentKind::Rollback
        || (d.commit.is_some() && d.commit_deployed_before && d.commit != d.previous_commit)
}

/// Decides, for each deployment of the window, whether it failed, whether it was
/// unplanned, and how long recovering from it took.
fn judge(history: &DoraHistory) -> Vec<Judged<'_>> {
    let deployments = &history.deployments;
    // The next successful deployment after each, in its service and environment.
    let mut next: Vec<Option<&DeploymentFact>> = vec![None; deployments.len()];
    let mut upcoming: HashMap<(&str, &str), &DeploymentFact> = history
        .following
        .iter()
        .map(|d| ((d.service.as_str(), d.environment.as_str()), d))
        .collect();
    for (i, d) in deployments.iter().enumerate().rev() {
        let key = (d.service.as_str(), d.environment.as_str());
        next[i] = upcoming.get(&key).copied();
        if d.status == Status::Succeeded {
            upcoming.insert(key, d);
        }
    }

    // Incidents by the deployment they concern, and the deployments that fixed one.
    let mut caused: HashMap<Uuid, Vec<&IncidentRecord>> = HashMap::new();
    let mut fixes: HashSet<Uuid> = HashSet::new();
    for incident in &history.incidents {
        if let Some(fix) = incident.fixed_by {
            fixes.insert(fix);
        }
        let cause = incident.deployment_id.or_else(|| {
            let commit = incident.commit.as_deref()?;
            deployment_of_commit(deployments, incident, commit)
        });
        if let Some(cause) = cause {
            caused.entry(cause).or_default().push(incident);
        }
    }

    deployments
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let incidents = caused.get(&d.id).map(Vec::as_slice).unwrap_or_default();
            let failed = d.status == Status::Failed
                || (d.status == Status::Succeeded && next[i].is_some_and(remediates))
                || !incidents.is_empty();
            let recovery = failed
                .then(|| {
                    let by_deployment = next[i].map(|n| n.finished_at);
                    let by_incident = incidents.iter().filter_map(|x| x.resolved_at).min();
                    [by_deployment, by_incident]
                        .into_iter()
                        .flatten()
                        .min()
                        .map(|t| seconds(t - d.finished_at).max(0.0))
                })
                .flatten();
            Judged {
                deployment: d,
                failed,
                unplanned: is_rollback(d)
                    || d.kind == DeploymentKind::Hotfix
                    || d.ships_revert
                    || fixes.contains(&d.id),
                recovery,
            }
        })
        .collect()
}

/// The deployment an incident naming `commit` concerns: the latest successful deployment
/// of that commit to its service and environment finished when the incident opened, else
/// the first deployment of it.
fn deployment_of_commit(
    deployments: &[DeploymentFact],
    incident: &IncidentRecord,
    commit: &str,
) -> Option<Uuid> {
    let mut of_commit = deployments.iter().filter(|d| {
        d.service == incident.service
            && d.environment == incident.environment
            && d.commit.as_deref() == Some(commit)
    });
    let first = of_commit.clone().next().map(|d| d.id);
    of_commit
        .rfind(|d| d.status == Status::Succeeded && d.finished_at <= incident.opened_at)
        .map(|d| d.id)
        .or(first)
}

/// The median, over the window's whole weeks (seven days from its start; a window shorter
/// than a week is one), of the number of days with a successful deployment.
fn median_days_per_week(
    successes: &[&DeploymentFact],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> f64 {
    let whole_weeks = ((to - from).num_days() / 7).max(1);
    let counts: Vec<f64> = (0..whole_weeks)
        .map(|w| {
            let start = from + Duration::days(7 * w);
            let end = (start + Duration::days(7)).min(to);
            successes
                .iter()
                .filter(|d| start <= d.finished_at && d.finished_at < end)
                .map(|d| d.finished_at.date_naive())
                .collect::<BTreeSet<NaiveDate>>()
                .len() as f64
        })
        .collect();
    median(&counts).unwrap_or(0.0)
}

/// A length of time for people, to the second under an hour and to the minute under a
/// day: `45s`, `4m 05s`, `4h 12m`, `3d 02h`.
pub fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as i64;
    if s < 60 {
        format!("{s}s")
    } else if s < 3_600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        let m = (s + 30) / 60;
        if m < 24 * 60 {
            format!("{}h {:02}m", m / 60, m % 60)
        } else {
            "1d 00h".to_owned()
        }
    } else {
        let h = (s + 1_800) / 3_600;
        format!("{}d {:02}h", h / 24, h % 24)
    }
}

/// A rate (0–1) as a percentage: `12.5 %`.
pub fn human_rate(rate: f64) -> String {
    format!("{:.1} %", rate * 100.0)
}

/// Deployments per day in the unit that reads best: `2.3/day`, `1.5/week`, `0.8/month`.
pub fn human_frequency(per_day: f64) -> String {
    if per_day >= 1.0 {
        format!("{per_day:.1}/day")
    } else if per_day * 7.0 >= 1.0 {
        format!("{:.1}/week", per_day * 7.0)
    } else if per_day > 0.0 {
        format!("{:.1}/month", per_day * 30.0)
    } else {
        "0/day".to_owned()
    }
}

fn seconds(d: Duration) -> f64 {
    d.num_microseconds()
        .map_or_else(|| d.num_seconds() as f64, |us| us as f64 / 1e6)
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The median: the middle value, or the mean of the two middle ones.
pub fn median(values: &[f64]) -> Option<f64> {
    let sorted = sorted(values);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The `q` quantile by nearest rank: the smallest value with at least `q` of the values at
/// or below it.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let sorted = sorted(values);
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentile_follow_their_definitions() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&ten, 0.9), Some(9.0));
        assert_eq!(percentile(&ten, 0.5), Some(5.0));
        assert_eq!(percentile(&[7.0], 0.9), Some(7.0));
        assert_eq!(percentile(&[], 0.9), None);
    }

    #[test]
    fn durations_rates_and_frequencies_read_as_people_write_them() {
        assert_eq!(human_duration(45.4), "45s");
        assert_eq!(human_duration(4.0 * 60.0 + 5.0), "4m 05s");
        assert_eq!(human_duration(4.0 * HOUR + 12.0 * 60.0 + 10.0), "4h 12m");
        assert_eq!(human_duration(DAY - 10.0), "1d 00h");
        assert_eq!(human_duration(3.0 * DAY + 2.0 * HOUR + 59.0), "3d 02h");
        assert_eq!(human_rate(5.0 / 12.0), "41.7 %");
        assert_eq!(human_frequency(2.34), "2.3/day");
        assert_eq!(human_frequency(11.0 / 14.0), "5.5/week");
        assert_eq!(human_frequency(0.02), "0.6/month");
        assert_eq!(human_frequency(0.0), "0/day");
    }

    #[test]
    fn windows_default_to_thirty_days_before_now() {
        let now = DateTime::parse_from_rfc3339("2026-03-31T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(parse_since("30d"), Ok(Duration::days(30)));
        assert_eq!(parse_since("12h"), Ok(Duration::hours(12)));
        assert_eq!(parse_since("2w"), Ok(Duration::weeks(2)));
        for bad in ["", "d", "30", "0d", "-3d", "3y", "99999999999999d"] {
            assert!(parse_since(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            window(None, None, None, now),
            Ok((now - Duration::days(30), now))
        );
        assert_eq!(
            window(None, Some(now), Some("1w"), now + Duration::days(9)),
            Ok((now - Duration::days(7), now))
        );
        let error = window(Some(now), Some(now), None, now).unwrap_err();
        assert!(error.contains("empty"), "{error}");
    }

    #[test]
    fn tiers_change_at_the_report_thresholds() {
        assert_eq!(Tier::of_frequency(1.0), Tier::Elite);
        assert_eq!(Tier::of_frequency(0.99), Tier::High);
        assert_eq!(Tier::of_frequency(1.0 / 7.0), Tier::High);
        assert_eq!(Tier::of_frequency(0.1), Tier::Medium);
        assert_eq!(Tier::of_frequency(0.01), Tier::Low);
        assert_eq!(Tier::of_lead_time(DAY - 1.0), Tier::Elite);
        assert_eq!(Tier::of_lead_time(DAY), Tier::High);
        assert_eq!(Tier::of_lead_time(7.0 * DAY + 1.0), Tier::Medium);
        assert_eq!(Tier::of_lead_time(31.0 * DAY), Tier::Low);
        assert_eq!(Tier::of_failure_rate(0.05), Tier::Elite);
        assert_eq!(Tier::of_failure_rate(0.1), Tier::High);
        assert_eq!(Tier::of_failure_rate(0.15), Tier::Medium);
        assert_eq!(Tier::of_failure_rate(0.16), Tier::Low);
        assert_eq!(Tier::of_recovery(HOUR - 1.0), Tier::Elite);
        assert_eq!(Tier::of_recovery(HOUR), Tier::High);
        assert_eq!(Tier::of_recovery(DAY), Tier::Medium);
        assert_eq!(Tier::of_recovery(7.0 * DAY), Tier::Low);
    }
}
