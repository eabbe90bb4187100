//! Signing in: a browser holds an API token in the `runnel_token` cookie (HttpOnly,
//! SameSite=Strict), set by `/login` once the store knows the token. [`Viewer`] is the
//! pages' extractor: it takes the cookie (or an `Authorization: Bearer` header) and sends a
//! browser without a valid one to `/login`.

use axum::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::html::{Page, error_page, esc, url_encode};
use crate::auth::token_hash;
use crate::server::AppState;

/// The cookie that holds a browser's token.
pub const COOKIE: &str = "runnel_token";

/// How long a browser keeps its token: 30 days (the token itself is checked every time).
const COOKIE_MAX_AGE: u32 = 30 * 24 * 3600;

/// Who is looking: the name of the token, and whether it may only read.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub name: String,
    pub read_only: bool,
}

/// The token in the `runnel_token` cookie of `headers`, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_owned())
}

/// Whether a request is a browser's navigation (then a missing sign-in is a redirect to
/// the form; for a script's request it is a 401).
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// A path of this site to go back to after signing in: only a local absolute path (no
/// `//host`, no scheme), so that the form cannot send anyone elsewhere.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/') && !p.starts_with("//") && !p.contains(['\\', '\r', '\n']) =>
        {
            p.to_owned()
        }
        _ => "/runs".to_owned(),
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).or_else(|| session_token(&parts.headers));
        let found = match &token {
            Some(token) => state.store.find_token(&token_hash(token)).await,
            None => Ok(None),
        };
        match found {
            Ok(Some(t)) => Ok(Viewer {
                name: t.name,
                read_only: t.read_only,
            }),
            Ok(None) if wants_html(&parts.headers) => {
                let next = parts.uri.path_and_query().map_or("/runs", |p| p.as_str());
                Err(Redirect::to(&format!("/login?next={}", url_encode(next))).into_response())
            }
            Ok(None) => Err((
                StatusCode::UNAUTHORIZED,
                "sign in at /login (or send Authorization: Bearer TOKEN)\n",
            )
                .into_response()),
            Err(e) => {
                tracing::error!(error = %e, "cannot check a token");
                Err(error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "the database is unavailable",
                ))
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login_form(Query(q): Query<LoginQuery>) -> Response {
    login_page(StatusCode::OK, &local_path(q.next.as_deref()), None)
}

fn login_page(status: StatusCode, next: &str, problem: Option<&str>) -> Response {
    let problem = problem.map_or(String::new(), |p| {
        format!("<p class=\"error\" id=\"login-error\">{}</p>", esc(p))
    });
    Page {
        title: "Sign in",
        page: "login",
        viewer: None,
        body: format!(
            "<h1>Sign in</h1>{problem}\
             <form class=\"login\" method=\"post\" action=\"/login\">\
             <label for=\"token\">API token</label>\
             <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required autofocus>\
             <input type=\"hidden\" name=\"next\" value=\"{}\">\
             <button type=\"submit\">Sign in</button></form>\
             <p class=\"hint\">Make a token with <code>runnel token create NAME --read-only</code>.</p>",
            esc(next)
        ),
    }
    .response(status)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

/// Whether a form comes from this site: a browser's `Origin` must name the `Host` it was
/// sent to (a request without `Origin` is no cross-site form).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

fn cookie(value: &str, max_age: u32, secure: bool) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    ))
    .ok()
}

/// Whether the browser reaches the server over HTTPS (then the cookie is `Secure`).
fn secure(state: &AppState) -> bool {
    state
        .settings
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    if !same_origin(&headers) {
        return login_page(StatusCode::FORBIDDEN, &next, Some("this form is not ours"));
    }
    let token = form.token.trim();
    // A token goes into a cookie as it is: only what a token can be made of.
    let well_formed = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let found = if well_formed {
        state.store.find_token(&token_hash(token)).await
    } else {
        Ok(None)
    };
    match found {
        Ok(Some(t)) => match cookie(token, COOKIE_MAX_AGE, secure(&state)) {
            Some(c) => {
                tracing::info!(token = %t.name, "signed in");
                (
                    StatusCode::SEE_OTHER,
                    [(header::SET_COOKIE, c), (header::LOCATION, location(&next))],
                )
                    .into_response()
            }
            None => login_page(StatusCode::BAD_REQUEST, &next, Some("unknown token")),
        },
        Ok(None) => login_page(StatusCode::UNAUTHORIZED, &next, Some("unknown token")),
        Err(e) => {
            tracing::error!(error = %e, "cannot check a token");
            login_page(
                StatusCode::SERVICE_UNAVAILABLE,
                &next,
                Some("the database is unavailable"),
            )
        }
    }
}

fn location(path: &str) -> HeaderValue {
    HeaderValue::from_str(path).unwrap_or(HeaderValue::from_static("/runs"))
}

pub async fn logout(State(state): State<AppState>) -> Response {
    let mut response = Redirect::to("/login").into_response();
    if let Some(c) = cookie("", 0, secure(&state)) {
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn finds_the_token_among_cookies() {
        let h = headers(&[("cookie", "a=1; runnel_token=rnl_abc; b=2")]);
        assert_eq!(session_token(&h).as_deref(), Some("rnl_abc"));
        let h = headers(&[("cookie", "a=1"), ("cookie", "runnel_token=\"rnl_x\"")]);
        assert_eq!(session_token(&h).as_deref(), Some("rnl_x"));
        assert_eq!(
            session_token(&headers(&[("cookie", "runnel_token=")])),
            None
        );
        assert_eq!(
            session_token(&headers(&[("cookie", "xrunnel_token=1")])),
            None
        );
        assert_eq!(session_token(&HeaderMap::new()), None);
    }

    #[test]
    fn only_local_paths_come_back_after_signing_in() {
        assert_eq!(local_path(Some("/runs/abc?x=1")), "/runs/abc?x=1");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "runs",
            "",
        ] {
            assert_eq!(local_path(Some(bad)), "/runs", "{bad}");
        }
        assert_eq!(local_path(None), "/runs");
    }

    #[test]
    fn cross_site_forms_are_refused() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[(
            "origin",
            "http://127.0.0.1:8080"
        )])));
    }

    #[test]
    fn the_cookie_is_http_only_and_strict() {
        let c = cookie("rnl_a", 60, false).unwrap();
        assert_eq!(
            c.to_str().unwrap(),
            "runnel_token=rnl_a; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        assert!(
            cookie("rnl_a", 60, true)
                .unwrap()
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
    }
}
