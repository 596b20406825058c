//! The pages: create (`/`, `/create`), reveal (`/s/{id}`; it never consumes a secret: link
//! previews and scanners fetch it too), get, share, one-time-token, the legal pages and the
//! combined stylesheet.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::id::SecretId;
use crate::AppState;

/// Shown when neither the built-in page nor a web root provides `reveal.html` (a binary built
/// with `HAKANAI_SKIP_WEB_BUILD=1`); deliberately free of script and style.
pub const EMBEDDED_REVEAL_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>Hakanai – one-time secret</title>
</head>
<body>
<h1>Hakanai</h1>
<p>Someone shared a one-time secret with you. It can be opened exactly once.</p>
<p>This server was built without its web page. Open the link with the command-line client:
<code>hakanai get &lt;link&gt;</code></p>
</body>
</html>
"#;

pub const EMBEDDED_INDEX_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hakanai</title>
</head>
<body>
<h1>Hakanai</h1>
<p>Zero-knowledge one-time secret sharing. The web page was not built into this server
(it was built with HAKANAI_SKIP_WEB_BUILD) and no --web-root is set;
use the command-line client. The API is described at <a href="/docs">/docs</a>.</p>
</body>
</html>
"#;

const CLI_AGENT_PREFIX: &str = "hakanai-";

pub async fn reveal(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let is_cli = method == Method::GET
        && headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| ua.starts_with(CLI_AGENT_PREFIX));
    if is_cli {
        return crate::routes::secret::read_secret(&state, peer.ip(), &headers, &id).await;
    }
    if SecretId::parse(&id).is_none() {
        return Err(AppError::BadRequest("malformed secret id".into()));
    }
    Ok(html(state.pages.reveal.clone()))
}

pub async fn impressum(State(state): State<AppState>) -> Result<Response, AppError> {
    legal(state.pages.impressum.clone())
}

pub async fn privacy(State(state): State<AppState>) -> Result<Response, AppError> {
    legal(state.pages.privacy.clone())
}

fn legal(page: Option<bytes::Bytes>) -> Result<Response, AppError> {
    page.map(html)
        .ok_or(AppError::NotFound("this page is not configured"))
}

/// Renders an operator's legal page inside the site's layout (stylesheet, logo, footer), with
/// no script of our own. Content with markup is HTML, inserted as it is (Hakanai v3 treats
/// these files as HTML; the operator wrote it, and the CSP still forbids inline script and
/// style); plain text is escaped, with blank lines separating paragraphs.
pub fn legal_page(title: &str, content: &str) -> String {
    let body = if looks_like_html(content) {
        content.to_owned()
    } else {
        content
            .replace("\r\n", "\n")
            .split("\n\n")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let lines: Vec<String> = p.lines().map(escape_html).collect();
                format!("<p>{}</p>\n", lines.join("<br>\n"))
            })
            .collect()
    };
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"referrer\" content=\"no-referrer\">\n\
<meta name=\"color-scheme\" content=\"light dark\">\n\
<title>{title} – Hakanai</title>\n\
<link rel=\"icon\" href=\"/icon.svg\" type=\"image/svg+xml\">\n\
<link rel=\"manifest\" href=\"/manifest.json\">\n\
<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n<body>\n\
<header class=\"top\">\n  <a class=\"brand\" href=\"/\"><img class=\"logo\" src=\"/logo.svg\" alt=\"\" \
width=\"28\" height=\"28\"><span>Hakanai</span></a>\n</header>\n\
<main>\n<section class=\"legal\" aria-labelledby=\"legal-heading\">\n\
<h1 id=\"legal-heading\">{title}</h1>\n<div class=\"legal-content\">\n{body}\n</div>\n</section>\n</main>\n\
<footer>\n  <p><a href=\"/\">Hakanai</a></p>\n</footer>\n</body>\n</html>\n",
        title = escape_html(title),
    )
}

/// Whether the text has markup: a tag, a comment or a doctype (`<` before a letter, `/` or `!`).
fn looks_like_html(text: &str) -> bool {
    text.as_bytes()
        .windows(2)
        .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || w[1] == b'/' || w[1] == b'!'))
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub async fn index(State(state): State<AppState>) -> Response {
    html(state.pages.index.clone())
}

/// `/robots.txt`, as Hakanai v3 served one: only the home page and the docs may be crawled.
pub async fn robots() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        include_str!("robots.txt"),
    )
        .into_response()
}

pub async fn create(State(state): State<AppState>) -> Response {
    html(state.pages.create.clone())
}

pub async fn get(State(state): State<AppState>) -> Response {
    html(state.pages.get.clone())
}

pub async fn share(State(state): State<AppState>) -> Response {
    html(state.pages.share.clone())
}

/// The app's share target posts here (manifest.json, as Hakanai v3's). The service worker
/// answers that POST in the browser; one that reaches the server came before the worker was
/// installed. Its body, plaintext, is never read: the page is told nothing arrived.
pub async fn share_target() -> Response {
    (
        axum::http::StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_static("/share?shared=0"),
        )],
    )
        .into_response()
}

pub async fn one_time_token(State(state): State<AppState>) -> Response {
    html(state.pages.one_time_token.clone())
}

/// `/style.css` with the operator's `style.css` appended (only routed when there is one).
pub async fn style(State(state): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        state.pages.style.clone().unwrap_or_default(),
    )
        .into_response()
}

pub async fn docs(State(state): State<AppState>) -> Response {
    html(state.pages.docs.clone())
}

fn html(body: bytes::Bytes) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}
