//! `runnel metrics dora`: the four key DORA metrics (and rework rate) of a window, from the
//! local run database or a server's API (`--server`), as a table or as JSON. The numbers
//! are `runnel_engine::dora`'s, printed with the same units as the web page.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use runnel_engine::dora::{
    self, Bucket, DoraReport, Tier, human_duration, human_frequency, human_rate,
};
use runnel_engine::store::{DoraQuery, now};

use super::remote::ServerArgs;
use super::state;

#[derive(Debug, clap::Subcommand)]
pub enum MetricsCommand {
    /// Deployment frequency, lead time for changes, change failure rate, failed deployment
    /// recovery time and rework rate, with their DORA tiers.
    Dora(DoraArgs),
}

#[derive(Debug, clap::Args)]
pub struct DoraArgs {
    /// Only this service (the repository, e.g. `acme/shop`); default: all of them.
    #[arg(long)]
    pub service: Option<String>,
    /// Only this environment (e.g. `production`); default: all of them.
    #[arg(long = "env", value_name = "ENVIRONMENT")]
    pub environment: Option<String>,
    /// How far back the window reaches: 30d (the default), 12h, 2w, ...
    #[arg(long, conflicts_with = "from")]
    pub since: Option<String>,
    /// The window's start (RFC 3339), instead of --since.
    #[arg(long)]
    pub from: Option<DateTime<Utc>>,
    /// The window's end (RFC 3339); default: now.
    #[arg(long)]
    pub to: Option<DateTime<Utc>>,
    /// Cut the --json time series by day or week.
    #[arg(long, value_enum, default_value = "day")]
    pub bucket: BucketArg,
    /// Print the whole report (with its time series) as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: state::StateDir,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BucketArg {
    Day,
    Week,
}

pub fn metrics_command(cmd: &MetricsCommand) -> ExitCode {
    match cmd {
        MetricsCommand::Dora(args) => super::block_on(super::Runtime::OneThread, 2, dora(args)),
    }
}

async fn dora(args: &DoraArgs) -> Result<ExitCode> {
    let (from, to) = dora::window(args.from, args.to, args.since.as_deref(), now())
        .map_err(|e| anyhow!("{e}"))?;
    let query = DoraQuery {
        service: args.service.clone(),
        environment: args.environment.clone(),
        from,
        to,
    };
    let bucket = match args.bucket {
        BucketArg::Day => Bucket::Day,
        BucketArg::Week => Bucket::Week,
    };
    let report = match args.server.client()? {
        Some(client) => client.dora(&query, bucket).await?,
        None => {
            let store = state::open_store(&args.state.dir).await?;
            dora::report(&store, query, bucket).await?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// The report as a table: each metric's value, tier and what it was computed from.
pub fn table(r: &DoraReport) -> String {
    let scope = format!(
        "{} · {}",
        r.service.as_deref().unwrap_or("all services"),
        r.environment.as_deref().unwrap_or("all environments")
    );
    let days = (r.to - r.from).num_seconds() as f64 / 86_400.0;
    let mut out = format!(
        "DORA metrics for {scope}, {} to {} ({} days)\n\n",
        r.from.format("%Y-%m-%d %H:%M UTC"),
        r.to.format("%Y-%m-%d %H:%M UTC"),
        trim(days)
    );
    let f = &r.deployment_frequency;
    let l = &r.lead_time;
    let c = &r.change_failure_rate;
    let v = &r.recovery_time;
    let w = &r.rework_rate;
    let dash = || "-".to_owned();
    let rows = [
        (
            "Deployment frequency",
            human_frequency(f.per_day),
            f.tier,
            format!(
                "{} successful; median {} days a week with one",
                f.deployments,
                trim(f.median_days_per_week)
            ),
        ),
        (
            "Lead time for changes",
            l.median_seconds.map_or_else(dash, human_duration),
            l.tier,
            format!(
                "median of {} commits; p90 {}",
                l.changes,
                l.p90_seconds.map_or_else(dash, human_duration)
            ),
        ),
        (
            "Change failure rate",
            c.rate.map_or_else(dash, human_rate),
            c.tier,
            format!("{} of {} deployments failed", c.failed, c.deployments),
        ),
        (
            "Failed deployment recovery",
            v.median_seconds.map_or_else(dash, human_duration),
            v.tier,
            format!("median of {} recovered of {} failed", v.recovered, v.failed),
        ),
        (
            "Rework rate",
            w.rate.map_or_else(dash, human_rate),
            None,
            format!("{} of {} deployments unplanned", w.unplanned, w.deployments),
        ),
    ];
    out.push_str(&format!(
        "{:<28} {:<11} {:<7} {}\n",
        "METRIC", "VALUE", "TIER", "FROM"
    ));
    for (name, value, tier, from) in rows {
        out.push_str(&format!(
            "{name:<28} {value:<11} {:<7} {from}\n",
            tier.map_or("-", Tier::as_str)
        ));
    }
    out
}

/// A number without needless decimals: `4`, `0.5`.
fn trim(x: f64) -> String {
    let text = format!("{x:.1}");
    text.strip_suffix(".0").unwrap_or(&text).to_owned()
}
