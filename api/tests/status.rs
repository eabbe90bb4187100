//! Commit statuses sent to a fake forge on `127.0.0.1:0` that records every request (method,
//! path, headers, JSON body) and answers with the status codes a test gives it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use runnel_api::config::StatusTarget;
use runnel_api::hooks::Forge;
use runnel_api::status::{CommitState, StatusError, StatusReporter, StatusUpdate};
use serde_json::{Value, json};

const TOKEN: &str = "tok-3f9a1c-SECRET";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// One request as the fake forge received it.
#[derive(Debug, Clone)]
struct Received {
    method: Method,
    /// The path as sent, percent-encoding kept.
    path: String,
    headers: HeaderMap,
    body: Value,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    /// The status codes still to answer with, in order; 201 once they run out.
    answers: VecDeque<u16>,
}

/// A forge listening on a free loopback port.
struct FakeForge {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
}

impl FakeForge {
    async fn start(answers: &[u16]) -> FakeForge {
        let log = Arc::new(Mutex::new(Log {
            received: Vec::new(),
            answers: answers.iter().copied().collect(),
        }));
        let shared = log.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let log = shared.clone();
                async move { answer(&log, method, uri, headers, body) }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeForge { addr, log }
    }

    fn target(&self, api_path: &str) -> StatusTarget {
        StatusTarget {
            api_url: format!("http://{}{api_path}", self.addr),
            token: TOKEN.to_owned(),
        }
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }
}

fn answer(
    log: &Mutex<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse + use<> {
    let mut log = log.lock().unwrap();
    let code = log.answers.pop_front().unwrap_or(201);
    // A careless forge that quotes the credentials it refused.
    let reply = match code {
        201 => json!({ "id": 1, "state": "ok" }),
        401 => json!({
            "message": "Bad credentials",
            "sent": headers.get("authorization").or(headers.get("private-token"))
                .map(|v| v.to_str().unwrap().to_owned()),
        }),
        _ => json!({ "message": format!("failure {code}") }),
    };
    log.received.push(Received {
        method,
        path: uri.path().to_owned(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    (StatusCode::from_u16(code).unwrap(), axum::Json(reply))
}

fn reporter() -> StatusReporter {
    StatusReporter::new()
        .unwrap()
        .with_retry_delay(Duration::from_millis(5))
}

fn update<'a>(repo: &'a str, state: CommitState) -> StatusUpdate<'a> {
    StatusUpdate {
        repo,
        sha: SHA,
        state,
        description: "Build passed",
        target_url: Some("https://ci.example/runs/42"),
        git_ref: Some("main"),
        context: "runnel/shop-ci",
    }
}

/// Sends `update` to a fake forge answering `answers`; what it returned and what the forge
/// received.
async fn send(
    forge: Forge,
    api_path: &str,
    answers: &[u16],
    update: &StatusUpdate<'_>,
) -> (Result<(), StatusError>, Vec<Received>) {
    let server = FakeForge::start(answers).await;
    let result = reporter()
        .report(forge, &server.target(api_path), update)
        .await;
    (result, server.received())
}

fn user_agent() -> String {
    format!("runnel/{}", env!("CARGO_PKG_VERSION"))
}

#[tokio::test]
async fn github_request() {
    let (result, got) = send(
        Forge::GitHub,
        "",
        &[],
        &update("acme/shop", CommitState::Success),
    )
    .await;
    result.unwrap();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, format!("/repos/acme/shop/statuses/{SHA}"));
    assert_eq!(r.header("authorization"), Some(&*format!("Bearer {TOKEN}")));
    assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
    assert_eq!(r.header("x-github-api-version"), Some("2022-11-28"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("user-agent"), Some(&*user_agent()));
    assert_eq!(r.header("private-token"), None);
    assert_eq!(
        r.body,
        json!({
            "state": "success",
            "target_url": "https://ci.example/runs/42",
            "description": "Build passed",
            "context": "runnel/shop-ci",
        })
    );
}

#[tokio::test]
async fn gitlab_request() {
    let (result, got) = send(
        Forge::GitLab,
        "/api/v4",
        &[],
        &update("group/sub/proj", CommitState::Running),
    )
    .await;
    result.unwrap();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(
        r.path,
        format!("/api/v4/projects/group%2Fsub%2Fproj/statuses/{SHA}")
    );
    assert_eq!(r.header("private-token"), Some(TOKEN));
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.header("accept"), Some("application/json"));
    assert_eq!(r.header("x-github-api-version"), None);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("user-agent"), Some(&*user_agent()));
    assert_eq!(
        r.body,
        json!({
            "state": "running",
            "target_url": "https://ci.example/runs/42",
            "description": "Build passed",
            "name": "runnel/shop-ci",
            "ref": "main",
        })
    );
}

#[tokio::test]
async fn gitea_request() {
    let (result, got) = send(
        Forge::Gitea,
        "/api/v1/",
        &[],
        &update("acme/shop", CommitState::Failure),
    )
    .await;
    result.unwrap();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, Method::POST);
    // A trailing `/` on the API address does not double.
    assert_eq!(r.path, format!("/api/v1/repos/acme/shop/statuses/{SHA}"));
    assert_eq!(r.header("authorization"), Some(&*format!("token {TOKEN}")));
    assert_eq!(r.header("accept"), Some("application/json"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("user-agent"), Some(&*user_agent()));
    assert_eq!(
        r.body,
        json!({
            "state": "failure",
            "target_url": "https://ci.example/runs/42",
            "description": "Build passed",
            "context": "runnel/shop-ci",
        })
    );
}

#[tokio::test]
async fn every_state_as_each_forge_spells_it() {
    use CommitState::*;
    let table = [
        (Forge::GitHub, Pending, "pending"),
        (Forge::GitHub, Running, "pending"),
        (Forge::GitHub, Success, "success"),
        (Forge::GitHub, Failure, "failure"),
        (Forge::GitHub, Cancelled, "error"),
        (Forge::GitHub, Error, "error"),
        (Forge::GitLab, Pending, "pending"),
        (Forge::GitLab, Running, "running"),
        (Forge::GitLab, Success, "success"),
        (Forge::GitLab, Failure, "failed"),
        (Forge::GitLab, Cancelled, "canceled"),
        (Forge::GitLab, Error, "failed"),
        (Forge::Gitea, Pending, "pending"),
        (Forge::Gitea, Running, "pending"),
        (Forge::Gitea, Success, "success"),
        (Forge::Gitea, Failure, "failure"),
        (Forge::Gitea, Cancelled, "warning"),
        (Forge::Gitea, Error, "error"),
    ];
    let server = FakeForge::start(&[]).await;
    let reporter = reporter();
    for (forge, state, _) in table {
        reporter
            .report(forge, &server.target(""), &update("acme/shop", state))
            .await
            .unwrap();
    }
    let got = server.received();
    assert_eq!(got.len(), table.len());
    for ((forge, state, expected), r) in table.iter().zip(&got) {
        assert_eq!(r.body["state"], *expected, "{forge:?} {state:?}");
        assert_eq!(state.as_forge_state(*forge), *expected);
    }
}

#[tokio::test]
async fn no_target_url_sends_none() {
    let mut u = update("acme/shop", CommitState::Pending);
    u.target_url = None;
    let (result, got) = send(Forge::GitHub, "", &[], &u).await;
    result.unwrap();
    assert_eq!(
        got[0].body,
        json!({ "state": "pending", "description": "Build passed", "context": "runnel/shop-ci" })
    );
}

#[tokio::test]
async fn long_descriptions_are_cut_to_the_forges_limit() {
    let long = "x".repeat(300);
    let mut u = update("acme/shop", CommitState::Failure);
    u.description = &long;

    let (result, got) = send(Forge::GitHub, "", &[], &u).await;
    result.unwrap();
    let sent = got[0].body["description"].as_str().unwrap();
    assert_eq!(sent.chars().count(), 140);
    assert!(sent.ends_with('…'), "{sent}");

    let (result, got) = send(Forge::GitLab, "", &[], &update_in("acme/shop", &long)).await;
    result.unwrap();
    assert_eq!(
        got[0].body["description"].as_str().unwrap().chars().count(),
        255
    );
}

fn update_in<'a>(repo: &'a str, description: &'a str) -> StatusUpdate<'a> {
    StatusUpdate {
        description,
        ..update(repo, CommitState::Failure)
    }
}

#[tokio::test]
async fn a_5xx_is_tried_again() {
    let (result, got) = send(
        Forge::GitHub,
        "",
        &[500, 201],
        &update("acme/shop", CommitState::Success),
    )
    .await;
    result.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, got[1].body);
    assert_eq!(got[0].path, got[1].path);
}

#[tokio::test]
async fn three_5xx_give_up_with_the_last_answer() {
    let (result, got) = send(
        Forge::Gitea,
        "/api/v1",
        &[502, 503, 500, 201],
        &update("acme/shop", CommitState::Success),
    )
    .await;
    assert_eq!(got.len(), 3, "two retries, no more");
    let err = result.unwrap_err();
    match &err {
        StatusError::Refused {
            status, attempts, ..
        } => {
            assert_eq!(status.as_u16(), 500);
            assert_eq!(*attempts, 3);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with("Gitea answered 500 Internal Server Error to POST http://"),
        "{text}"
    );
    assert!(
        text.contains(&format!("/api/v1/repos/acme/shop/statuses/{SHA}")),
        "{text}"
    );
    assert!(text.contains("failure 500"), "{text}");
}

#[tokio::test]
async fn a_4xx_is_not_tried_again_and_the_token_stays_out_of_the_error() {
    for forge in [Forge::GitHub, Forge::GitLab, Forge::Gitea] {
        let (result, got) = send(
            forge,
            "",
            &[401, 201],
            &update("acme/shop", CommitState::Success),
        )
        .await;
        assert_eq!(got.len(), 1, "{forge:?}: a 4xx is final");
        let err = result.unwrap_err();
        assert!(
            matches!(&err, StatusError::Refused { status, attempts: 1, .. } if status.as_u16() == 401),
            "{err:?}"
        );
        let text = err.to_string();
        // The forge quoted the credentials back; the error shows the rest of its answer.
        assert!(text.contains("401 Unauthorized"), "{text}");
        assert!(text.contains("Bad credentials"), "{text}");
        assert!(text.contains("***"), "{text}");
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!format!("{err:?}").contains(TOKEN), "{err:?}");
    }
}

#[tokio::test]
async fn an_unreachable_forge_is_tried_three_times() {
    // A port nothing listens on: bound, then closed.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let target = StatusTarget {
        api_url: format!("http://{addr}"),
        token: TOKEN.to_owned(),
    };
    let err = reporter()
        .report(
            Forge::GitHub,
            &target,
            &update("acme/shop", CommitState::Pending),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StatusError::Network { attempts: 3, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "POST http://{addr}/repos/acme/shop/statuses/{SHA}"
        )),
        "{text}"
    );
    assert!(text.starts_with("POST "), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
}

#[tokio::test]
async fn a_bad_sha_is_refused_without_a_request() {
    for sha in [
        "main",
        "0123456",
        &SHA[1..],
        format!("{SHA}0").as_str(),
        "z".repeat(40).as_str(),
    ] {
        let u = StatusUpdate {
            sha,
            ..update("acme/shop", CommitState::Pending)
        };
        let (result, got) = send(Forge::GitHub, "", &[], &u).await;
        assert!(
            matches!(result, Err(StatusError::BadSha { .. })),
            "{sha}: {result:?}"
        );
        assert!(got.is_empty(), "{sha}");
    }
}

#[tokio::test]
async fn a_sha256_commit_is_taken() {
    let sha = "ab".repeat(32);
    let u = StatusUpdate {
        sha: &sha,
        ..update("acme/shop", CommitState::Pending)
    };
    let (result, got) = send(Forge::Gitea, "", &[], &u).await;
    result.unwrap();
    assert_eq!(got[0].path, format!("/repos/acme/shop/statuses/{sha}"));
}

#[tokio::test]
async fn a_bad_repository_path_is_refused_without_a_request() {
    for (forge, repo) in [
        (Forge::GitHub, "acme/../admin"),
        (Forge::GitHub, "acme//shop"),
        (Forge::GitHub, "acme/shop/extra"),
        (Forge::Gitea, "acme"),
        (Forge::GitLab, "group/../other"),
        (Forge::GitLab, "group/sub/"),
        (Forge::GitLab, "group/pro ject"),
    ] {
        let (result, got) = send(forge, "", &[], &update(repo, CommitState::Pending)).await;
        assert!(
            matches!(result, Err(StatusError::BadRepo { .. })),
            "{forge:?} {repo}: {result:?}"
        );
        assert!(got.is_empty(), "{forge:?} {repo}");
    }
}

#[tokio::test]
async fn a_bad_api_url_or_token_is_refused_without_a_request() {
    let reporter = reporter();
    let u = update("acme/shop", CommitState::Pending);
    for api_url in [
        "gitea.example/api/v1",
        "ftp://gitea.example",
        "",
        "https://gitea.example/api/v1?page=2",
        "https://gitea.example/api/v1#top",
        "https://ci:hunter2@gitea.example/api/v1",
    ] {
        let target = StatusTarget {
            api_url: api_url.to_owned(),
            token: TOKEN.to_owned(),
        };
        let err = reporter
            .report(Forge::Gitea, &target, &u)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StatusError::BadApiUrl { .. }),
            "{api_url}: {err:?}"
        );
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
    let server = FakeForge::start(&[]).await;
    let mut target = server.target("");
    target.token = format!("{TOKEN}\nX-Injected: 1");
    let err = reporter
        .report(Forge::GitHub, &target, &u)
        .await
        .unwrap_err();
    assert!(matches!(err, StatusError::BadToken { .. }), "{err:?}");
    assert!(!err.to_string().contains(TOKEN));
    assert!(server.received().is_empty());
}
