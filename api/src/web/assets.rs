//! The stylesheet and the script, built into the binary (`assets/`) and served under
//! `/assets/` with a version in their links, so that browsers may cache them.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::ansi::palette_css;

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");

/// The stylesheet with the ANSI palette's rules.
fn style() -> &'static str {
    static CSS: OnceLock<String> = OnceLock::new();
    CSS.get_or_init(|| format!("{STYLE}\n/* ANSI colours */\n{}", palette_css()))
}

fn version(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..6])
}

/// What changes in the stylesheet's link when it changes.
pub fn style_version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| version(style()))
}

/// What changes in the script's link when it changes.
pub fn script_version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| version(SCRIPT))
}

pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "style.css" => (style(), "text/css; charset=utf-8"),
        "app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}
