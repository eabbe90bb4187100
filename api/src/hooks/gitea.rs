//! Gitea's payloads (Forgejo sends the same): GitHub's shapes, with `synchronized` for a pull
//! request's new commits and a `total_commits` count beside a possibly shortened commit list.
//! Gitea has no `ping`: its "test delivery" sends a `push`.

use serde_json::Value;

use super::github::{Dialect, read_as};
use super::{Forge, HookError, Reading};

const GITEA: Dialect = Dialect {
    forge: Forge::Gitea,
    pull_request_actions: &["opened", "synchronized", "reopened"],
    total_commits: Some("total_commits"),
};

/// Reads a Gitea webhook whose `X-Gitea-Event` (or `X-Forgejo-Event`) is `event`.
pub(super) fn read(event: &str, body: &Value) -> Result<Reading, HookError> {
    read_as(&GITEA, event, body)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::samples::{headers, run};
    use super::super::{Commit, EventKind, HookEvent};
    use super::*;

    const AFTER: &str = "5f4a2b9d3c1e8f7a6b5c4d3e2f1a0b9c8d7e6f5a";
    const BEFORE: &str = "0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e";

    fn read(header: &str, event: &str, body: &Value) -> Reading {
        super::super::read(Forge::Gitea, &headers(&[(header, event)]), body).expect(event)
    }

    fn user(login: &str) -> Value {
        // Gitea's `User` marshals `login` and, for compatibility, `username`.
        json!({"id": 1, "login": login, "username": login, "full_name": "", "email": "a@example.com"})
    }

    fn repository(full_name: &str) -> Value {
        json!({
            "id": 7,
            "owner": user(full_name.split('/').next().unwrap_or_default()),
            "name": full_name.split('/').nth(1).unwrap_or_default(),
            "full_name": full_name,
            "html_url": format!("https://git.example.com/{full_name}"),
            "clone_url": format!("https://git.example.com/{full_name}.git"),
            "ssh_url": format!("git@git.example.com:{full_name}.git"),
            "default_branch": "main",
        })
    }

    /// A push as Gitea's `PushPayload` marshals it (modules/structs/hook.go).
    fn push(git_ref: &str, after: &str, total_commits: u64) -> Value {
        let commit = json!({
            "id": AFTER,
            "message": "Fix the parser\n",
            "url": format!("https://git.example.com/alice/demo/commit/{AFTER}"),
            "author": {"name": "Alice A.", "email": "alice@example.com", "username": "alice"},
            "committer": {"name": "Alice A.", "email": "alice@example.com", "username": "alice"},
            "verification": null,
            "timestamp": "2024-05-01T10:00:00+02:00",
            "added": ["src/lexer.rs"],
            "removed": [],
            "modified": ["src/parser.rs", "README.md"],
        });
        json!({
            "ref": git_ref,
            "before": BEFORE,
            "after": after,
            "compare_url": format!("https://git.example.com/alice/demo/compare/{BEFORE}...{AFTER}"),
            "commits": [commit],
            "total_commits": total_commits,
            "head_commit": commit,
            "repository": repository("alice/demo"),
            "pusher": user("alice"),
            "sender": user("alice"),
        })
    }

    /// A pull request as Gitea's `PullRequestPayload` marshals it, from a fork.
    fn pull_request(action: &str) -> Value {
        json!({
            "action": action,
            "number": 12,
            "pull_request": {
                "id": 40,
                "number": 12,
                "user": user("bob"),
                "title": "Faster lexer",
                "state": "open",
                "base": {"label": "main", "ref": "main", "sha": BEFORE, "repo_id": 7,
                         "repo": repository("alice/demo")},
                "head": {"label": "fast-lexer", "ref": "fast-lexer", "sha": AFTER, "repo_id": 9,
                         "repo": repository("bob/demo")},
                "merge_base": BEFORE,
            },
            "requested_reviewer": null,
            "repository": repository("alice/demo"),
            "sender": user("bob"),
            "commit_id": "",
            "review": null,
        })
    }

    #[test]
    fn push_to_a_branch() {
        let event = run(read(
            "X-Gitea-Event",
            "push",
            &push("refs/heads/main", AFTER, 1),
        ));
        assert_eq!(
            event,
            HookEvent {
                forge: Forge::Gitea,
                kind: EventKind::Push,
                event: "push".to_owned(),
                action: None,
                repo: "alice/demo".to_owned(),
                clone_url: "https://git.example.com/alice/demo.git".to_owned(),
                git_ref: "refs/heads/main".to_owned(),
                branch: Some("main".to_owned()),
                tag: None,
                sha: AFTER.to_owned(),
                before: Some(BEFORE.to_owned()),
                pull_request: None,
                base_branch: None,
                changed_paths: Some(vec![
                    "README.md".to_owned(),
                    "src/lexer.rs".to_owned(),
                    "src/parser.rs".to_owned(),
                ]),
                commits: vec![Commit {
                    id: AFTER.to_owned(),
                    timestamp: Some("2024-05-01T10:00:00+02:00".to_owned()),
                    message: "Fix the parser\n".to_owned(),
                    author: Some("alice".to_owned()),
                }],
                sender: Some("alice".to_owned()),
            }
        );
    }

    #[test]
    fn forgejo_header_and_tags() {
        let event = run(read(
            "X-Forgejo-Event",
            "push",
            &push("refs/tags/v2.1", AFTER, 1),
        ));
        assert_eq!(event.kind, EventKind::Tag);
        assert_eq!(event.tag.as_deref(), Some("v2.1"));
        assert_eq!(event.branch, None);
    }

    #[test]
    fn a_shortened_commit_list_leaves_changed_paths_unknown() {
        let event = run(read(
            "X-Gitea-Event",
            "push",
            &push("refs/heads/main", AFTER, 6),
        ));
        assert_eq!(event.changed_paths, None);
        assert_eq!(event.commits.len(), 1);
    }

    #[test]
    fn a_deletion_runs_nothing() {
        let zeros = "0000000000000000000000000000000000000000";
        assert_eq!(
            read("X-Gitea-Event", "push", &push("refs/heads/old", zeros, 0)),
            Reading::Ignored {
                event: "push".to_owned(),
                reason: "branch deleted".to_owned()
            }
        );
        // Gitea also sends a `delete` event, which is not handled.
        let delete = json!({"ref": "old", "ref_type": "branch", "pusher_type": "user",
                            "repository": repository("alice/demo"), "sender": user("alice")});
        assert_eq!(
            read("X-Gitea-Event", "delete", &delete),
            Reading::Ignored {
                event: "delete".to_owned(),
                reason: "event `delete` is not handled".to_owned()
            }
        );
    }

    #[test]
    fn pull_request_from_a_fork() {
        for action in ["opened", "synchronized", "reopened"] {
            let event = run(read("X-Gitea-Event", "pull_request", &pull_request(action)));
            assert_eq!(
                event,
                HookEvent {
                    forge: Forge::Gitea,
                    kind: EventKind::PullRequest,
                    event: "pull_request".to_owned(),
                    action: Some(action.to_owned()),
                    repo: "alice/demo".to_owned(),
                    clone_url: "https://git.example.com/bob/demo.git".to_owned(),
                    git_ref: "refs/heads/fast-lexer".to_owned(),
                    branch: Some("fast-lexer".to_owned()),
                    tag: None,
                    sha: AFTER.to_owned(),
                    before: None,
                    pull_request: Some(12),
                    base_branch: Some("main".to_owned()),
                    changed_paths: None,
                    commits: Vec::new(),
                    sender: Some("bob".to_owned()),
                }
            );
        }
    }

    #[test]
    fn other_pull_request_actions_and_ping_are_ignored() {
        // GitHub's `synchronize` is not Gitea's word.
        for action in ["closed", "synchronize", "label_updated", "edited"] {
            assert_eq!(
                read("X-Gitea-Event", "pull_request", &pull_request(action)),
                Reading::Ignored {
                    event: "pull_request".to_owned(),
                    reason: format!("pull request action `{action}` is not handled"),
                }
            );
        }
        assert!(matches!(
            read("X-Gitea-Event", "ping", &json!({})),
            Reading::Ignored { .. }
        ));
    }
}
