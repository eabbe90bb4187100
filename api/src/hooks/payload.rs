//! Reading fields out of a forge's JSON payload, and the parts of a push every forge shares:
//! refs, all-zero shas, commits and the paths they changed.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Commit, EventKind, Forge, HookError, HookEvent, Reading};

/// The value at a dotted path (`repository.full_name`), if there is one.
pub(super) fn at<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(body, |value, key| value.get(key))
}

/// The string at a dotted path, if there is one.
pub(super) fn text<'a>(body: &'a Value, path: &str) -> Option<&'a str> {
    at(body, path)?.as_str()
}

/// The string at a dotted path, or [`HookError::MissingField`] naming the path.
pub(super) fn required<'a>(body: &'a Value, path: &'static str) -> Result<&'a str, HookError> {
    text(body, path).ok_or(HookError::MissingField(path))
}

/// Whether a sha is the forge's "no commit" (forty zeros): a created or deleted ref.
pub(super) fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// A sha, `None` when absent or all zeros.
pub(super) fn commit_sha(sha: Option<&str>) -> Option<String> {
    sha.filter(|sha| !is_zero_sha(sha)).map(str::to_owned)
}

/// What a pushed ref names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RefName<'a> {
    Branch(&'a str),
    Tag(&'a str),
}

impl<'a> RefName<'a> {
    /// `refs/heads/X` or `refs/tags/X`; `None` for any other ref (notes, merge requests).
    pub(super) fn parse(git_ref: &'a str) -> Option<Self> {
        if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
            Some(RefName::Branch(branch))
        } else {
            git_ref.strip_prefix("refs/tags/").map(RefName::Tag)
        }
    }
}

/// The commits a push lists under `commits`: `id` is required; the author is
/// `author.username`, else `author.name`.
pub(super) fn commits(body: &Value) -> Result<Vec<Commit>, HookError> {
    let Some(list) = body.get("commits").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|commit| {
            let id = text(commit, "id").ok_or(HookError::MissingField("commits[].id"))?;
            Ok(Commit {
                id: id.to_owned(),
                timestamp: text(commit, "timestamp").map(str::to_owned),
                message: text(commit, "message").unwrap_or_default().to_owned(),
                author: text(commit, "author.username")
                    .or_else(|| text(commit, "author.name"))
                    .map(str::to_owned),
            })
        })
        .collect()
}

/// The paths the listed commits added, modified or removed, sorted, or `None` when they
/// cannot be known: no commits listed, or fewer listed than the push has (`total` names the
/// field with the full count: GitLab lists 20, Gitea a configured number).
pub(super) fn changed_paths(body: &Value, total: Option<&str>) -> Option<Vec<String>> {
    let list = body.get("commits")?.as_array()?;
    if list.is_empty() {
        return None;
    }
    let total = total
        .and_then(|field| body.get(field))
        .and_then(Value::as_u64);
    if total.is_some_and(|total| total > list.len() as u64) {
        return None;
    }
    let mut paths = BTreeSet::new();
    for commit in list {
        for field in ["added", "modified", "removed"] {
            let files = commit.get(field).and_then(Value::as_array);
            paths.extend(files.into_iter().flatten().filter_map(Value::as_str));
        }
    }
    Some(paths.into_iter().map(str::to_owned).collect())
}

/// A push, read the same way for every forge once its fields are found.
pub(super) struct Push<'a> {
    pub forge: Forge,
    pub event: &'a str,
    pub repo: &'a str,
    pub clone_url: &'a str,
    pub git_ref: &'a str,
    /// The commit to run; `None` (or all zeros) when the ref was deleted.
    pub sha: Option<&'a str>,
    pub before: Option<&'a str>,
    /// The forge says the ref was deleted.
    pub deleted: bool,
    pub commits: Vec<Commit>,
    pub changed_paths: Option<Vec<String>>,
    pub sender: Option<&'a str>,
}

impl Push<'_> {
    /// A run for a pushed branch or tag; a deleted ref or another kind of ref is ignored.
    pub(super) fn reading(self) -> Reading {
        let ignored = |reason: String| Reading::Ignored {
            event: self.event.to_owned(),
            reason,
        };
        let Some(name) = RefName::parse(self.git_ref) else {
            return ignored(format!(
                "ref `{}` is neither a branch nor a tag",
                self.git_ref
            ));
        };
        let sha = match self.sha {
            Some(sha) if !self.deleted && !is_zero_sha(sha) => sha,
            _ => {
                return ignored(match name {
                    RefName::Branch(_) => "branch deleted".to_owned(),
                    RefName::Tag(_) => "tag deleted".to_owned(),
                });
            }
        };
        let (kind, branch, tag) = match name {
            RefName::Branch(branch) => (EventKind::Push, Some(branch.to_owned()), None),
            RefName::Tag(tag) => (EventKind::Tag, None, Some(tag.to_owned())),
        };
        Reading::Run(Box::new(HookEvent {
            forge: self.forge,
            kind,
            event: self.event.to_owned(),
            action: None,
            repo: self.repo.to_owned(),
            clone_url: self.clone_url.to_owned(),
            git_ref: self.git_ref.to_owned(),
            branch,
            tag,
            sha: sha.to_owned(),
            before: commit_sha(self.before),
            pull_request: None,
            base_branch: None,
            changed_paths: self.changed_paths,
            commits: self.commits,
            sender: self.sender.map(str::to_owned),
        }))
    }
}

/// A pull request (merge request) opened or updated, once its fields are found.
pub(super) struct PullRequest<'a> {
    pub forge: Forge,
    pub event: &'a str,
    pub action: &'a str,
    /// The base (target) repository.
    pub repo: &'a str,
    /// Where the head branch lives: a fork's URL for a pull request from a fork.
    pub clone_url: &'a str,
    pub git_ref: String,
    pub head_branch: &'a str,
    pub base_branch: &'a str,
    pub sha: &'a str,
    pub number: u64,
    pub sender: Option<&'a str>,
}

impl PullRequest<'_> {
    pub(super) fn reading(self) -> Reading {
        Reading::Run(Box::new(HookEvent {
            forge: self.forge,
            kind: EventKind::PullRequest,
            event: self.event.to_owned(),
            action: Some(self.action.to_owned()),
            repo: self.repo.to_owned(),
            clone_url: self.clone_url.to_owned(),
            git_ref: self.git_ref,
            branch: Some(self.head_branch.to_owned()),
            tag: None,
            sha: self.sha.to_owned(),
            before: None,
            pull_request: Some(self.number),
            base_branch: Some(self.base_branch.to_owned()),
            changed_paths: None,
            commits: Vec::new(),
            sender: self.sender.map(str::to_owned),
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn refs() {
        assert_eq!(
            RefName::parse("refs/heads/main"),
            Some(RefName::Branch("main"))
        );
        assert_eq!(
            RefName::parse("refs/heads/release/1.x"),
            Some(RefName::Branch("release/1.x"))
        );
        assert_eq!(RefName::parse("refs/tags/v1.0"), Some(RefName::Tag("v1.0")));
        assert_eq!(RefName::parse("refs/notes/commits"), None);
        assert_eq!(RefName::parse("main"), None);
    }

    #[test]
    fn zero_shas() {
        assert!(is_zero_sha("0000000000000000000000000000000000000000"));
        assert!(!is_zero_sha("6113728f27ae82c7b1a177c8d03f9e96e0adf246"));
        assert!(!is_zero_sha(""));
        assert_eq!(
            commit_sha(Some("0000000000000000000000000000000000000000")),
            None
        );
        assert_eq!(commit_sha(Some("abc")).as_deref(), Some("abc"));
    }

    #[test]
    fn changed_paths_are_unknown_when_the_list_is_cut_short() {
        let body = json!({
            "total_commits_count": 3,
            "commits": [
                {"id": "a", "added": ["b.txt"], "modified": ["a.txt"], "removed": []},
                {"id": "b", "added": [], "modified": ["a.txt"], "removed": ["c.txt"]},
            ],
        });
        assert_eq!(changed_paths(&body, Some("total_commits_count")), None);
        assert_eq!(
            changed_paths(&body, None),
            Some(vec![
                "a.txt".to_owned(),
                "b.txt".to_owned(),
                "c.txt".to_owned()
            ])
        );
        assert_eq!(changed_paths(&json!({"commits": []}), None), None);
        assert_eq!(changed_paths(&json!({}), None), None);
    }

    #[test]
    fn a_commit_without_id_is_malformed() {
        let body = json!({"commits": [{"message": "x"}]});
        assert!(matches!(
            commits(&body),
            Err(HookError::MissingField("commits[].id"))
        ));
    }
}
