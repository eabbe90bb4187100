//! Webhooks from GitHub, GitLab and Gitea (Forgejo): which headers carry what, signatures,
//! and what a payload says, read into the same [`HookEvent`] for every forge.
//!
//! Nothing here does I/O: the server hands in the headers and the body it received.

mod event;
mod gitea;
mod github;
mod gitlab;
mod payload;
mod signature;

use axum::http::HeaderMap;
use serde_json::Value;

pub use event::{Commit, EventKind, Forge, HookEvent};

/// Why a webhook's body or headers cannot be read: the server answers 400.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The header naming the event is absent or not text.
    #[error("no `{0}` header saying which event this is")]
    MissingEvent(&'static str),
    /// A field the event needs is absent, or not of the expected type.
    #[error("the payload has no `{0}` (or it has the wrong type)")]
    MissingField(&'static str),
}

/// Why a webhook's signature is refused: the server answers 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// The header carrying the signature (or GitLab's token) is absent.
    #[error("no `{0}` header")]
    Missing(&'static str),
    /// The signature header is not in the forge's format (`sha256=` and 64 hex digits for
    /// GitHub, 64 hex digits for Gitea).
    #[error("the signature header is malformed")]
    Malformed,
    /// The signature or token does not match the secret.
    #[error("the signature does not match")]
    Mismatch,
    /// The configured secret is empty: anyone could sign with it, so nothing is accepted.
    /// The server should refuse such a configuration when it starts.
    #[error("the webhook secret is empty")]
    EmptySecret,
}

/// What a webhook asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// GitHub's `ping`, sent when a webhook is created: answer 200, run nothing.
    Ping,
    /// A well-formed webhook that starts no run (another event, a closed pull request, a
    /// deleted branch): answer 200 or 202 with the reason.
    Ignored {
        /// The forge's event name, as its header gave it.
        event: String,
        /// Why nothing runs, for a person reading the delivery log.
        reason: String,
    },
    /// A push, tag or pull request that may start a run, if a trigger matches it.
    Run(Box<HookEvent>),
}

/// The header naming the event: `X-GitHub-Event`, `X-Gitlab-Event` or `X-Gitea-Event`
/// (Forgejo also sends `X-Forgejo-Event`, which [`event_name`] accepts).
pub fn event_header(forge: Forge) -> &'static str {
    match forge {
        Forge::GitHub => "X-GitHub-Event",
        Forge::GitLab => "X-Gitlab-Event",
        Forge::Gitea => "X-Gitea-Event",
    }
}

/// The forge's event name (`push`, `Merge Request Hook`, ...), `None` when the header is
/// absent or not text.
pub fn event_name(forge: Forge, headers: &HeaderMap) -> Option<String> {
    match forge {
        Forge::Gitea => {
            header(headers, "X-Gitea-Event").or_else(|| header(headers, "X-Forgejo-Event"))
        }
        _ => header(headers, event_header(forge)),
    }
}

/// The forge's id for this delivery, the same when it redelivers: `X-GitHub-Delivery`;
/// GitLab's `Idempotency-Key`, else `X-Gitlab-Event-UUID`; `X-Gitea-Delivery` (or
/// `X-Forgejo-Delivery`).
pub fn delivery_id(forge: Forge, headers: &HeaderMap) -> Option<String> {
    match forge {
        Forge::GitHub => header(headers, "X-GitHub-Delivery"),
        Forge::GitLab => {
            header(headers, "Idempotency-Key").or_else(|| header(headers, "X-Gitlab-Event-UUID"))
        }
        Forge::Gitea => {
            header(headers, "X-Gitea-Delivery").or_else(|| header(headers, "X-Forgejo-Delivery"))
        }
    }
}

/// The repository a payload is about, before its signature is checked (to find the
/// repository's secret): `repository.full_name` (GitHub, Gitea), `project.path_with_namespace`
/// (GitLab).
pub fn repository(forge: Forge, body: &Value) -> Option<String> {
    let path = match forge {
        Forge::GitHub | Forge::Gitea => "repository.full_name",
        Forge::GitLab => "project.path_with_namespace",
    };
    payload::text(body, path).map(str::to_owned)
}

/// Checks that `body`, the exact bytes received, was sent by someone who knows `secret`:
/// GitHub's `X-Hub-Signature-256`, GitLab's `X-Gitlab-Token`, Gitea's `X-Gitea-Signature`
/// (or Forgejo's `X-Forgejo-Signature`). Comparisons take constant time; hex digits may be
/// upper or lower case.
pub fn verify(
    forge: Forge,
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::EmptySecret);
    }
    match forge {
        Forge::GitHub => {
            let name = "X-Hub-Signature-256";
            let value = signature_header(headers, name)?.ok_or(SignatureError::Missing(name))?;
            let hex = value
                .strip_prefix("sha256=")
                .ok_or(SignatureError::Malformed)?;
            signature::verify_hmac_sha256(secret, body, hex)
        }
        Forge::GitLab => {
            let name = "X-Gitlab-Token";
            let token = headers.get(name).ok_or(SignatureError::Missing(name))?;
            signature::verify_token(secret, token.as_bytes())
        }
        Forge::Gitea => {
            let value = match signature_header(headers, "X-Gitea-Signature")? {
                Some(value) => value,
                None => signature_header(headers, "X-Forgejo-Signature")?
                    .ok_or(SignatureError::Missing("X-Gitea-Signature"))?,
            };
            signature::verify_hmac_sha256(secret, body, value)
        }
    }
}

/// Reads a webhook: a ping, an event that starts nothing (and why), or a [`HookEvent`].
/// The signature is not checked here: call [`verify`] first.
pub fn read(forge: Forge, headers: &HeaderMap, body: &Value) -> Result<Reading, HookError> {
    let event = event_name(forge, headers).ok_or(HookError::MissingEvent(event_header(forge)))?;
    match forge {
        Forge::GitHub => github::read(&event, body),
        Forge::GitLab => gitlab::read(&event, body),
        Forge::Gitea => gitea::read(&event, body),
    }
}

/// Parses a webhook's body, for [`read`] and [`repository`].
pub fn parse(body: &[u8]) -> Result<Value, HookError> {
    Ok(serde_json::from_slice(body)?)
}

/// A header's value as text, `None` when it is absent or not visible ASCII.
fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

/// A signature header: `None` when absent, [`SignatureError::Malformed`] when not ASCII.
fn signature_header<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<Option<&'a str>, SignatureError> {
    headers
        .get(name)
        .map(|value| value.to_str().map_err(|_| SignatureError::Malformed))
        .transpose()
}

/// Real payloads from /work/shared/webhooks, read in place, and headers to send with them.
#[cfg(test)]
pub(crate) mod samples {
    use std::path::PathBuf;

    use axum::http::{HeaderMap, HeaderName, HeaderValue};
    use serde_json::Value;

    /// The bytes of `shared/webhooks/{name}`, e.g. `github/ping_payload.json`.
    pub fn bytes(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/webhooks")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
    }

    /// The parsed JSON of `shared/webhooks/{name}`.
    pub fn json(name: &str) -> Value {
        serde_json::from_slice(&bytes(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
    }

    /// The event of a reading that asks for a run; panics on any other reading.
    pub fn run(reading: super::Reading) -> super::HookEvent {
        match reading {
            super::Reading::Run(event) => *event,
            other => panic!("expected a run, got {other:?}"),
        }
    }

    /// A header map from `(name, value)` pairs.
    pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::try_from(*name).expect("header name"),
                    HeaderValue::try_from(*value).expect("header value"),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::samples::headers;
    use super::*;

    #[test]
    fn event_names_come_from_each_forge_header() {
        let github = headers(&[("x-github-event", "push")]);
        assert_eq!(event_name(Forge::GitHub, &github).as_deref(), Some("push"));
        assert_eq!(event_name(Forge::GitLab, &github), None);

        let gitlab = headers(&[("X-Gitlab-Event", "Merge Request Hook")]);
        assert_eq!(
            event_name(Forge::GitLab, &gitlab).as_deref(),
            Some("Merge Request Hook")
        );

        let gitea = headers(&[("X-Gitea-Event", "push")]);
        assert_eq!(event_name(Forge::Gitea, &gitea).as_deref(), Some("push"));
        let forgejo = headers(&[("X-Forgejo-Event", "pull_request")]);
        assert_eq!(
            event_name(Forge::Gitea, &forgejo).as_deref(),
            Some("pull_request")
        );
    }

    #[test]
    fn delivery_ids() {
        let github = headers(&[("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")]);
        assert_eq!(
            delivery_id(Forge::GitHub, &github).as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );

        let gitlab_both = headers(&[
            ("Idempotency-Key", "key-1"),
            ("X-Gitlab-Event-UUID", "uuid-1"),
        ]);
        assert_eq!(
            delivery_id(Forge::GitLab, &gitlab_both).as_deref(),
            Some("key-1")
        );
        let gitlab_uuid = headers(&[("X-Gitlab-Event-UUID", "uuid-1")]);
        assert_eq!(
            delivery_id(Forge::GitLab, &gitlab_uuid).as_deref(),
            Some("uuid-1")
        );

        let forgejo = headers(&[("X-Forgejo-Delivery", "f-1")]);
        assert_eq!(delivery_id(Forge::Gitea, &forgejo).as_deref(), Some("f-1"));
        assert_eq!(delivery_id(Forge::GitHub, &forgejo), None);
    }

    #[test]
    fn repositories_are_named_before_reading() {
        let github = samples::json("github/push_with-new-branch.payload.json");
        assert_eq!(
            repository(Forge::GitHub, &github).as_deref(),
            Some("Codertocat/Hello-World")
        );
        let gitlab = samples::json("gitlab/merge_request.json");
        assert_eq!(
            repository(Forge::GitLab, &gitlab).as_deref(),
            Some("gitlabhq/gitlab-test")
        );
        assert_eq!(repository(Forge::GitLab, &github), None);
    }

    #[test]
    fn a_missing_event_header_is_an_error_naming_it() {
        let body = samples::json("github/push_with-new-branch.payload.json");
        let err = read(Forge::GitHub, &HeaderMap::new(), &body).unwrap_err();
        assert!(
            matches!(err, HookError::MissingEvent("X-GitHub-Event")),
            "{err:?}"
        );

        // A GitHub header sent to the GitLab endpoint is no GitLab event.
        let github = headers(&[("X-GitHub-Event", "push")]);
        let err = read(Forge::GitLab, &github, &body).unwrap_err();
        assert!(
            matches!(err, HookError::MissingEvent("X-Gitlab-Event")),
            "{err:?}"
        );
    }

    #[test]
    fn malformed_json_is_a_json_error() {
        assert!(matches!(parse(b"{\"ref\": "), Err(HookError::Json(_))));
        let body = samples::bytes("github/push_payload.json");
        assert_eq!(
            parse(&body).unwrap(),
            samples::json("github/push_payload.json")
        );
    }

    #[test]
    fn an_empty_secret_verifies_nothing() {
        // GitLab would otherwise accept an empty token header.
        let gitlab = headers(&[("X-Gitlab-Token", "")]);
        assert_eq!(
            verify(Forge::GitLab, b"", &gitlab, b"{}"),
            Err(SignatureError::EmptySecret)
        );
    }
}
