//! What the DORA metrics are computed from (`migrations/*/0004_dora.sql`): deployments,
//! the commits each one first shipped to its environment, and incidents; and
//! [`Store::dora_history`], which reads one time window of them for [`crate::dora`]. Same
//! two-backend rules as the rest of the store.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::codec::{Id, Ts};
use super::{ParseError, Pool, Status, Store, StoreError, query_error};

/// A deployment of a service's commit to an environment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub id: Uuid,
    /// The repository (or the name the deploy task gives).
    pub service: String,
    pub environment: String,
    /// The commit deployed.
    pub commit: Option<String>,
    /// `Running`, then `Succeeded`, `Failed` or `Cancelled`.
    pub status: Status,
    pub kind: DeploymentKind,
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished (`None` while it runs).
    pub finished_at: Option<DateTime<Utc>>,
    /// The run whose task deployed it.
    pub run_id: Option<Uuid>,
    /// The TaskRun that deployed it.
    pub task_run: Option<String>,
    pub origin: DeploymentOrigin,
}

/// What a deployment was declared to be. Rollbacks and reverts are also recognized from
/// the history ([`crate::dora`]); these are what the deploy task or the API said.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentKind {
    /// A planned deployment.
    #[default]
    Deploy,
    /// A fix for a failure, outside the usual flow.
    Hotfix,
    /// Back to an earlier version.
    Rollback,
}

impl DeploymentKind {
    pub const ALL: [DeploymentKind; 3] = [
        DeploymentKind::Deploy,
        DeploymentKind::Hotfix,
        DeploymentKind::Rollback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentKind::Deploy => "deploy",
            DeploymentKind::Hotfix => "hotfix",
            DeploymentKind::Rollback => "rollback",
        }
    }
}

impl fmt::Display for DeploymentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeploymentKind {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeploymentKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseError::new("deployment kind", s, "deploy, hotfix, rollback"))
    }
}

/// Where a deployment record came from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentOrigin {
    /// A TaskRun of a task annotated `runnel.dev/deployment`.
    Task,
    /// `POST /api/v1/deployments` (external deployments, backfills).
    Api,
}

impl DeploymentOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentOrigin::Task => "task",
            DeploymentOrigin::Api => "api",
        }
    }

    fn parse(s: &str) -> DeploymentOrigin {
        if s == "task" {
            DeploymentOrigin::Task
        } else {
            DeploymentOrigin::Api
        }
    }
}

/// A commit, as far as the metrics need it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitRecord {
    pub sha: String,
    /// The author time (the lead time starts here).
    pub authored_at: DateTime<Utc>,
    /// How many parents it has: more than one is a merge commit, which is not a change of
    /// its own.
    #[serde(default = "one")]
    pub parents: u32,
    /// The first line of the message (`Revert "…"` marks a revert).
    #[serde(default)]
    pub subject: String,
}

fn one() -> u32 {
    1
}

/// An incident in a service's environment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub id: Uuid,
    pub service: String,
    pub environment: String,
    pub title: String,
    pub opened_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The deployment that caused it.
    pub deployment_id: Option<Uuid>,
    /// The commit that caused it (linked to the deployment that shipped it).
    pub commit: Option<String>,
    /// The deployment that fixed it.
    pub fixed_by: Option<Uuid>,
}

/// One service and environment (or all of them) over `[from, to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct DoraQuery {
    pub service: Option<String>,
    pub environment: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A finished deployment as the metrics see it, with what its neighbours in the history of
/// its service and environment say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentFact {
    pub id: Uuid,
    pub service: String,
    pub environment: String,
    pub commit: Option<String>,
    /// `Succeeded` or `Failed`.
    pub status: Status,
    pub kind: DeploymentKind,
    pub finished_at: DateTime<Utc>,
    /// Whether a successful deployment of the same service and environment finished before.
    pub has_previous: bool,
    /// The commit of the latest of those.
    pub previous_commit: Option<String>,
    /// Whether its commit was deployed successfully before (then, unless it is the
    /// previous commit, it is an older one: a rollback).
    pub commit_deployed_before: bool,
    /// Whether it shipped a commit whose subject starts `Revert `.
    pub ships_revert: bool,
}

/// One commit's lead time: when it was shipped and when it was written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShippedCommit {
    pub shipped_at: DateTime<Utc>,
    pub authored_at: DateTime<Utc>,
}

/// What [`crate::dora::compute`] reads: one window of the records.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DoraHistory {
    /// The finished (`Succeeded` or `Failed`) deployments in the window, in order of
    /// service, environment and finish.
    pub deployments: Vec<DeploymentFact>,
    /// For each service and environment in `deployments`, the first successful
    /// deployment at or after the window's end (what followed the last one in it).
    pub following: Vec<DeploymentFact>,
    /// The non-merge commits first shipped in the window by a successful deployment that
    /// had one before it (the first deployment of a service has no baseline).
    pub shipped: Vec<ShippedCommit>,
    /// Incidents that can concern the window: opened in it or after, or not resolved
    /// before it.
    pub incidents: Vec<IncidentRecord>,
}

const DEPLOYMENT_COLUMNS: &str = "id, service, environment, commit_sha, status, kind, \
     started_at, finished_at, run_id, task_run, origin";

#[derive(sqlx::FromRow)]
struct DeploymentRow {
    id: Id,
    service: String,
    environment: String,
    commit_sha: Option<String>,
    status: Status,
    kind: String,
    started_at: Option<Ts>,
    finished_at: Option<Ts>,
    run_id: Option<Id>,
    task_run: Option<String>,
    origin: String,
}

impl From<DeploymentRow> for DeploymentRecord {
    fn from(row: DeploymentRow) -> Self {
        DeploymentRecord {
            id: row.id.0,
            service: row.service,
            environment: row.environment,
            commit: row.commit_sha,
            status: row.status,
            kind: row.kind.parse().unwrap_or_default(),
            started_at: row.started_at.map(|t| t.0),
            finished_at: row.finished_at.map(|t| t.0),
            run_id: row.run_id.map(|i| i.0),
            task_run: row.task_run,
            origin: DeploymentOrigin::parse(&row.origin),
        }
    }
}

/// The facts of a deployment `d`: its columns and what the history before it says.
const FACT_COLUMNS: &str = "d.id, d.service, d.environment, d.commit_sha, d.status, d.kind, \
     d.finished_at, \
     EXISTS (SELECT 1 FROM deployments p WHERE p.service = d.service \
         AND p.environment = d.environment AND p.status = 'Succeeded' \
         AND p.finished_at < d.finished_at) AS has_previous, \
     (SELECT p.commit_sha FROM deployments p WHERE p.service = d.service \
         AND p.environment = d.environment AND p.status = 'Succeeded' \
         AND p.finished_at < d.finished_at \
         ORDER BY p.finished_at DESC LIMIT 1) AS previous_commit, \
     EXISTS (SELECT 1 FROM deployments p WHERE p.service = d.service \
         AND p.environment = d.environment AND p.commit_sha = d.commit_sha \
         AND p.status = 'Succeeded' AND p.finished_at < d.finished_at) AS deployed_before, \
     EXISTS (SELECT 1 FROM shipped_commits s JOIN commits c \
         ON c.service = s.service AND c.sha = s.sha \
         WHERE s.deployment_id = d.id AND c.subject LIKE 'Revert %') AS ships_revert";

#[derive(sqlx::FromRow)]
struct FactRow {
    id: Id,
    service: String,
    environment: String,
    commit_sha: Option<String>,
    status: Status,
    kind: String,
    finished_at: Ts,
    has_previous: bool,
    previous_commit: Option<String>,
    deployed_before: bool,
    ships_revert: bool,
}

impl From<FactRow> for DeploymentFact {
    fn from(row: FactRow) -> Self {
        DeploymentFact {
            id: row.id.0,
            service: row.service,
            environment: row.environment,
            commit: row.commit_sha,
            status: row.status,
            kind: row.kind.parse().unwrap_or_default(),
            finished_at: row.finished_at.0,
            has_previous: row.has_previous,
            previous_commit: row.previous_commit,
            commit_deployed_before: row.deployed_before,
            ships_revert: row.ships_revert,
        }
    }
}

const INCIDENT_COLUMNS: &str = "id, service, environment, title, opened_at, resolved_at, \
     deployment_id, commit_sha, fixed_by";

#[derive(sqlx::FromRow)]
struct IncidentRow {
    id: Id,
    service: String,
    environment: String,
    title: String,
    opened_at: Ts,
    resolved_at: Option<Ts>,
    deployment_id: Option<Id>,
    commit_sha: Option<String>,
    fixed_by: Option<Id>,
}

impl From<IncidentRow> for IncidentRecord {
    fn from(row: IncidentRow) -> Self {
        IncidentRecord {
            id: row.id.0,
            service: row.service,
            environment: row.environment,
            title: row.title,
            opened_at: row.opened_at.0,
            resolved_at: row.resolved_at.map(|t| t.0),
            deployment_id: row.deployment_id.map(|i| i.0),
            commit: row.commit_sha,
            fixed_by: row.fixed_by.map(|i| i.0),
        }
    }
}

#[derive(sqlx::FromRow)]
struct ShippedRow {
    shipped_at: Ts,
    authored_at: Ts,
    deployment_id: Id,
}

/// The `service = $n AND environment = $m` part of a query, for the filters that are set,
/// on the columns of `table`, with parameters numbered from `first`.
fn scope_conditions(query: &DoraQuery, table: &str, first: usize) -> (Vec<String>, Vec<String>) {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    for (column, value) in [
        ("service", &query.service),
        ("environment", &query.environment),
    ] {
        if let Some(value) = value {
            conditions.push(format!("{table}.{column} = ${}", first + values.len()));
            values.push(value.clone());
        }
    }
    (conditions, values)
}

impl Store {
    /// Saves a deployment (an upsert by id: a deploy task's record is saved when it starts
    /// and again when it ends).
    pub async fn save_deployment(&self, deployment: &DeploymentRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO deployments ({DEPLOYMENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET service = excluded.service, \
             environment = excluded.environment, commit_sha = excluded.commit_sha, \
             status = excluded.status, kind = excluded.kind, \
             started_at = excluded.started_at, finished_at = excluded.finished_at, \
             run_id = excluded.run_id, task_run = excluded.task_run, origin = excluded.origin"
        );
        on_pool!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(Id(deployment.id))
            .bind(&deployment.service)
            .bind(&deployment.environment)
            .bind(&deployment.commit)
            .bind(deployment.status)
            .bind(deployment.kind.as_str())
            .bind(Ts::opt(deployment.started_at))
            .bind(Ts::opt(deployment.finished_at))
            .bind(deployment.run_id.map(Id))
            .bind(&deployment.task_run)
            .bind(deployment.origin.as_str())
            .execute(pool)
            .await
            .map(drop))
        .map_err(query_error(format!(
            "cannot save deployment {}",
            deployment.id
        )))
    }

    /// The deployment with this id.
    pub async fn deployment(&self, id: Uuid) -> Result<Option<DeploymentRecord>, StoreError> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1");
        let row: Option<DeploymentRow> = on_pool!(self, pool =>
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(Id(id)).fetch_optional(pool).await)
        .map_err(query_error(format!("cannot read deployment {id}")))?;
        Ok(row.map(DeploymentRecord::from))
    }

    /// The deployments a run's tasks made, in the order they started.
    pub async fn deployments_of_run(
        &self,
        run_id: Uuid,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        let sql = format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE run_id = $1 \
             ORDER BY started_at, id"
        );
        let rows: Vec<DeploymentRow> = on_pool!(self, pool =>
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(Id(run_id)).fetch_all(pool).await)
        .map_err(query_error(format!(
            "cannot read the deployments of run {run_id}"
        )))?;
        Ok(rows.into_iter().map(DeploymentRecord::from).collect())
    }

    /// The newest deployments of a service and environment (each filter when set) that
    /// finished in `[from, to)`, at most `limit`; running ones are listed first.
    pub async fn list_deployments(
        &self,
        query: &DoraQuery,
        limit: u32,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        let (mut conditions, values) = scope_conditions(query, "deployments", 1);
        let n = values.len();
        conditions.push(format!(
            "(finished_at IS NULL OR (finished_at >= ${} AND finished_at < ${}))",
            n + 1,
            n + 2
        ));
        let sql = format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE {} \
             ORDER BY finished_at IS NOT NULL, finished_at DESC, id DESC LIMIT ${}",
            conditions.join(" AND "),
            n + 3
        );
        let rows: Vec<DeploymentRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as(AssertSqlSafe(sql.as_str()));
            for value in &values {
                q = q.bind(value);
            }
            q.bind(Ts(query.from)).bind(Ts(query.to)).bind(i64::from(limit)).fetch_all(pool).await
        })
        .map_err(query_error("cannot list deployments"))?;
        Ok(rows.into_iter().map(DeploymentRecord::from).collect())
    }

    /// The commit of the latest successful deployment of `service` to `environment` that
    /// finished before `before`: where the commits a new deployment ships start.
    pub async fn previous_deployed_commit(
        &self,
        service: &str,
        environment: &str,
        before: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        const SQL: &str = "SELECT commit_sha FROM deployments WHERE service = $1 \
             AND environment = $2 AND status = 'Succeeded' AND finished_at < $3 \
             AND commit_sha IS NOT NULL ORDER BY finished_at DESC LIMIT 1";
        let commit: Option<Option<String>> = on_pool!(self, pool => sqlx::query_scalar(SQL)
            .bind(service)
            .bind(environment)
            .bind(Ts(before))
            .fetch_optional(pool)
            .await)
        .map_err(query_error(format!(
            "cannot read the deployments of {service} to {environment}"
        )))?;
        Ok(commit.flatten())
    }

    /// Records the commits a successful deployment shipped: each commit is kept once per
    /// service, and is shipped to the environment by the earliest deployment that shipped
    /// it, whatever order they are recorded in. One transaction.
    pub async fn record_shipped(
        &self,
        deployment: &DeploymentRecord,
        commits: &[CommitRecord],
    ) -> Result<(), StoreError> {
        const COMMIT: &str = "INSERT INTO commits (service, sha, authored_at, parents, subject) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (service, sha) DO NOTHING";
        const SHIPPED: &str = "INSERT INTO shipped_commits \
             (service, environment, sha, deployment_id, shipped_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (service, environment, sha) DO UPDATE \
             SET deployment_id = excluded.deployment_id, shipped_at = excluded.shipped_at \
             WHERE excluded.shipped_at < shipped_commits.shipped_at";
        let Some(finished) = deployment
            .finished_at
            .filter(|_| deployment.status == Status::Succeeded)
        else {
            return Ok(());
        };
        let action = || format!("cannot record the commits of deployment {}", deployment.id);
        on_pool!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                for commit in commits {
                    sqlx::query(COMMIT)
                        .bind(&deployment.service)
                        .bind(&commit.sha)
                        .bind(Ts(commit.authored_at))
                        .bind(i64::from(commit.parents))
                        .bind(&commit.subject)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(SHIPPED)
                        .bind(&deployment.service)
                        .bind(&deployment.environment)
                        .bind(&commit.sha)
                        .bind(Id(deployment.id))
                        .bind(Ts(finished))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await
            }
            .await
        })
        .map_err(query_error(action()))
    }

    /// Saves an incident (an upsert by id).
    pub async fn save_incident(&self, incident: &IncidentRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET service = excluded.service, \
             environment = excluded.environment, title = excluded.title, \
             opened_at = excluded.opened_at, resolved_at = excluded.resolved_at, \
             deployment_id = excluded.deployment_id, commit_sha = excluded.commit_sha, \
             fixed_by = excluded.fixed_by"
        );
        on_pool!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(Id(incident.id))
            .bind(&incident.service)
            .bind(&incident.environment)
            .bind(&incident.title)
            .bind(Ts(incident.opened_at))
            .bind(Ts::opt(incident.resolved_at))
            .bind(incident.deployment_id.map(Id))
            .bind(&incident.commit)
            .bind(incident.fixed_by.map(Id))
            .execute(pool)
            .await
            .map(drop))
        .map_err(query_error(format!("cannot save incident {}", incident.id)))
    }

    /// The incident with this id.
    pub async fn incident(&self, id: Uuid) -> Result<Option<IncidentRecord>, StoreError> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
        let row: Option<IncidentRow> = on_pool!(self, pool =>
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(Id(id)).fetch_optional(pool).await)
        .map_err(query_error(format!("cannot read incident {id}")))?;
        Ok(row.map(IncidentRecord::from))
    }

    /// The incidents of a service and environment (each filter when set) that can concern
    /// `[from, to)`: opened before `to` and not resolved before `from`, newest first.
    pub async fn list_incidents(
        &self,
        query: &DoraQuery,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let (mut conditions, values) = scope_conditions(query, "incidents", 1);
        let n = values.len();
        conditions.push(format!(
            "(resolved_at IS NULL OR resolved_at >= ${})",
            n + 1
        ));
        conditions.push(format!("opened_at < ${}", n + 2));
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {} ORDER BY opened_at DESC, id DESC",
            conditions.join(" AND ")
        );
        self.incidents_where(&sql, &values, &[query.from, query.to])
            .await
    }

    /// The incidents `sql` selects, given the values of its parameters.
    async fn incidents_where(
        &self,
        sql: &str,
        values: &[String],
        times: &[DateTime<Utc>],
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let rows: Vec<IncidentRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as(AssertSqlSafe(sql));
            for value in values {
                q = q.bind(value);
            }
            for time in times {
                q = q.bind(Ts(*time));
            }
            q.fetch_all(pool).await
        })
        .map_err(query_error("cannot list incidents"))?;
        Ok(rows.into_iter().map(IncidentRecord::from).collect())
    }

    /// Reads what the DORA metrics of `query` need: indexed lookups of the window's
    /// deployments, the commits they shipped and the incidents, never the whole history.
    pub async fn dora_history(&self, query: &DoraQuery) -> Result<DoraHistory, StoreError> {
        let (mut conditions, values) = scope_conditions(query, "d", 1);
        let n = values.len();
        conditions.push("d.status IN ('Succeeded', 'Failed')".to_owned());
        conditions.push(format!("d.finished_at >= ${}", n + 1));
        conditions.push(format!("d.finished_at < ${}", n + 2));
        let sql = format!(
            "SELECT {FACT_COLUMNS} FROM deployments d WHERE {} \
             ORDER BY d.service, d.environment, d.finished_at, d.id",
            conditions.join(" AND ")
        );
        let deployments = self.facts(&sql, &values, query).await?;

        let mut following = Vec::new();
        let mut groups: Vec<(&str, &str)> = deployments
            .iter()
            .map(|d| (d.service.as_str(), d.environment.as_str()))
            .collect();
        groups.dedup();
        let next_sql = format!(
            "SELECT {FACT_COLUMNS} FROM deployments d WHERE d.service = $1 \
             AND d.environment = $2 AND d.status = 'Succeeded' AND d.finished_at >= $3 \
             ORDER BY d.finished_at, d.id LIMIT 1"
        );
        for (service, environment) in groups {
            let row: Option<FactRow> = on_pool!(self, pool =>
                sqlx::query_as(AssertSqlSafe(next_sql.as_str()))
                    .bind(service)
                    .bind(environment)
                    .bind(Ts(query.to))
                    .fetch_optional(pool)
                    .await)
            .map_err(query_error("cannot read the deployments after the window"))?;
            following.extend(row.map(DeploymentFact::from));
        }

        // The non-merge commits first shipped in the window and the deployment that shipped
        // each, which counts if it succeeded and had a successful one before it (the first
        // deployment has no baseline). That is decided once per deployment, not per commit:
        // a deployment of the window has it in its fact (`has_previous` is the same
        // condition); any other (normally none: a commit ships when its deployment
        // finishes) is looked up by id.
        let (mut conditions, values) = scope_conditions(query, "s", 1);
        let n = values.len();
        conditions.push(format!("s.shipped_at >= ${}", n + 1));
        conditions.push(format!("s.shipped_at < ${}", n + 2));
        let sql = format!(
            "SELECT s.shipped_at, c.authored_at, s.deployment_id FROM shipped_commits s \
             JOIN commits c ON c.service = s.service AND c.sha = s.sha \
             WHERE {} AND c.parents <= 1",
            conditions.join(" AND ")
        );
        let rows: Vec<ShippedRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as(AssertSqlSafe(sql.as_str()));
            for value in &values {
                q = q.bind(value);
            }
            q.bind(Ts(query.from)).bind(Ts(query.to)).fetch_all(pool).await
        })
        .map_err(query_error("cannot read the commits shipped in the window"))?;
        let mut counts: std::collections::HashMap<Uuid, bool> = deployments
            .iter()
            .map(|d| (d.id, d.status == Status::Succeeded && d.has_previous))
            .collect();
        const COUNTS: &str = "SELECT EXISTS (SELECT 1 FROM deployments p \
             WHERE p.service = d.service AND p.environment = d.environment \
             AND p.status = 'Succeeded' AND p.finished_at < d.finished_at) \
             FROM deployments d WHERE d.id = $1 AND d.status = 'Succeeded'";
        for row in &rows {
            let id = row.deployment_id.0;
            if counts.contains_key(&id) {
                continue;
            }
            let has_previous: Option<bool> = on_pool!(self, pool =>
                sqlx::query_scalar(COUNTS).bind(Id(id)).fetch_optional(pool).await)
            .map_err(query_error(
                "cannot read the deployment of a shipped commit",
            ))?;
            counts.insert(id, has_previous.unwrap_or(false));
        }
        let shipped = rows
            .into_iter()
            .filter(|r| counts[&r.deployment_id.0])
            .map(|r| ShippedCommit {
                shipped_at: r.shipped_at.0,
                authored_at: r.authored_at.0,
            })
            .collect();

        let (mut conditions, values) = scope_conditions(query, "incidents", 1);
        let n = values.len();
        // An incident opened after the window can still concern a deployment in it.
        conditions.push(format!(
            "(opened_at >= ${0} OR resolved_at IS NULL OR resolved_at >= ${0})",
            n + 1
        ));
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {} ORDER BY opened_at, id",
            conditions.join(" AND ")
        );
        let incidents = self.incidents_where(&sql, &values, &[query.from]).await?;
        Ok(DoraHistory {
            deployments,
            following,
            shipped,
            incidents,
        })
    }

    async fn facts(
        &self,
        sql: &str,
        values: &[String],
        query: &DoraQuery,
    ) -> Result<Vec<DeploymentFact>, StoreError> {
        let rows: Vec<FactRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as(AssertSqlSafe(sql));
            for value in values {
                q = q.bind(value);
            }
            q.bind(Ts(query.from)).bind(Ts(query.to)).fetch_all(pool).await
        })
        .map_err(query_error("cannot read the deployments of the window"))?;
        Ok(rows.into_iter().map(DeploymentFact::from).collect())
    }
}
