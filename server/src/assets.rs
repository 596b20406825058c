//! The web page built into the binary by `build.rs` (the files `cargo xtask web` assembles),
//! served when no `--web-root` is given. Each file carries its content type, an ETag and, when
//! it is smaller, a gzip variant made at build time: clients that accept gzip get it as is, so
//! the compression layer has nothing left to do for them.

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// The URL path, e.g. `/index.html`.
    pub path: &'static str,
    pub content_type: &'static str,
    /// Quoted, e.g. `"0123456789abcdef"`.
    pub etag: &'static str,
    pub body: &'static [u8],
    pub gzip: Option<&'static [u8]>,
}

// Defines `EMBEDDED: &[Asset]`, sorted by path; empty when built with HAKANAI_SKIP_WEB_BUILD.
include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The file for a request path; a path ending in `/` means its `index.html`.
pub fn find(assets: &'static [Asset], path: &str) -> Option<&'static Asset> {
    let path = if path.ends_with('/') {
        std::borrow::Cow::Owned(format!("{path}index.html"))
    } else {
        std::borrow::Cow::Borrowed(path)
    };
    assets
        .binary_search_by(|a| a.path.cmp(&path))
        .ok()
        .map(|i| &assets[i])
}

/// The response for `asset`: gzip when accepted, `304 Not Modified` for a matching ETag.
pub fn response(asset: &'static Asset, method: &Method, headers: &HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, HeaderValue::from_static("GET, HEAD"))],
        )
            .into_response();
    }
    let mut out = HeaderMap::new();
    out.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    if asset.gzip.is_some() {
        out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if etag_matches(headers, asset.etag) {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    let body = match asset.gzip {
        Some(gz) if accepts_gzip(headers) => {
            out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            gz
        }
        _ => asset.body,
    };
    (out, body).into_response()
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// Whether `Accept-Encoding` allows gzip (`gzip` or `*`, with no `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    static ASSETS: &[Asset] = &[
        Asset {
            path: "/a.js",
            content_type: "text/javascript; charset=utf-8",
            etag: "\"1\"",
            body: b"plain",
            gzip: Some(b"gz"),
        },
        Asset {
            path: "/index.html",
            content_type: "text/html; charset=utf-8",
            etag: "\"2\"",
            body: b"<html>",
            gzip: None,
        },
    ];

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn finds_files_and_directory_indexes() {
        assert_eq!(find(ASSETS, "/").unwrap().path, "/index.html");
        assert_eq!(find(ASSETS, "/a.js").unwrap().path, "/a.js");
        assert!(find(ASSETS, "/b.js").is_none());
        assert!(find(ASSETS, "/../a.js").is_none());
        assert!(find(&[], "/").is_none());
    }

    #[test]
    fn gzip_only_when_accepted() {
        let accept = |v| accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, v)]));
        assert!(accept("gzip, deflate, br"));
        assert!(accept("br;q=1.0, gzip;q=0.5"));
        assert!(accept("*"));
        assert!(!accept("gzip;q=0"));
        assert!(!accept("br"));
        assert!(!accepts_gzip(&HeaderMap::new()));

        let gz = response(
            &ASSETS[0],
            &Method::GET,
            &headers(&[(header::ACCEPT_ENCODING, "gzip")]),
        );
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(gz.headers()[header::VARY], "accept-encoding");
        let plain = response(&ASSETS[0], &Method::GET, &HeaderMap::new());
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(
            plain.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
    }

    #[test]
    fn etag_revalidation_and_methods() {
        let hit = response(
            &ASSETS[1],
            &Method::GET,
            &headers(&[(header::IF_NONE_MATCH, "\"x\", \"2\"")]),
        );
        assert_eq!(hit.status(), StatusCode::NOT_MODIFIED);
        let miss = response(
            &ASSETS[1],
            &Method::GET,
            &headers(&[(header::IF_NONE_MATCH, "\"1\"")]),
        );
        assert_eq!(miss.status(), StatusCode::OK);
        assert_eq!(miss.headers()[header::ETAG], "\"2\"");
        let post = response(&ASSETS[1], &Method::POST, &HeaderMap::new());
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn embedded_page_is_sorted_and_typed() {
        assert!(EMBEDDED.windows(2).all(|w| w[0].path < w[1].path));
        for a in EMBEDDED {
            if a.path.ends_with(".wasm") {
                assert_eq!(a.content_type, "application/wasm");
            }
        }
    }
}
