//! The server's records: webhook deliveries, the queue of runs waiting to start, API
//! tokens (`migrations/*/0002_server.sql`), and runs' task graphs (`0003_run_graphs.sql`). Same two-backend rules as the rest of the store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::types::Json;
use uuid::Uuid;

use super::codec::{Id, RunRow, Ts, run_columns};
use super::{Pool, RunRecord, Status, Store, StoreError, now, query_error};

/// One webhook delivery, whatever became of it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub id: Uuid,
    /// `github`, `gitlab` or `gitea`.
    pub forge: String,
    /// The forge's id of the delivery (`X-GitHub-Delivery`, ...), when it sent one.
    pub delivery_id: Option<String>,
    /// The forge's event name, with the action for pull requests (`pull_request.opened`).
    pub event: String,
    pub repo: Option<String>,
    pub git_ref: Option<String>,
    pub sha: Option<String>,
    /// repo + event + sha + ref: catches a resend under a new delivery id.
    pub content_key: Option<String>,
    pub received_at: DateTime<Utc>,
    pub outcome: Outcome,
    /// The HTTP status the server answered.
    pub status_code: u16,
    /// Why it was ignored, refused or a duplicate.
    pub reason: Option<String>,
    /// The run it queued (or, for a duplicate, the run queued by the first delivery).
    pub run_id: Option<Uuid>,
}

/// What became of a delivery.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It queued a run.
    Queued,
    /// A ping, an event no trigger wants, a branch deletion, ...
    Ignored,
    /// The same delivery (or the same change) queued a run before.
    Duplicate,
    /// Bad signature, malformed body, unknown repository, ...
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Queued => "queued",
            Outcome::Ignored => "ignored",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Outcome {
        match s {
            "queued" => Outcome::Queued,
            "ignored" => Outcome::Ignored,
            "duplicate" => Outcome::Duplicate,
            _ => Outcome::Rejected,
        }
    }
}

/// What [`Store::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// The run is saved `Queued`.
    Queued,
    /// An earlier delivery with the same delivery id or content key queued this run; the
    /// delivery is saved as a duplicate and no run was made.
    Duplicate(Option<Uuid>),
}

/// One run for [`Store::enqueue_all`]: the run, its request, and the delivery that asked
/// for it (if a webhook did).
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueue {
    pub run: RunRecord,
    pub queued: QueuedRun,
    pub delivery: Option<DeliveryRecord>,
}

/// `d` recorded as a duplicate of `first` (the delivery that queued a run before it).
fn duplicate_of(d: &DeliveryRecord, first: Option<&DeliveryRecord>) -> DeliveryRecord {
    DeliveryRecord {
        outcome: Outcome::Duplicate,
        run_id: first.and_then(|f| f.run_id),
        reason: Some(match first {
            Some(f) if f.delivery_id.is_some() && f.delivery_id == d.delivery_id => format!(
                "delivery {} was received before",
                f.delivery_id.as_deref().unwrap_or_default()
            ),
            _ => {
                "the same change (repository, event, commit and ref) was received before".to_owned()
            }
        }),
        ..d.clone()
    }
}

/// A run waiting to start, with what it is to run.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedRun {
    pub run: RunRecord,
    /// The repository it counts against for the per-repository limit.
    pub repo: Option<String>,
    pub branch: Option<String>,
    /// The server's description of the run (its own JSON).
    pub request: serde_json::Value,
}

/// An API token, without the token (only its hash is kept).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: Uuid,
    pub name: String,
    pub read_only: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: &str = "id, forge, delivery_id, event, repo, git_ref, sha, content_key, \
     received_at, outcome, status_code, reason, run_id";
const INSERT_DELIVERY: &str = "INSERT INTO deliveries (id, forge, delivery_id, event, repo, \
     git_ref, sha, content_key, received_at, outcome, status_code, reason, run_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// Binds a delivery's columns to [`INSERT_DELIVERY`].
macro_rules! bind_delivery {
    ($query:expr, $d:expr) => {
        $query
            .bind(Id($d.id))
            .bind(&$d.forge)
            .bind(&$d.delivery_id)
            .bind(&$d.event)
            .bind(&$d.repo)
            .bind(&$d.git_ref)
            .bind(&$d.sha)
            .bind(&$d.content_key)
            .bind(Ts($d.received_at))
            .bind($d.outcome.as_str())
            .bind(i32::from($d.status_code))
            .bind(&$d.reason)
            .bind($d.run_id.map(Id))
    };
}

fn delivery_from_row<R: Row>(row: &R) -> Result<DeliveryRecord, sqlx::Error>
where
    for<'r> Id: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Ts: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let id: Id = row.try_get("id")?;
    let received_at: Ts = row.try_get("received_at")?;
    let outcome: String = row.try_get("outcome")?;
    let status_code: i32 = row.try_get("status_code")?;
    let run_id: Option<Id> = row.try_get("run_id")?;
    Ok(DeliveryRecord {
        id: id.0,
        forge: row.try_get("forge")?,
        delivery_id: row.try_get("delivery_id")?,
        event: row.try_get("event")?,
        repo: row.try_get("repo")?,
        git_ref: row.try_get("git_ref")?,
        sha: row.try_get("sha")?,
        content_key: row.try_get("content_key")?,
        received_at: received_at.0,
        outcome: Outcome::parse(&outcome),
        status_code: u16::try_from(status_code).unwrap_or(0),
        reason: row.try_get("reason")?,
        run_id: run_id.map(|id| id.0),
    })
}

impl Store {
    /// Saves a delivery that queued nothing (ignored or rejected).
    pub async fn save_delivery(&self, delivery: &DeliveryRecord) -> Result<(), StoreError> {
        on_pool!(self, pool => bind_delivery!(sqlx::query(INSERT_DELIVERY), delivery)
            .execute(pool)
            .await
            .map(drop))
        .map_err(query_error(format!("cannot save delivery {}", delivery.id)))
    }

    /// Saves a run `Queued` with its request and, when it came from a webhook, the
    /// delivery (outcome [`Outcome::Queued`], `run_id` = the run), all in one transaction.
    /// When a delivery with the same forge delivery id or content key queued a run before,
    /// nothing of the run is saved, the delivery is saved as a duplicate of that run, and
    /// [`Enqueued::Duplicate`] says so.
    pub async fn enqueue(
        &self,
        run: &RunRecord,
        queued: &QueuedRun,
        delivery: Option<&DeliveryRecord>,
    ) -> Result<Enqueued, StoreError> {
        let item = Enqueue {
            run: run.clone(),
            queued: queued.clone(),
            delivery: delivery.cloned(),
        };
        let mut done = self.enqueue_all(std::slice::from_ref(&item)).await?;
        Ok(done.pop().unwrap_or(Enqueued::Queued))
    }

    /// [`Store::enqueue`] for several runs in one transaction (one commit for many
    /// webhooks): each item is queued, or found a duplicate, on its own (a savepoint each),
    /// and the answers come in the items' order. Any other error fails them all.
    pub async fn enqueue_all(&self, items: &[Enqueue]) -> Result<Vec<Enqueued>, StoreError> {
        const INSERT_REQUEST: &str =
            "INSERT INTO run_requests (run_id, repo, branch, request) VALUES ($1, $2, $3, $4)";
        let insert_run = super::SAVE_RUN;
        let first_sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE outcome = 'queued' AND \
             ((forge = $1 AND delivery_id = $2) OR content_key = $3) ORDER BY id LIMIT 1"
        );
        let result: Result<Vec<Enqueued>, sqlx::Error> = on_pool!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    sqlx::query("SAVEPOINT enqueue").execute(&mut *tx).await?;
                    let attempt: Result<(), sqlx::Error> = async {
                        super::bind_run!(sqlx::query(insert_run), item.run)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(INSERT_REQUEST)
                            .bind(Id(item.run.id))
                            .bind(&item.queued.repo)
                            .bind(&item.queued.branch)
                            .bind(Json(&item.queued.request))
                            .execute(&mut *tx)
                            .await?;
                        if let Some(d) = &item.delivery {
                            bind_delivery!(sqlx::query(INSERT_DELIVERY), d)
                                .execute(&mut *tx)
                                .await?;
                        }
                        Ok(())
                    }
                    .await;
                    match (attempt, &item.delivery) {
                        (Ok(()), _) => {
                            sqlx::query("RELEASE SAVEPOINT enqueue").execute(&mut *tx).await?;
                            out.push(Enqueued::Queued);
                        }
                        (Err(sqlx::Error::Database(e)), Some(d)) if e.is_unique_violation() => {
                            sqlx::query("ROLLBACK TO SAVEPOINT enqueue").execute(&mut *tx).await?;
                            sqlx::query("RELEASE SAVEPOINT enqueue").execute(&mut *tx).await?;
                            let first = match sqlx::query(sqlx::AssertSqlSafe(first_sql.clone()))
                                .bind(&d.forge)
                                .bind(&d.delivery_id)
                                .bind(&d.content_key)
                                .fetch_optional(&mut *tx)
                                .await?
                            {
                                Some(row) => Some(delivery_from_row(&row)?),
                                None => None,
                            };
                            let duplicate = duplicate_of(d, first.as_ref());
                            bind_delivery!(sqlx::query(INSERT_DELIVERY), duplicate)
                                .execute(&mut *tx)
                                .await?;
                            out.push(Enqueued::Duplicate(duplicate.run_id));
                        }
                        (Err(e), _) => return Err(e),
                    }
                }
                tx.commit().await?;
                Ok(out)
            }
            .await
        });
        result.map_err(query_error(format!("cannot queue {} run(s)", items.len())))
    }

    /// Deliveries, newest first.
    pub async fn list_deliveries(
        &self,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries ORDER BY received_at DESC, id DESC \
             LIMIT $1 OFFSET $2"
        );
        on_pool!(self, pool => {
            match sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(i64::from(limit))
                .bind(i64::from(offset))
                .fetch_all(pool)
                .await
            {
                Ok(rows) => rows.iter().map(delivery_from_row).collect::<Result<Vec<_>, _>>(),
                Err(e) => Err(e),
            }
        })
        .map_err(query_error("cannot list deliveries"))
    }

    /// Runs still `Queued`, oldest first, with their requests.
    pub async fn queued_runs(&self) -> Result<Vec<QueuedRun>, StoreError> {
        let sql = format!(
            "SELECT {}, q.repo AS q_repo, q.branch AS q_branch, q.request AS q_request \
             FROM runs JOIN run_requests q ON q.run_id = runs.id \
             WHERE runs.status = 'Queued' ORDER BY runs.queued_at, runs.id",
            prefixed_run_columns()
        );
        on_pool!(self, pool => {
            match sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await {
                Ok(rows) => rows
                    .iter()
                    .map(|row| {
                        let run = <RunRow as sqlx::FromRow<_>>::from_row(row)?;
                        let request: Json<serde_json::Value> = row.try_get("q_request")?;
                        Ok(QueuedRun {
                            run: RunRecord::from(run),
                            repo: row.try_get("q_repo")?,
                            branch: row.try_get("q_branch")?,
                            request: request.0,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>(),
                Err(e) => Err(e),
            }
        })
        .map_err(query_error("cannot list queued runs"))
    }

    /// The request a run was queued with, if it was queued by the server.
    pub async fn run_request(&self, run_id: Uuid) -> Result<Option<serde_json::Value>, StoreError> {
        const SQL: &str = "SELECT request FROM run_requests WHERE run_id = $1";
        on_pool!(self, pool => {
            match sqlx::query(SQL).bind(Id(run_id)).fetch_optional(pool).await {
                Ok(Some(row)) => row.try_get::<Json<serde_json::Value>, _>("request").map(|j| Some(j.0)),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .map_err(query_error(format!("cannot read the request of run {run_id}")))
    }

    /// Takes a `Queued` run for this process: it becomes `Running` with `owner`, unless
    /// it is no longer `Queued` (cancelled meanwhile). Returns whether it was taken.
    pub async fn claim_run(&self, run_id: Uuid, owner: &str) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE runs SET status = 'Running', reason = 'Running', owner = $2, \
             started_at = $3 WHERE id = $1 AND status = 'Queued'";
        let done = on_pool!(self, pool => sqlx::query(SQL)
            .bind(Id(run_id))
            .bind(owner)
            .bind(Ts(now()))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(query_error(format!("cannot start run {run_id}")))?;
        Ok(done == 1)
    }

    /// Cancels a run that is still `Queued`. Returns whether it was.
    pub async fn cancel_queued(&self, run_id: Uuid, message: &str) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE runs SET status = $2, reason = 'Cancelled', message = $3, \
             finished_at = $4 WHERE id = $1 AND status = 'Queued'";
        let done = on_pool!(self, pool => sqlx::query(SQL)
            .bind(Id(run_id))
            .bind(Status::Cancelled)
            .bind(message)
            .bind(Ts(now()))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(query_error(format!("cannot cancel run {run_id}")))?;
        Ok(done == 1)
    }

    /// Saves the task graph of a run (its tasks and what each runs after), once.
    pub async fn save_run_graph(
        &self,
        run_id: Uuid,
        graph: &serde_json::Value,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO run_graphs (run_id, graph) VALUES ($1, $2) \
             ON CONFLICT (run_id) DO UPDATE SET graph = excluded.graph";
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(Id(run_id))
            .bind(Json(graph))
            .execute(pool)
            .await
            .map(drop))
        .map_err(query_error(format!(
            "cannot save the task graph of run {run_id}"
        )))
    }

    /// The task graph of a run: `[{"name", "after": [names], "finally"}]`, when it is a
    /// PipelineRun that started.
    pub async fn run_graph(&self, run_id: Uuid) -> Result<Option<serde_json::Value>, StoreError> {
        const SQL: &str = "SELECT graph FROM run_graphs WHERE run_id = $1";
        on_pool!(self, pool => {
            match sqlx::query(SQL).bind(Id(run_id)).fetch_optional(pool).await {
                Ok(Some(row)) => row.try_get::<Json<serde_json::Value>, _>("graph").map(|j| Some(j.0)),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .map_err(query_error(format!("cannot read the task graph of run {run_id}")))
    }

    /// Saves a new API token's hash.
    pub async fn create_token(
        &self,
        name: &str,
        token_hash: &str,
        read_only: bool,
    ) -> Result<TokenRecord, StoreError> {
        const SQL: &str = "INSERT INTO api_tokens (id, name, token_hash, read_only, created_at) \
             VALUES ($1, $2, $3, $4, $5)";
        let record = TokenRecord {
            id: super::new_id(),
            name: name.to_owned(),
            read_only,
            created_at: now(),
            last_used_at: None,
        };
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(Id(record.id))
            .bind(name)
            .bind(token_hash)
            .bind(read_only)
            .bind(Ts(record.created_at))
            .execute(pool)
            .await
            .map(drop))
        .map_err(query_error(format!("cannot save the token {name:?}")))?;
        Ok(record)
    }

    /// The token with this hash, if any.
    pub async fn find_token(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        const SQL: &str = "SELECT id, name, read_only, created_at, last_used_at FROM api_tokens \
             WHERE token_hash = $1";
        on_pool!(self, pool => {
            match sqlx::query(SQL).bind(token_hash).fetch_optional(pool).await {
                Ok(Some(row)) => token_from_row(&row).map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .map_err(query_error("cannot look up a token"))
    }

    /// Every token, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        const SQL: &str = "SELECT id, name, read_only, created_at, last_used_at FROM api_tokens \
             ORDER BY created_at, id";
        on_pool!(self, pool => {
            match sqlx::query(SQL).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(token_from_row).collect::<Result<Vec<_>, _>>(),
                Err(e) => Err(e),
            }
        })
        .map_err(query_error("cannot list tokens"))
    }

    /// Deletes a token. Returns whether there was one with that id.
    pub async fn revoke_token(&self, id: Uuid) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM api_tokens WHERE id = $1";
        let done = on_pool!(self, pool => sqlx::query(SQL)
            .bind(Id(id))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(query_error(format!("cannot revoke token {id}")))?;
        Ok(done == 1)
    }
}

fn token_from_row<R: Row>(row: &R) -> Result<TokenRecord, sqlx::Error>
where
    for<'r> Id: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Ts: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let id: Id = row.try_get("id")?;
    let created_at: Ts = row.try_get("created_at")?;
    let last_used_at: Option<Ts> = row.try_get("last_used_at")?;
    Ok(TokenRecord {
        id: id.0,
        name: row.try_get("name")?,
        read_only: row.try_get("read_only")?,
        created_at: created_at.0,
        last_used_at: last_used_at.map(|t| t.0),
    })
}

/// `runs.id, runs.name, ...`: the run columns of a join.
fn prefixed_run_columns() -> String {
    run_columns!()
        .split(',')
        .map(|c| format!("runs.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
