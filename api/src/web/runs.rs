//! `/runs`: the runs, newest first, filtered by repository, branch and status (a GET form),
//! a page at a time. The script keeps statuses and durations current from `/events`, and
//! fetches the rows again (`?part=rows`) when a run it does not show starts.

use std::fmt::Write;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use runnel_engine::store::{RunFilter, RunRecord, Status};
use serde::Deserialize;

use super::html::{
    Page, badge, duration_span, error_page, esc, html, status_class, time, url_encode,
};
use super::session::Viewer;
use crate::server::AppState;

/// Runs on a page.
const PAGE_SIZE: u32 = 50;

pub async fn home() -> Redirect {
    Redirect::to("/runs")
}

/// The list's query string: the filter form's fields, the page (from 1), and `part=rows`
/// for the table's rows alone.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    repo: Option<String>,
    branch: Option<String>,
    status: Option<String>,
    page: Option<u32>,
    part: Option<String>,
}

/// An empty form field is no filter.
fn field(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Response {
    let repo = field(&q.repo);
    let branch = field(&q.branch);
    let status = match field(&q.status).map(|s| s.parse::<Status>()) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            return error_page(StatusCode::BAD_REQUEST, Some(&viewer), &e.to_string());
        }
        None => None,
    };
    let page = q.page.unwrap_or(1).max(1);
    let filter = RunFilter {
        // One more than shown, to know whether there is a next page.
        limit: PAGE_SIZE + 1,
        offset: (page - 1).saturating_mul(PAGE_SIZE),
        status,
        repo: repo.clone(),
        branch: branch.clone(),
        since: None,
        until: None,
    };
    let mut runs = match state.store.list_runs(&filter).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot list runs");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(&viewer),
                "the database is unavailable",
            );
        }
    };
    let more = runs.len() > PAGE_SIZE as usize;
    runs.truncate(PAGE_SIZE as usize);
    if q.part.as_deref() == Some("rows") {
        return html(StatusCode::OK, rows(&runs));
    }

    let mut body = String::new();
    body.push_str("<h1>Runs</h1><form class=\"filters\" method=\"get\" action=\"/runs\">");
    let _ = write!(
        body,
        "<label>Repository <input name=\"repo\" value=\"{}\" placeholder=\"owner/name\"></label>\
         <label>Branch <input name=\"branch\" value=\"{}\" placeholder=\"main\"></label>\
         <label>Status <select name=\"status\"><option value=\"\">any</option>",
        esc(repo.as_deref().unwrap_or("")),
        esc(branch.as_deref().unwrap_or("")),
    );
    for s in Status::ALL {
        let _ = write!(
            body,
            "<option{}>{}</option>",
            if Some(s) == status { " selected" } else { "" },
            s.as_str()
        );
    }
    body.push_str(
        "</select></label><button type=\"submit\">Filter</button>\
         <a class=\"clear\" href=\"/runs\">Clear</a></form>",
    );
    // The rows' own query, for the script to fetch them again.
    let mut query = String::new();
    for (k, v) in [
        ("repo", repo.as_deref()),
        ("branch", branch.as_deref()),
        ("status", status.map(Status::as_str)),
    ] {
        if let Some(v) = v {
            let _ = write!(query, "{k}={}&", url_encode(v));
        }
    }
    let _ = write!(
        body,
        "<table class=\"runs\"><thead><tr><th>Run</th><th>Status</th><th>Repository</th>\
         <th>Branch</th><th>Commit</th><th>Queued</th><th>Started</th><th>Duration</th></tr></thead>\
         <tbody id=\"runs\" data-rows=\"/runs?{}page={page}&amp;part=rows\" data-live=\"{}\">{}</tbody></table>",
        esc(&query),
        // New runs appear live on the first page only.
        if page == 1 { "new" } else { "known" },
        rows(&runs)
    );
    body.push_str("<nav class=\"pages\">");
    if page > 1 {
        let _ = write!(
            body,
            "<a rel=\"prev\" href=\"/runs?{}page={}\">← Newer</a>",
            esc(&query),
            page - 1
        );
    }
    let _ = write!(body, "<span>page {page}</span>");
    if more {
        let _ = write!(
            body,
            "<a rel=\"next\" href=\"/runs?{}page={}\">Older →</a>",
            esc(&query),
            page + 1
        );
    }
    body.push_str("</nav>");
    Page {
        title: "Runs",
        page: "runs",
        viewer: Some(&viewer),
        body,
    }
    .response(StatusCode::OK)
}

/// The table's rows (or one row saying there are none).
fn rows(runs: &[RunRecord]) -> String {
    if runs.is_empty() {
        return "<tr class=\"none\"><td colspan=\"8\">No runs.</td></tr>".to_owned();
    }
    let mut out = String::new();
    for run in runs {
        let commit = run.source.commit.as_deref().unwrap_or("");
        let short: String = commit.chars().take(7).collect();
        let _ = write!(
            out,
            "<tr data-run=\"{id}\" class=\"{class}\"><td><a href=\"/runs/{id}\">{name}</a>\
             <div class=\"sub\">{target}</div></td><td>{badge}</td><td>{repo}</td><td>{branch}</td>\
             <td><code title=\"{commit}\">{short}</code></td><td>{queued}</td>\
             <td data-role=\"started\">{started}</td><td>{duration}</td></tr>",
            id = run.id,
            class = status_class(Some(run.status)),
            name = esc(&run.name),
            target = esc(&run.target),
            badge = badge(Some(run.status)),
            repo = esc(run.source.repo.as_deref().unwrap_or("")),
            branch = esc(run.source.branch.as_deref().unwrap_or("")),
            commit = esc(commit),
            short = esc(&short),
            queued = time(Some(run.queued_at)),
            started = time(run.started_at),
            duration = duration_span(run.started_at, run.finished_at),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_engine::store::{RunKind, Source};

    #[test]
    fn rows_escape_what_runs_hold() {
        let run = RunRecord {
            id: uuid::Uuid::nil(),
            name: "<img src=x onerror=alert(1)>".into(),
            kind: RunKind::PipelineRun,
            target: "ci".into(),
            params: serde_json::json!({}),
            status: Status::Failed,
            reason: "Failed".into(),
            message: None,
            queued_at: chrono::Utc::now(),
            started_at: None,
            finished_at: None,
            results: serde_json::json!({}),
            source: Source {
                repo: Some("a/<b>".into()),
                branch: Some("\"main\"".into()),
                commit: Some("0123456789abcdef".into()),
            },
            runner: "local".into(),
            owner: None,
            log_prefix: String::new(),
        };
        let html = rows(&[run]);
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("a/&lt;b&gt;") && html.contains("&quot;main&quot;"));
        assert!(html.contains("<code title=\"0123456789abcdef\">0123456</code>"));
        assert!(html.contains("badge st-failed"));
        assert!(rows(&[]).contains("No runs."));
    }
}
