//! Liveness, readiness against the store, the options the page needs, and the Prometheus scrape.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::AppState;

#[utoipa::path(get, path = "/ready", tag = "health", responses((status = 200, description = "The process is up")))]
/// The process is up.
pub async fn ready() -> &'static str {
    "ready"
}

#[utoipa::path(
    get, path = "/healthy", tag = "health",
    responses((status = 200, description = "The store is reachable"), (status = 503, body = ErrorBody))
)]
/// The store is reachable.
pub async fn healthy(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "healthy").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: store unavailable");
            // Says what the server is doing about it, without internals (addresses, errors).
            let body = ErrorBody {
                error: "service_unavailable",
                details: "storage is unavailable; reconnecting (every request retries, \
                          bounded by --redis-timeout)"
                    .into(),
            };
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicConfig {
    /// Largest secret (decoded bytes) a user token may upload.
    pub upload_size_limit: u64,
    pub allow_anonymous: bool,
    /// Largest secret an anonymous client may upload; 0 when anonymous uploads are off.
    pub anonymous_upload_size_limit: u64,
    pub max_ttl_seconds: u64,
    pub default_ttl_seconds: u64,
    pub max_passphrase_attempts: u32,
    /// Whether country restrictions can be checked (`--country-header` is set); else creating
    /// one is refused with 501. Also in `features.restrictions.country`.
    pub country_restrictions: bool,
    /// Whether ASN restrictions can be checked (`--asn-header` is set); else 501.
    pub asn_restrictions: bool,
    /// Hakanai v3's shape of the optional features, kept under its names for pages and scripts
    /// written against it.
    pub features: Features,
    /// Whether the page shows the token field: always when uploads need a token, else with
    /// `--show-token-input` (Hakanai v3's meaning; `?show_token` on the page shows it too).
    pub show_token_input: bool,
    /// Path of the legal notice page, when the operator configured one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impressum_url: Option<String>,
    /// Path of the privacy policy page, when the operator configured one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy_url: Option<String>,
}

/// Hakanai v3's `features` object of `/config.json`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Features {
    /// A legal notice page is configured.
    pub impressum: bool,
    /// A privacy policy page is configured.
    pub privacy: bool,
    pub restrictions: RestrictionFeatures,
}

/// Which reader restrictions beyond IP ranges this server can check.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RestrictionFeatures {
    /// `--country-header` is set.
    pub country: bool,
    /// `--asn-header` is set.
    pub asn: bool,
}

#[utoipa::path(get, path = "/config.json", tag = "health", responses((status = 200, body = PublicConfig)))]
/// Limits and options the web page needs.
pub async fn config(State(state): State<AppState>) -> Json<PublicConfig> {
    let s = &state.settings;
    Json(PublicConfig {
        upload_size_limit: s.upload_size_limit,
        allow_anonymous: s.allow_anonymous,
        anonymous_upload_size_limit: if s.allow_anonymous {
            s.anonymous_size_limit
        } else {
            0
        },
        max_ttl_seconds: s.max_ttl.as_secs(),
        default_ttl_seconds: s.default_ttl.as_secs(),
        max_passphrase_attempts: s.max_passphrase_attempts,
        country_restrictions: s.country_header.is_some(),
        asn_restrictions: s.asn_header.is_some(),
        features: Features {
            impressum: state.pages.impressum.is_some(),
            privacy: state.pages.privacy.is_some(),
            restrictions: RestrictionFeatures {
                country: s.country_header.is_some(),
                asn: s.asn_header.is_some(),
            },
        },
        show_token_input: s.show_token_input || !s.allow_anonymous,
        impressum_url: state
            .pages
            .impressum
            .as_ref()
            .map(|_| "/impressum".to_owned()),
        privacy_url: state.pages.privacy.as_ref().map(|_| "/privacy".to_owned()),
    })
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>) -> Response {
    crate::domain::refresh_gauges(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response()
}
