//! GitLab's payloads: `Push Hook`, `Tag Push Hook` and `Merge Request Hook`. GitLab has no
//! ping; system hooks and other events are ignored.

use serde_json::Value;

use super::payload::{PullRequest, Push, at, changed_paths, commits, is_zero_sha, required, text};
use super::{Forge, HookError, Reading};

/// Reads a GitLab webhook whose `X-Gitlab-Event` is `event`.
pub(super) fn read(event: &str, body: &Value) -> Result<Reading, HookError> {
    match event {
        "Push Hook" | "Tag Push Hook" => push(event, body),
        "Merge Request Hook" => merge_request(event, body),
        _ => Ok(ignored(event, format!("event `{event}` is not handled"))),
    }
}

fn ignored(event: &str, reason: String) -> Reading {
    Reading::Ignored {
        event: event.to_owned(),
        reason,
    }
}

fn push(event: &str, body: &Value) -> Result<Reading, HookError> {
    let after = required(body, "after")?;
    // `checkout_sha` is the commit (`after` is the tag object for an annotated tag); null
    // when the ref was deleted.
    let sha = match body.get("checkout_sha") {
        None => Some(after),
        Some(Value::Null) => None,
        Some(sha) => Some(
            sha.as_str()
                .ok_or(HookError::MissingField("checkout_sha"))?,
        ),
    };
    Ok(Push {
        forge: Forge::GitLab,
        event,
        repo: required(body, "project.path_with_namespace")?,
        clone_url: project_clone_url(body)?,
        git_ref: required(body, "ref")?,
        sha,
        before: text(body, "before"),
        deleted: is_zero_sha(after),
        commits: commits(body)?,
        changed_paths: changed_paths(body, Some("total_commits_count")),
        sender: text(body, "user_username"),
    }
    .reading())
}

fn merge_request(event: &str, body: &Value) -> Result<Reading, HookError> {
    let action = required(body, "object_attributes.action")?;
    match action {
        "open" | "reopen" => {}
        // An update brings new commits only when it says which commit came before.
        "update" if text(body, "object_attributes.oldrev").is_some() => {}
        "update" => {
            return Ok(ignored(
                event,
                "merge request updated without new commits".to_owned(),
            ));
        }
        _ => {
            return Ok(ignored(
                event,
                format!("merge request action `{action}` is not handled"),
            ));
        }
    }
    let source_branch = required(body, "object_attributes.source_branch")?;
    let number = at(body, "object_attributes.iid")
        .and_then(Value::as_u64)
        .ok_or(HookError::MissingField("object_attributes.iid"))?;
    // The source project is a fork's for a merge request from a fork.
    let clone_url = match text(body, "object_attributes.source.git_http_url") {
        Some(url) => url,
        None => project_clone_url(body)?,
    };
    Ok(PullRequest {
        forge: Forge::GitLab,
        event,
        action,
        repo: required(body, "project.path_with_namespace")?,
        clone_url,
        git_ref: format!("refs/heads/{source_branch}"),
        head_branch: source_branch,
        base_branch: required(body, "object_attributes.target_branch")?,
        sha: required(body, "object_attributes.last_commit.id")?,
        number,
        sender: text(body, "user.username"),
    }
    .reading())
}

/// The project's `git_http_url` (a push also has it under `repository`).
fn project_clone_url(body: &Value) -> Result<&str, HookError> {
    text(body, "project.git_http_url")
        .or_else(|| text(body, "repository.git_http_url"))
        .ok_or(HookError::MissingField("project.git_http_url"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::samples::{self, headers, run};
    use super::super::{Commit, EventKind, HookEvent};
    use super::*;

    const ZEROS: &str = "0000000000000000000000000000000000000000";

    fn read(event: &str, body: &Value) -> Reading {
        super::super::read(Forge::GitLab, &headers(&[("X-Gitlab-Event", event)]), body)
            .expect(event)
    }

    fn ignored(event: &str, reason: &str) -> Reading {
        super::ignored(event, reason.to_owned())
    }

    #[test]
    fn push() {
        let event = run(read("Push Hook", &samples::json("gitlab/push.json")));
        assert_eq!(
            event,
            HookEvent {
                forge: Forge::GitLab,
                kind: EventKind::Push,
                event: "Push Hook".to_owned(),
                action: None,
                repo: "mike/diaspora".to_owned(),
                clone_url: "http://example.com/mike/diaspora.git".to_owned(),
                git_ref: "refs/heads/master".to_owned(),
                branch: Some("master".to_owned()),
                tag: None,
                sha: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7".to_owned(),
                before: Some("95790bf891e76fee5e1747ab589903a6a1f80f22".to_owned()),
                pull_request: None,
                base_branch: None,
                // `total_commits_count` is 4 but 2 commits are listed: the paths of the
                // other 2 are unknown, so no path filter may exclude this push.
                changed_paths: None,
                commits: vec![
                    Commit {
                        id: "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327".to_owned(),
                        timestamp: Some("2011-12-12T14:27:31+02:00".to_owned()),
                        message: "Merge branch 'some-feature' into 'master'\n\nRelease v1.0.0\n\n\
                                  See merge request jsmith/example!1"
                            .to_owned(),
                        author: Some("Jordi Mallach".to_owned()),
                    },
                    Commit {
                        id: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7".to_owned(),
                        timestamp: Some("2012-01-03T23:36:29+02:00".to_owned()),
                        message: "fixed readme\n".to_owned(),
                        author: Some("GitLab dev user".to_owned()),
                    },
                ],
                sender: Some("jsmith".to_owned()),
            }
        );
    }

    #[test]
    fn push_listing_every_commit_has_changed_paths() {
        let mut body = samples::json("gitlab/push.json");
        body["total_commits_count"] = json!(2);
        let event = run(read("Push Hook", &body));
        assert_eq!(
            event.changed_paths,
            Some(vec![
                "CHANGELOG".to_owned(),
                "app/controller/application.rb".to_owned()
            ])
        );
    }

    #[test]
    fn annotated_tag_runs_the_checked_out_commit() {
        let mut body = samples::json("gitlab/push.json");
        body["object_kind"] = json!("tag_push");
        body["ref"] = json!("refs/tags/v1.0.0");
        body["before"] = json!(ZEROS);
        body["after"] = json!("82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"); // the tag object
        let event = run(read("Tag Push Hook", &body));
        assert_eq!(event.kind, EventKind::Tag);
        assert_eq!(event.tag.as_deref(), Some("v1.0.0"));
        assert_eq!(event.sha, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
        assert_eq!(event.before, None);
    }

    #[test]
    fn deletions_run_nothing() {
        let mut body = samples::json("gitlab/push.json");
        body["after"] = json!(ZEROS);
        body["checkout_sha"] = Value::Null;
        body["commits"] = json!([]);
        assert_eq!(
            read("Push Hook", &body),
            ignored("Push Hook", "branch deleted")
        );

        body["ref"] = json!("refs/tags/v1.0.0");
        assert_eq!(
            read("Tag Push Hook", &body),
            ignored("Tag Push Hook", "tag deleted")
        );
    }

    #[test]
    fn merge_request_opened() {
        let event = run(read(
            "Merge Request Hook",
            &samples::json("gitlab/merge_request.json"),
        ));
        assert_eq!(
            event,
            HookEvent {
                forge: Forge::GitLab,
                kind: EventKind::PullRequest,
                event: "Merge Request Hook".to_owned(),
                action: Some("open".to_owned()),
                repo: "gitlabhq/gitlab-test".to_owned(),
                clone_url: "http://example.com/awesome_space/awesome_project.git".to_owned(),
                git_ref: "refs/heads/ms-viewport".to_owned(),
                branch: Some("ms-viewport".to_owned()),
                tag: None,
                sha: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7".to_owned(),
                before: None,
                pull_request: Some(1),
                base_branch: Some("master".to_owned()),
                changed_paths: None,
                commits: Vec::new(),
                sender: Some("user1".to_owned()),
            }
        );
    }

    #[test]
    fn merge_request_updates_run_only_with_new_commits() {
        let mut body = samples::json("gitlab/merge_request.json");
        body["object_attributes"]["action"] = json!("update");
        assert_eq!(
            read("Merge Request Hook", &body),
            ignored(
                "Merge Request Hook",
                "merge request updated without new commits"
            )
        );

        body["object_attributes"]["oldrev"] = json!("95790bf891e76fee5e1747ab589903a6a1f80f22");
        let event = run(read("Merge Request Hook", &body));
        assert_eq!(event.action.as_deref(), Some("update"));
        assert_eq!(event.sha, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    }

    #[test]
    fn merge_request_without_source_project_clones_the_project() {
        let mut body = samples::json("gitlab/merge_request.json");
        body["object_attributes"]
            .as_object_mut()
            .unwrap()
            .remove("source");
        let event = run(read("Merge Request Hook", &body));
        assert_eq!(
            event.clone_url,
            "http://example.com/gitlabhq/gitlab-test.git"
        );
    }

    #[test]
    fn other_merge_request_actions_and_events_run_nothing() {
        let mut body = samples::json("gitlab/merge_request.json");
        for action in ["close", "merge", "approved"] {
            body["object_attributes"]["action"] = json!(action);
            assert_eq!(
                read("Merge Request Hook", &body),
                ignored(
                    "Merge Request Hook",
                    &format!("merge request action `{action}` is not handled")
                )
            );
        }
        let push = samples::json("gitlab/push.json");
        assert_eq!(
            read("System Hook", &push),
            ignored("System Hook", "event `System Hook` is not handled")
        );
        assert_eq!(
            read("Note Hook", &push),
            ignored("Note Hook", "event `Note Hook` is not handled")
        );
    }

    #[test]
    fn a_merge_request_without_last_commit_is_malformed() {
        let mut body = samples::json("gitlab/merge_request.json");
        body["object_attributes"]
            .as_object_mut()
            .unwrap()
            .remove("last_commit");
        let err = super::super::read(
            Forge::GitLab,
            &headers(&[("X-Gitlab-Event", "Merge Request Hook")]),
            &body,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                HookError::MissingField("object_attributes.last_commit.id")
            ),
            "{err:?}"
        );
    }
}
