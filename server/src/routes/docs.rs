//! The OpenAPI document, generated from the handlers, and a static HTML rendering of it.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::PathItem;
use utoipa::{Modify, OpenApi};

use crate::routes::{admin, health, one_time_token, secret, upload};

#[derive(OpenApi)]
#[openapi(
    info(title = "Hakanai", description = "Zero-knowledge one-time secret storage. The server only ever sees ciphertext."),
    paths(
        secret::create, secret::read, secret::revoke, secret::status,
        upload::start, upload::append, upload::finish,
        admin::create_token, admin::list_tokens, admin::revoke_token,
        one_time_token::create,
        health::ready, health::healthy, health::config
    ),
    components(schemas(crate::error::ErrorBody, crate::restrictions::RestrictionsRequest)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}

/// A plain page: the strict CSP forbids the usual script-driven API explorers. Its content is
/// one `<main>` landmark, so screen readers can jump to it (axe checks this page too).
pub fn docs_html() -> String {
    let doc = ApiDoc::openapi();
    let mut rows = String::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in operations(item) {
            let summary = op
                .summary
                .clone()
                .or_else(|| op.description.clone())
                .unwrap_or_default();
            let statuses: Vec<&str> = op.responses.responses.keys().map(String::as_str).collect();
            rows.push_str(&format!(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
                method,
                escape(path),
                escape(&summary),
                escape(&statuses.join(", "))
            ));
        }
    }
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Hakanai API</title>\n</head>\n<body>\n<main>\n<h1>Hakanai API</h1>\n\
         <p>Machine-readable: <a href=\"/api/openapi.json\">/api/openapi.json</a></p>\n\
         <table>\n<thead><tr><th>Method</th><th>Path</th><th>Summary</th><th>Statuses</th></tr></thead>\n\
         <tbody>\n{rows}</tbody>\n</table>\n</main>\n</body>\n</html>\n"
    )
}

fn operations(item: &PathItem) -> Vec<(&'static str, &utoipa::openapi::path::Operation)> {
    [
        ("GET", &item.get),
        ("POST", &item.post),
        ("PUT", &item.put),
        ("DELETE", &item.delete),
        ("PATCH", &item.patch),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
    .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
