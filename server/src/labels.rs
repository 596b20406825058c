//! The one vocabulary of request labels, shared by metrics (`route`, `http_route`, `method`),
//! log lines and trace spans: a route is its template with parameters written `:id` (Hakanai
//! v3's form), or `(other)` for everything no route matched (static files, 404s); a method is
//! one of a fixed list. Never a concrete path (ids are read capabilities) or a client's string.

use std::borrow::Cow;

use axum::extract::MatchedPath;
use axum::http::Method;

/// Route label: the matched template, or a fixed word for everything else (static files, 404s).
/// Parameters are written `:id` rather than axum's `{id}`: some text-format parsers in the wild
/// (prometheus-parse among them) drop samples whose label values contain braces.
/// Hakanai v3's form of a route template (`/api/v1/secret/:id`); borrowed, unless the template
/// has a parameter.
pub fn route(matched: Option<&MatchedPath>) -> Cow<'_, str> {
    template(matched.map(MatchedPath::as_str))
}

/// [`route`] of a template.
fn template(path: Option<&str>) -> Cow<'_, str> {
    let Some(path) = path else {
        return Cow::Borrowed("(other)");
    };
    if !path.contains(['{', '}']) {
        return Cow::Borrowed(path);
    }
    let mut label = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '{' => label.push(':'),
            '}' => {}
            c => label.push(c),
        }
    }
    Cow::Owned(label)
}

/// Arbitrary method strings would let a client create unbounded series (or span names).
pub fn method(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods_are_a_closed_vocabulary() {
        assert_eq!(route(None), "(other)");
        assert_eq!(
            template(Some("/api/v1/secret/{id}/status")),
            "/api/v1/secret/:id/status"
        );
        assert!(matches!(
            template(Some("/healthy")),
            Cow::Borrowed("/healthy")
        ));
        assert_eq!(method(&Method::PATCH), "PATCH");
        assert_eq!(method(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
