//! A forge's webhook, read: what happened to which repository, in the same shape for every
//! forge.

use serde::Serialize;

/// The forges runnel takes webhooks from. Forgejo sends Gitea's webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Forge {
    GitHub,
    GitLab,
    Gitea,
}

impl Forge {
    /// `github`, `gitlab` or `gitea`, as in the webhook paths and the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
            Forge::Gitea => "gitea",
        }
    }
}

/// What kind of change a webhook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Commits pushed to a branch.
    Push,
    /// A tag pushed.
    Tag,
    /// A pull request (GitLab: merge request) opened, updated or reopened.
    PullRequest,
}

impl EventKind {
    /// `push`, `tag` or `pull_request`, as the config file's `events` name them.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Push => "push",
            EventKind::Tag => "tag",
            EventKind::PullRequest => "pull_request",
        }
    }
}

/// A commit a push carried (for the records, and later the DORA lead time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Commit {
    pub id: String,
    /// As the forge gives it (RFC 3339).
    pub timestamp: Option<String>,
    pub message: String,
    pub author: Option<String>,
}

/// A webhook that asks for a run: a push to a branch, a tag, or a pull request opened,
/// updated or reopened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HookEvent {
    pub forge: Forge,
    pub kind: EventKind,
    /// The forge's own event name (`push`, `pull_request`, `Push Hook`, ...).
    pub event: String,
    /// The pull request action (`opened`, `synchronize`, `reopened`; GitLab `open`,
    /// `update`, `reopen`), `None` for pushes.
    pub action: Option<String>,
    /// The repository as the forge names it: `owner/name` (GitLab: `group/sub/name`, its
    /// `path_with_namespace`).
    pub repo: String,
    /// Where to fetch it from (the payload's clone URL over HTTP(S)).
    pub clone_url: String,
    /// The full ref: `refs/heads/main`, `refs/tags/v1`; for a pull request the head
    /// branch's ref (`refs/heads/feature`).
    pub git_ref: String,
    /// The branch (pushes, and a pull request's head branch), without `refs/heads/`.
    pub branch: Option<String>,
    /// The tag, without `refs/tags/`.
    pub tag: Option<String>,
    /// The commit to run: a push's `after`, a pull request's head sha.
    pub sha: String,
    /// The commit before a push (`None` when the forge says all zeros: a new branch).
    pub before: Option<String>,
    /// A pull request's number (GitLab: the merge request's iid).
    pub pull_request: Option<u64>,
    /// A pull request's target branch.
    pub base_branch: Option<String>,
    /// Files the push's commits added, modified or removed, when the payload lists them
    /// (`None` when it does not: then changed-path filters match).
    pub changed_paths: Option<Vec<String>>,
    pub commits: Vec<Commit>,
    /// Who pushed or opened it (login or username).
    pub sender: Option<String>,
}
