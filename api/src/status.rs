//! Commit statuses: a run's state reported back to the forge, on the commit it ran for, as
//! GitHub's, GitLab's or Gitea's (Forgejo's) commit status API takes it.
//!
//! [`StatusReporter::report`] checks what goes into the URL, sends one `POST`, and retries a
//! 5xx answer or a network failure twice. The token goes in a header and nowhere else: not
//! in a log line, not in an error.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Serialize;

use crate::config::StatusTarget;
use crate::hooks::Forge;

/// How long one request may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Retries after the first attempt, for a 5xx answer or a network failure.
const RETRIES: u32 = 2;
/// The wait before the first retry; it doubles for the next.
const RETRY_DELAY: Duration = Duration::from_millis(500);
/// How much of a refusal's body an error quotes, in characters.
const BODY_QUOTE: usize = 200;

/// A run's state, as runnel reports it. Each forge spells it its own way
/// ([`CommitState::as_forge_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommitState {
    /// Queued, not started.
    Pending,
    /// Started.
    Running,
    /// Ended, every task succeeded.
    Success,
    /// Ended, a task failed.
    Failure,
    /// Cancelled (by a person, or by a newer push).
    Cancelled,
    /// runnel could not run it (the pipeline did not load, the runner broke).
    Error,
}

impl CommitState {
    /// The `state` the forge's API takes for this one.
    ///
    /// - GitHub has `pending`, `success`, `failure` and `error` only: running is `pending`,
    ///   and cancelled is `error`, since GitHub has no cancelled state.
    /// - GitLab has all six: `pending`, `running`, `success`, `failed`, `canceled`, and
    ///   `failed` for an error.
    /// - Gitea and Forgejo have `pending`, `success`, `failure`, `error` and `warning`:
    ///   running is `pending`, and cancelled is `warning`, which tells it apart from a
    ///   failure yet, not being `success`, still blocks a protected branch's merge.
    pub fn as_forge_state(self, forge: Forge) -> &'static str {
        use CommitState::*;
        match (forge, self) {
            (Forge::GitHub | Forge::Gitea, Pending | Running) => "pending",
            (Forge::GitHub | Forge::Gitea, Success) => "success",
            (Forge::GitHub | Forge::Gitea, Failure) => "failure",
            (Forge::GitHub, Cancelled) => "error",
            (Forge::Gitea, Cancelled) => "warning",
            (Forge::GitHub | Forge::Gitea, Error) => "error",
            (Forge::GitLab, Pending) => "pending",
            (Forge::GitLab, Running) => "running",
            (Forge::GitLab, Success) => "success",
            (Forge::GitLab, Failure | Error) => "failed",
            (Forge::GitLab, Cancelled) => "canceled",
        }
    }
}

/// One status to set on one commit.
#[derive(Debug, Clone)]
pub struct StatusUpdate<'a> {
    /// The repository: `owner/name`, or GitLab's `group/subgroup/project`.
    pub repo: &'a str,
    /// The commit: 40 hex digits (SHA-1) or 64 (SHA-256).
    pub sha: &'a str,
    pub state: CommitState,
    /// One line for people; cut to [`description_limit`] characters.
    pub description: &'a str,
    /// The run's page, linked from the status.
    pub target_url: Option<&'a str>,
    /// The branch or tag the run is for. GitLab only (its `ref`: which pipeline the status
    /// joins; without it, GitLab picks a branch holding the commit); the others ignore it.
    pub git_ref: Option<&'a str>,
    /// What tells this status apart from other systems' on the same commit, e.g.
    /// `runnel/shop-ci` (GitLab calls it `name`). A newer status with the same context
    /// replaces the older.
    pub context: &'a str,
}

/// Why a status was not set.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The HTTP client could not be built (its TLS setup failed).
    #[error("cannot build the HTTP client for commit statuses: {0}")]
    Client(#[source] reqwest::Error),
    /// The sha is not 40 or 64 hex digits; nothing was sent.
    #[error("`{sha}` is not a commit sha (40 or 64 hex digits)")]
    BadSha { sha: String },
    /// The repository path is not one the forge could name; nothing was sent.
    #[error(
        "`{repo}` is not a {} repository path ({})",
        forge_name(.forge),
        repo_shape(.forge)
    )]
    BadRepo { forge: Forge, repo: String },
    /// The configured API address does not make an http(s) URL; nothing was sent.
    #[error(
        "the {} API address `{api_url}` is not an http(s) URL without credentials or a query",
        forge_name(.forge)
    )]
    BadApiUrl { forge: Forge, api_url: String },
    /// The token cannot go in an HTTP header (a control character); nothing was sent.
    #[error("the {} API token is not a valid HTTP header value", forge_name(.forge))]
    BadToken { forge: Forge },
    /// The forge answered, but not with success.
    #[error(
        "{} answered {status} to POST {url} (attempt {attempts}): {body}",
        forge_name(.forge)
    )]
    Refused {
        forge: Forge,
        url: String,
        status: StatusCode,
        /// The start of the answer's body, on one line.
        body: String,
        attempts: u32,
    },
    /// The request did not get an answer: no connection, a TLS failure, a timeout.
    #[error("POST {url} to {} failed (attempt {attempts}): {cause}", forge_name(.forge))]
    Network {
        forge: Forge,
        url: String,
        cause: String,
        attempts: u32,
    },
}

impl StatusError {
    /// A 5xx answer or a network failure: another attempt may succeed.
    fn is_transient(&self) -> bool {
        match self {
            StatusError::Refused { status, .. } => status.is_server_error(),
            StatusError::Network { .. } => true,
            _ => false,
        }
    }

    fn set_attempts(&mut self, n: u32) {
        if let StatusError::Refused { attempts, .. } | StatusError::Network { attempts, .. } = self
        {
            *attempts = n;
        }
    }
}

/// Sends commit statuses. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct StatusReporter {
    client: reqwest::Client,
    retry_delay: Duration,
}

impl StatusReporter {
    /// A reporter with a 10 s timeout per request and the User-Agent `runnel/VERSION`.
    /// Redirects are not followed: a token must not travel to another host, and a
    /// redirected `POST` would become a `GET`.
    pub fn new() -> Result<Self, StatusError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("runnel/", env!("CARGO_PKG_VERSION")))
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(StatusError::Client)?;
        Ok(StatusReporter {
            client,
            retry_delay: RETRY_DELAY,
        })
    }

    /// The same reporter, waiting `delay` before its first retry (then twice that).
    pub fn with_retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// Sets `update` on its commit. A 5xx answer or a network failure is tried again, twice,
    /// after a short wait; any other refusal (a 4xx) is returned at once.
    pub async fn report(
        &self,
        forge: Forge,
        target: &StatusTarget,
        update: &StatusUpdate<'_>,
    ) -> Result<(), StatusError> {
        let request = StatusRequest::new(forge, target, update)?;
        let mut attempt = 1;
        loop {
            match self.send(&request).await {
                Ok(()) => return Ok(()),
                Err(mut e) => {
                    e.set_attempts(attempt);
                    if !e.is_transient() || attempt > RETRIES {
                        return Err(e);
                    }
                    tracing::warn!(
                        forge = forge.as_str(),
                        url = %request.url,
                        attempt,
                        error = %e,
                        "commit status not set; trying again"
                    );
                    tokio::time::sleep(self.retry_delay * 2u32.pow(attempt - 1)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// One attempt; `attempts` in an error is left at 0 for the caller to fill in.
    async fn send(&self, request: &StatusRequest<'_>) -> Result<(), StatusError> {
        let forge = request.forge;
        let mut builder = self
            .client
            .post(request.url.clone())
            .header(ACCEPT, request.accept)
            .header(request.auth.0.clone(), request.auth.1.clone())
            .json(&request.body);
        if forge == Forge::GitHub {
            builder = builder.header("X-GitHub-Api-Version", "2022-11-28");
        }
        let network = |e: reqwest::Error| StatusError::Network {
            forge,
            url: request.url.to_string(),
            cause: request.redact(&causes(&e.without_url())),
            attempts: 0,
        };
        let mut response = builder.send().await.map_err(network)?;
        let status = response.status();
        if status.is_success() {
            tracing::debug!(forge = forge.as_str(), url = %request.url, "commit status set");
            return Ok(());
        }
        // The start of the body is enough to say why; a body that fails half-way still
        // says something.
        let mut body = Vec::new();
        while body.len() < BODY_QUOTE * 4 {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        Err(StatusError::Refused {
            forge,
            url: request.url.to_string(),
            status,
            body: request.redact(&quote(&body)),
            attempts: 0,
        })
    }
}

/// The `description` limit in characters: GitHub refuses more than 140 (`422 description
/// is too long`); GitLab and Gitea document none, and 255 is plenty for one line.
pub fn description_limit(forge: Forge) -> usize {
    match forge {
        Forge::GitHub => 140,
        Forge::GitLab | Forge::Gitea => 255,
    }
}

/// A status ready to send, built and checked before the first attempt.
struct StatusRequest<'a> {
    forge: Forge,
    url: Url,
    accept: &'static str,
    auth: (HeaderName, HeaderValue),
    body: StatusBody<'a>,
    token: &'a str,
}

/// The JSON body; `context` for GitHub and Gitea, `name` and `ref` for GitLab.
#[derive(Debug, Serialize)]
struct StatusBody<'a> {
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_url: Option<&'a str>,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    git_ref: Option<&'a str>,
}

impl<'a> StatusRequest<'a> {
    fn new(
        forge: Forge,
        target: &'a StatusTarget,
        update: &StatusUpdate<'a>,
    ) -> Result<Self, StatusError> {
        if !is_sha(update.sha) {
            return Err(StatusError::BadSha {
                sha: update.sha.to_owned(),
            });
        }
        let repo = repo_path(forge, update.repo).ok_or_else(|| StatusError::BadRepo {
            forge,
            repo: update.repo.to_owned(),
        })?;
        let api = target.api_url.trim_end_matches('/');
        let url = match forge {
            Forge::GitHub | Forge::Gitea => format!("{api}/repos/{repo}/statuses/{}", update.sha),
            Forge::GitLab => format!("{api}/projects/{repo}/statuses/{}", update.sha),
        };
        let url = Url::parse(&url)
            .ok()
            .filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.username().is_empty()
                    && u.password().is_none()
                    && u.query().is_none()
                    && u.fragment().is_none()
            })
            .ok_or_else(|| StatusError::BadApiUrl {
                forge,
                api_url: without_credentials(&target.api_url),
            })?;
        let (name, value, accept) = match forge {
            Forge::GitHub => (
                AUTHORIZATION,
                format!("Bearer {}", target.token),
                "application/vnd.github+json",
            ),
            Forge::GitLab => (
                HeaderName::from_static("private-token"),
                target.token.clone(),
                "application/json",
            ),
            Forge::Gitea => (
                AUTHORIZATION,
                format!("token {}", target.token),
                "application/json",
            ),
        };
        let mut value =
            HeaderValue::from_str(&value).map_err(|_| StatusError::BadToken { forge })?;
        value.set_sensitive(true);
        let (context, name_field, git_ref) = match forge {
            Forge::GitLab => (None, Some(update.context), update.git_ref),
            Forge::GitHub | Forge::Gitea => (Some(update.context), None, None),
        };
        Ok(StatusRequest {
            forge,
            url,
            accept,
            auth: (name, value),
            body: StatusBody {
                state: update.state.as_forge_state(forge),
                target_url: update.target_url,
                description: truncate(update.description, description_limit(forge)),
                context,
                name: name_field,
                git_ref,
            },
            token: &target.token,
        })
    }

    /// `text` with the token, should it appear there, replaced by `***`.
    fn redact(&self, text: &str) -> String {
        if self.token.is_empty() {
            text.to_owned()
        } else {
            text.replace(self.token, "***")
        }
    }
}

/// `url` with its user and password, if any, left out: for an error message.
fn without_credentials(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            // Both fail only for URLs that cannot hold credentials, so have none.
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// 40 hex digits (SHA-1) or 64 (SHA-256).
fn is_sha(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The repository as its URL path names it: `owner/name` for GitHub and Gitea, the whole
/// path percent-encoded as one segment (`group%2Fsub%2Fproject`) for GitLab. `None` for an
/// empty segment, `.` or `..`, a character a forge does not allow in a name (anything but
/// ASCII letters, digits, `-`, `_` and `.`), or the wrong number of segments.
fn repo_path(forge: Forge, repo: &str) -> Option<String> {
    let segments: Vec<&str> = repo.split('/').collect();
    let named = segments.iter().all(|s| {
        !s.is_empty()
            && *s != "."
            && *s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    });
    match forge {
        Forge::GitHub | Forge::Gitea if named && segments.len() == 2 => Some(repo.to_owned()),
        Forge::GitLab if named && segments.len() >= 2 => Some(segments.join("%2F")),
        _ => None,
    }
}

/// What [`StatusError::BadRepo`] expected.
fn repo_shape(forge: &Forge) -> &'static str {
    match forge {
        Forge::GitHub | Forge::Gitea => "expected owner/name",
        Forge::GitLab => "expected group/project or group/subgroup/project",
    }
}

fn forge_name(forge: &Forge) -> &'static str {
    match forge {
        Forge::GitHub => "GitHub",
        Forge::GitLab => "GitLab",
        Forge::Gitea => "Gitea",
    }
}

/// `text` cut to `limit` characters, the last one `…` when something was cut.
fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The start of a body, on one line.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&line, BODY_QUOTE)
}

/// An error and its causes, `: `-separated (reqwest's own message says little alone).
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_truncate(text: &str, limit: usize, expected: &str) {
        assert_eq!(truncate(text, limit), expected);
    }

    #[test]
    fn short_text_is_kept() {
        check_truncate("Build passed", 140, "Build passed");
        check_truncate("", 140, "");
        check_truncate("abc", 3, "abc");
    }

    #[test]
    fn long_text_ends_in_an_ellipsis_within_the_limit() {
        check_truncate("abcd", 3, "ab…");
        // Characters, not bytes: a multi-byte character is never split.
        check_truncate("ééééé", 4, "ééé…");
    }

    #[track_caller]
    fn check_repo(forge: Forge, repo: &str, expected: Option<&str>) {
        assert_eq!(repo_path(forge, repo).as_deref(), expected, "{repo}");
    }

    #[test]
    fn github_and_gitea_repos_are_owner_and_name() {
        for forge in [Forge::GitHub, Forge::Gitea] {
            check_repo(forge, "acme/shop", Some("acme/shop"));
            check_repo(forge, "acme/.github", Some("acme/.github"));
            check_repo(forge, "acme/shop.rs", Some("acme/shop.rs"));
            check_repo(forge, "acme", None);
            check_repo(forge, "acme/shop/extra", None);
        }
    }

    #[test]
    fn gitlab_paths_are_one_encoded_segment() {
        check_repo(Forge::GitLab, "acme/shop", Some("acme%2Fshop"));
        check_repo(Forge::GitLab, "group/sub/proj", Some("group%2Fsub%2Fproj"));
        check_repo(Forge::GitLab, "shop", None);
    }

    #[test]
    fn paths_that_could_leave_the_repository_are_refused() {
        for forge in [Forge::GitHub, Forge::GitLab, Forge::Gitea] {
            for repo in [
                "acme/..",
                "../shop",
                "acme/.",
                "acme//shop",
                "/acme/shop",
                "acme/shop/",
                "acme/sh op",
                "acme/shop?x=1",
                "acme/shop#x",
                "acme/%2e%2e",
                "acme\\shop",
                "",
            ] {
                check_repo(forge, repo, None);
            }
        }
    }

    #[test]
    fn shas_are_40_or_64_hex_digits() {
        assert!(is_sha(&"a".repeat(40)));
        assert!(is_sha(&"0123456789abcdefABCDEF".repeat(3)[..64]));
        assert!(!is_sha(&"a".repeat(39)));
        assert!(!is_sha(&"a".repeat(41)));
        assert!(!is_sha(&"g".repeat(40)));
        assert!(!is_sha("main"));
        assert!(!is_sha(""));
    }

    #[test]
    fn a_quote_is_one_line_and_short() {
        assert_eq!(
            quote(b"{\n  \"message\": \"Bad credentials\"\n}\n"),
            "{ \"message\": \"Bad credentials\" }"
        );
        assert_eq!(quote(&[b'x'; 1000]).chars().count(), BODY_QUOTE);
        assert_eq!(quote(b"\xff ok"), "\u{fffd} ok");
    }
}
