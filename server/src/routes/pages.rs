//! The reveal page. It never consumes a secret: link previews and scanners fetch it too.

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

/// Renders an operator's plain-text legal page: escaped, blank lines separate paragraphs, and no
/// script or inline style, so it works under the strict CSP.
pub fn legal_page(title: &str, text: &str) -> String {
    let paragraphs: String = text
        .replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let lines: Vec<String> = p.lines().map(escape_html).collect();
            format!("<p>{}</p>\n", lines.join("<br>\n"))
        })
        .collect();
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title} – Hakanai</title>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n{paragraphs}\
<p><a href=\"/\">Back</a></p>\n</main>\n</body>\n</html>\n",
        title = escape_html(title),
    )
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
