//! The commits each successful deployment shipped, for the lead time of the DORA metrics
//! (`runnel_engine::dora`): the non-merge commits between the commit of the previous
//! successful deployment of the same service and environment and the deployed one, read
//! from the repository's mirror (`git log PREVIOUS..DEPLOYED`). The first deployment of a
//! service has no previous one, so it ships no commits (it has no baseline).
//!
//! Deployments arrive on a channel, from the recorder (deploy tasks) and from
//! `POST /api/v1/deployments` without a list of commits; one task works through them, so
//! that no webhook or run waits on a fetch.

use std::sync::Arc;

use runnel_engine::store::{CommitRecord, DeploymentRecord, Status, Store};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::git::Mirrors;
use crate::queue::{Queue, Request};

/// Starts the task that records the commits of the deployments sent on `rx`; it ends when
/// every sender is gone.
pub fn spawn(
    mut rx: mpsc::UnboundedReceiver<DeploymentRecord>,
    store: Store,
    queue: Arc<Queue>,
    settings: Arc<Settings>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(deployment) = rx.recv().await {
            match ship(&store, queue.mirrors(), &settings, &deployment).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    deployment = %deployment.id,
                    service = %deployment.service,
                    environment = %deployment.environment,
                    "deployment shipped {n} commits"
                ),
                Err(e) => tracing::warn!(
                    deployment = %deployment.id,
                    "cannot find the commits deployment {} shipped: {e}",
                    deployment.id
                ),
            }
        }
    })
}

/// Records the commits `deployment` shipped; returns how many.
async fn ship(
    store: &Store,
    mirrors: &Mirrors,
    settings: &Settings,
    deployment: &DeploymentRecord,
) -> Result<usize, String> {
    let (Status::Succeeded, Some(commit), Some(finished)) = (
        deployment.status,
        deployment.commit.as_deref(),
        deployment.finished_at,
    ) else {
        return Ok(0);
    };
    let previous = store
        .previous_deployed_commit(&deployment.service, &deployment.environment, finished)
        .await
        .map_err(|e| e.to_string())?;
    let Some(previous) = previous.filter(|p| p != commit) else {
        return Ok(0);
    };
    let Some(url) = clone_url(store, settings, deployment).await else {
        return Err(format!(
            "no clone URL for {} (neither its run's nor a [[repos]] entry's)",
            deployment.service
        ));
    };
    let commits: Vec<CommitRecord> = mirrors
        .commits(&url, Some(&previous), commit)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|c| CommitRecord {
            sha: c.id,
            authored_at: c.author_time,
            // `Mirrors::commits` leaves merge commits out.
            parents: 1,
            subject: c.subject,
        })
        .collect();
    store
        .record_shipped(deployment, &commits)
        .await
        .map_err(|e| e.to_string())?;
    Ok(commits.len())
}

/// Where the service's repository is: the URL its run was queued with, else that of the
/// configured repository of the service's name.
async fn clone_url(
    store: &Store,
    settings: &Settings,
    deployment: &DeploymentRecord,
) -> Option<String> {
    if let Some(run_id) = deployment.run_id
        && let Ok(Some(request)) = store.run_request(run_id).await
        && let Ok(Request::Repo { clone_url, .. }) = serde_json::from_value(request)
    {
        return Some(clone_url);
    }
    settings
        .repos
        .iter()
        .find(|r| r.name == deployment.service)
        .and_then(|r| r.clone_url.clone())
}
