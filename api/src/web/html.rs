//! What every page shares: escaping (everything that comes from a record or a log goes
//! through [`esc`]), the page shell with its security headers, status badges, times and
//! durations, and query-string encoding.

use std::fmt::Write;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use runnel_engine::store::Status;

use super::assets;
use super::session::Viewer;

/// `text` with HTML's special characters escaped: safe in element content and in quoted
/// attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    esc_into(&mut out, text);
    out
}

/// [`esc`], appending to `out`.
pub fn esc_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `text` percent-encoded for a query string or a path segment.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The headers every HTML answer carries: no script but ours (so that a missed escape
/// cannot run anything), no framing, no sniffing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// An HTML answer (a page or a fragment of one) with the security headers.
pub fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// A whole page: `title` (escaped here), `page` names the page for the script
/// (`data-page` on `<body>`), `body` is HTML already escaped.
pub struct Page<'a> {
    pub title: &'a str,
    pub page: &'a str,
    pub viewer: Option<&'a Viewer>,
    pub body: String,
}

impl Page<'_> {
    pub fn render(self) -> String {
        let mut out = String::with_capacity(self.body.len() + 1024);
        let _ = write!(
            out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · runnel</title>\
             <link rel=\"stylesheet\" href=\"/assets/style.css?v={css}\">\
             <script defer src=\"/assets/app.js?v={js}\"></script></head>\
             <body data-page=\"{page}\"><header class=\"top\"><a class=\"brand\" href=\"/runs\">runnel</a>\
             <nav><a href=\"/runs\">Runs</a><a href=\"/dora\">DORA</a></nav>",
            title = esc(self.title),
            css = assets::style_version(),
            js = assets::script_version(),
            page = esc(self.page),
        );
        if let Some(v) = self.viewer {
            let _ = write!(
                out,
                "<div class=\"who\"><span title=\"the token you signed in with\">{}{}</span>\
                 <form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form></div>",
                esc(&v.name),
                if v.read_only { " (read-only)" } else { "" },
            );
        }
        out.push_str("</header><main>");
        out.push_str(&self.body);
        out.push_str("</main></body></html>\n");
        out
    }

    pub fn response(self, status: StatusCode) -> Response {
        html(status, self.render())
    }
}

/// An error page with `message` (escaped here).
pub fn error_page(status: StatusCode, viewer: Option<&Viewer>, message: &str) -> Response {
    Page {
        title: status.canonical_reason().unwrap_or("Error"),
        page: "error",
        viewer,
        body: format!(
            "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"/runs\">All runs</a></p>",
            status.as_u16(),
            esc(message)
        ),
    }
    .response(status)
}

/// A status's CSS class: `st-running`, `st-succeeded`, ...
pub fn status_class(status: Option<Status>) -> &'static str {
    match status {
        None => "st-pending",
        Some(Status::Queued) => "st-queued",
        Some(Status::Running) => "st-running",
        Some(Status::Succeeded) => "st-succeeded",
        Some(Status::Failed) => "st-failed",
        Some(Status::Cancelled) => "st-cancelled",
        Some(Status::Skipped) => "st-skipped",
    }
}

/// A coloured status badge; `None` is a task that has not started.
pub fn badge(status: Option<Status>) -> String {
    format!(
        "<span class=\"badge {}\" data-role=\"status\">{}</span>",
        status_class(status),
        status.map_or("Pending", Status::as_str)
    )
}

/// A time as `<time>`, in UTC; empty for none.
pub fn time(at: Option<DateTime<Utc>>) -> String {
    match at {
        Some(at) => format!(
            "<time datetime=\"{}\">{}</time>",
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        None => String::new(),
    }
}

/// How long something took (or has taken so far), e.g. `850ms`, `12.3s`, `4m 05s`,
/// `2h 03m`.
pub fn duration(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let ms = (to - from).num_milliseconds().max(0);
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m {:02}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h {:02}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

/// The duration of something started at `start` and finished at `end` (still going when
/// `None`), as a `<span>` the script keeps ticking while it runs; empty when not started.
pub fn duration_span(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> String {
    let Some(start) = start else {
        return "<span class=\"dur\" data-role=\"duration\"></span>".to_owned();
    };
    let to = end.unwrap_or_else(Utc::now);
    let mut out = format!(
        "<span class=\"dur\" data-role=\"duration\" data-start=\"{}\"",
        start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    if let Some(end) = end {
        let _ = write!(
            out,
            " data-end=\"{}\"",
            end.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
    }
    let _ = write!(out, ">{}</span>", duration(start, to));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_html_treats_specially() {
        assert_eq!(
            esc(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(esc("plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(
            url_encode("acme/shop main&x=1"),
            "acme%2Fshop%20main%26x%3D1"
        );
        assert_eq!(url_encode("é"), "%C3%A9");
    }

    #[test]
    fn durations_read_well() {
        let t = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
        let cases = [
            (850, "850ms"),
            (12_340, "12.3s"),
            (245_000, "4m 05s"),
            (7_380_000, "2h 03m"),
        ];
        for (ms, want) in cases {
            assert_eq!(duration(t(0), t(ms)), want);
        }
        // A clock that went backwards is no negative duration.
        assert_eq!(duration(t(1000), t(0)), "0ms");
    }

    #[test]
    fn the_shell_escapes_its_title_and_viewer() {
        let viewer = Viewer {
            name: "<b>me</b>".into(),
            read_only: true,
        };
        let page = Page {
            title: "<i>t</i>",
            page: "runs",
            viewer: Some(&viewer),
            body: "<p>body</p>".into(),
        }
        .render();
        assert!(page.contains("<title>&lt;i&gt;t&lt;/i&gt; · runnel</title>"));
        assert!(page.contains("&lt;b&gt;me&lt;/b&gt; (read-only)"));
        assert!(page.contains("<main><p>body</p></main>"));
    }
}
