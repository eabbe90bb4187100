//! GitHub's payloads. Gitea and Forgejo send the same shapes under other names, so the
//! reading is shared and a [`Dialect`] says what differs.

use serde_json::Value;

use super::payload::{PullRequest, Push, at, changed_paths, commits, required, text};
use super::{Forge, HookError, Reading};

/// What differs between GitHub-shaped forges.
pub(super) struct Dialect {
    pub forge: Forge,
    /// The pull request actions that bring new code to run.
    pub pull_request_actions: &'static [&'static str],
    /// The field with a push's full commit count, when the forge lists only some commits.
    pub total_commits: Option<&'static str>,
}

const GITHUB: Dialect = Dialect {
    forge: Forge::GitHub,
    pull_request_actions: &["opened", "synchronize", "reopened"],
    total_commits: None,
};

/// Reads a GitHub webhook whose `X-GitHub-Event` is `event`.
pub(super) fn read(event: &str, body: &Value) -> Result<Reading, HookError> {
    match event {
        "ping" => Ok(Reading::Ping),
        _ => read_as(&GITHUB, event, body),
    }
}

/// Reads a `push` or `pull_request` in GitHub's shape; other events are ignored.
pub(super) fn read_as(dialect: &Dialect, event: &str, body: &Value) -> Result<Reading, HookError> {
    match event {
        "push" => push(dialect, event, body),
        "pull_request" => pull_request(dialect, event, body),
        _ => Ok(Reading::Ignored {
            event: event.to_owned(),
            reason: format!("event `{event}` is not handled"),
        }),
    }
}

fn push(dialect: &Dialect, event: &str, body: &Value) -> Result<Reading, HookError> {
    Ok(Push {
        forge: dialect.forge,
        event,
        repo: required(body, "repository.full_name")?,
        clone_url: required(body, "repository.clone_url")?,
        git_ref: required(body, "ref")?,
        sha: Some(required(body, "after")?),
        before: text(body, "before"),
        deleted: at(body, "deleted")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        commits: commits(body)?,
        changed_paths: changed_paths(body, dialect.total_commits),
        sender: sender(body),
    }
    .reading())
}

fn pull_request(dialect: &Dialect, event: &str, body: &Value) -> Result<Reading, HookError> {
    let action = required(body, "action")?;
    if !dialect.pull_request_actions.contains(&action) {
        return Ok(Reading::Ignored {
            event: event.to_owned(),
            reason: format!("pull request action `{action}` is not handled"),
        });
    }
    let number = at(body, "number")
        .or_else(|| at(body, "pull_request.number"))
        .and_then(Value::as_u64)
        .ok_or(HookError::MissingField("number"))?;
    let head_branch = required(body, "pull_request.head.ref")?;
    // The head branch lives in the head repository, a fork's for a pull request from a fork.
    // When that fork was deleted, the base repository still has the pull request's ref.
    let (clone_url, git_ref) = match text(body, "pull_request.head.repo.clone_url") {
        Some(url) => (url, format!("refs/heads/{head_branch}")),
        None => (
            required(body, "repository.clone_url")?,
            format!("refs/pull/{number}/head"),
        ),
    };
    Ok(PullRequest {
        forge: dialect.forge,
        event,
        action,
        repo: required(body, "repository.full_name")?,
        clone_url,
        git_ref,
        head_branch,
        base_branch: required(body, "pull_request.base.ref")?,
        sha: required(body, "pull_request.head.sha")?,
        number,
        sender: sender(body),
    }
    .reading())
}

/// Who sent it: `sender.login` (Gitea also has `sender.username`).
fn sender(body: &Value) -> Option<&str> {
    text(body, "sender.login").or_else(|| text(body, "sender.username"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::samples::{self, headers, run};
    use super::super::{Commit, EventKind, HookEvent};
    use super::*;

    const REPO_URL: &str = "https://github.com/Codertocat/Hello-World.git";
    const PR_HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

    fn read(event: &str, body: &Value) -> Result<Reading, HookError> {
        super::super::read(Forge::GitHub, &headers(&[("X-GitHub-Event", event)]), body)
    }

    fn read_sample(event: &str, name: &str) -> Reading {
        read(event, &samples::json(&format!("github/{name}"))).expect(name)
    }

    fn ignored(event: &str, reason: &str) -> Reading {
        Reading::Ignored {
            event: event.to_owned(),
            reason: reason.to_owned(),
        }
    }

    fn opened_pull_request(action: &str) -> HookEvent {
        HookEvent {
            forge: Forge::GitHub,
            kind: EventKind::PullRequest,
            event: "pull_request".to_owned(),
            action: Some(action.to_owned()),
            repo: "Codertocat/Hello-World".to_owned(),
            clone_url: REPO_URL.to_owned(),
            git_ref: "refs/heads/changes".to_owned(),
            branch: Some("changes".to_owned()),
            tag: None,
            sha: PR_HEAD.to_owned(),
            before: None,
            pull_request: Some(2),
            base_branch: Some("master".to_owned()),
            changed_paths: None,
            commits: Vec::new(),
            sender: Some("Codertocat".to_owned()),
        }
    }

    #[test]
    fn ping() {
        assert_eq!(read_sample("ping", "ping_payload.json"), Reading::Ping);
    }

    #[test]
    fn push_to_a_new_branch() {
        let event = run(read_sample("push", "push_with-new-branch.payload.json"));
        assert_eq!(
            event,
            HookEvent {
                forge: Forge::GitHub,
                kind: EventKind::Push,
                event: "push".to_owned(),
                action: None,
                repo: "Codertocat/Hello-World".to_owned(),
                clone_url: REPO_URL.to_owned(),
                git_ref: "refs/heads/master".to_owned(),
                branch: Some("master".to_owned()),
                tag: None,
                sha: "6113728f27ae82c7b1a177c8d03f9e96e0adf246".to_owned(),
                // `before` is all zeros: the branch is new.
                before: None,
                pull_request: None,
                base_branch: None,
                changed_paths: Some(vec!["README.md".to_owned()]),
                commits: vec![Commit {
                    id: "6113728f27ae82c7b1a177c8d03f9e96e0adf246".to_owned(),
                    timestamp: Some("2019-05-15T15:19:25Z".to_owned()),
                    message: "Initial commit".to_owned(),
                    author: Some("Codertocat".to_owned()),
                }],
                sender: Some("Codertocat".to_owned()),
            }
        );
    }

    #[test]
    fn a_tag_deletion_runs_nothing() {
        assert_eq!(
            read_sample("push", "push_payload.json"),
            ignored("push", "tag deleted")
        );
    }

    #[test]
    fn a_branch_deletion_runs_nothing() {
        let mut body = samples::json("github/push_with-new-branch.payload.json");
        body["deleted"] = json!(true);
        assert_eq!(
            read("push", &body).unwrap(),
            ignored("push", "branch deleted")
        );

        // `after` all zeros alone says the same.
        let mut body = samples::json("github/push_with-new-branch.payload.json");
        body["after"] = json!("0000000000000000000000000000000000000000");
        assert_eq!(
            read("push", &body).unwrap(),
            ignored("push", "branch deleted")
        );
    }

    #[test]
    fn a_pushed_tag() {
        let mut body = samples::json("github/push_with-new-branch.payload.json");
        body["ref"] = json!("refs/tags/v1.0.0");
        body["before"] = json!("f95f852bd8fca8fcc58a9a2d6c842781e32a215e");
        let event = run(read("push", &body).unwrap());
        assert_eq!(event.kind, EventKind::Tag);
        assert_eq!(event.git_ref, "refs/tags/v1.0.0");
        assert_eq!(event.tag.as_deref(), Some("v1.0.0"));
        assert_eq!(event.branch, None);
        assert_eq!(event.sha, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
        assert_eq!(
            event.before.as_deref(),
            Some("f95f852bd8fca8fcc58a9a2d6c842781e32a215e")
        );
    }

    #[test]
    fn a_push_of_another_ref_runs_nothing() {
        let mut body = samples::json("github/push_with-new-branch.payload.json");
        body["ref"] = json!("refs/notes/commits");
        assert_eq!(
            read("push", &body).unwrap(),
            ignored(
                "push",
                "ref `refs/notes/commits` is neither a branch nor a tag"
            )
        );
    }

    #[test]
    fn changed_paths_are_the_union_of_the_commits_files() {
        let mut body = samples::json("github/push_with-new-branch.payload.json");
        body["commits"] = json!([
            {"id": "a1", "message": "one", "author": {"name": "Ann"},
             "added": ["src/new.rs"], "modified": ["README.md"], "removed": []},
            {"id": "b2", "message": "two", "author": {"name": "Bob", "username": "bob"},
             "added": [], "modified": ["README.md"], "removed": ["docs/old.md"]},
        ]);
        let event = run(read("push", &body).unwrap());
        assert_eq!(
            event.changed_paths,
            Some(vec![
                "README.md".to_owned(),
                "docs/old.md".to_owned(),
                "src/new.rs".to_owned()
            ])
        );
        let authors: Vec<_> = event.commits.iter().map(|c| c.author.as_deref()).collect();
        assert_eq!(authors, [Some("Ann"), Some("bob")]);

        // A push listing no commits (a branch created at an existing commit): unknown.
        body["commits"] = json!([]);
        assert_eq!(run(read("push", &body).unwrap()).changed_paths, None);
    }

    #[test]
    fn pull_request_opened() {
        let event = run(read_sample(
            "pull_request",
            "pull_request_opened.payload.json",
        ));
        assert_eq!(event, opened_pull_request("opened"));
    }

    #[test]
    fn pull_request_synchronize() {
        let event = run(read_sample(
            "pull_request",
            "pull_request_synchronize.payload.json",
        ));
        assert_eq!(event, opened_pull_request("synchronize"));
    }

    #[test]
    fn pull_request_closed_runs_nothing() {
        assert_eq!(
            read_sample("pull_request", "pull_request_closed.payload.json"),
            ignored(
                "pull_request",
                "pull request action `closed` is not handled"
            )
        );
        let mut body = samples::json("github/pull_request_opened.payload.json");
        body["action"] = json!("labeled");
        assert_eq!(
            read("pull_request", &body).unwrap(),
            ignored(
                "pull_request",
                "pull request action `labeled` is not handled"
            )
        );
    }

    #[test]
    fn pull_request_from_a_fork_clones_the_fork() {
        let mut body = samples::json("github/pull_request_opened.payload.json");
        body["pull_request"]["head"]["repo"]["full_name"] = json!("someone/Hello-World");
        body["pull_request"]["head"]["repo"]["clone_url"] =
            json!("https://github.com/someone/Hello-World.git");
        let event = run(read("pull_request", &body).unwrap());
        assert_eq!(event.repo, "Codertocat/Hello-World");
        assert_eq!(
            event.clone_url,
            "https://github.com/someone/Hello-World.git"
        );
        assert_eq!(event.git_ref, "refs/heads/changes");

        // The fork deleted: the base repository keeps the pull request's head.
        body["pull_request"]["head"]["repo"] = Value::Null;
        let event = run(read("pull_request", &body).unwrap());
        assert_eq!(event.clone_url, REPO_URL);
        assert_eq!(event.git_ref, "refs/pull/2/head");
        assert_eq!(event.sha, PR_HEAD);
    }

    #[test]
    fn other_events_are_ignored() {
        let body = samples::json("github/ping_payload.json");
        assert_eq!(
            read("issues", &body).unwrap(),
            ignored("issues", "event `issues` is not handled")
        );
    }

    #[test]
    fn a_push_without_repository_is_malformed() {
        let mut body = samples::json("github/push_with-new-branch.payload.json");
        body.as_object_mut().unwrap().remove("repository");
        let err = read("push", &body).unwrap_err();
        assert!(
            matches!(err, HookError::MissingField("repository.full_name")),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "the payload has no `repository.full_name` (or it has the wrong type)"
        );
    }
}
