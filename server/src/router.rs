//! The HTTP surface: every route, the security headers on every response, CORS, and the
//! fallbacks (404 JSON for the API, the page's files, 405).

use axum::extract::DefaultBodyLimit;
use axum::handler::{Handler as _, HandlerWithoutStateExt};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::routing::{delete, get, patch, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::AppError;
use crate::metrics;
use crate::routes::{admin, health, one_time_token, pages, secret, upload};
use crate::{assets, headers, telemetry, AppState, Settings};

pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
base-uri 'none'; form-action 'self'";

/// Powerful features the page never uses stay off, so an injected frame or script cannot ask for
/// them either. The clipboard and Web Share stay allowed: the page copies and shares links, and
/// Hakanai's share page reads the clipboard.
pub const PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=(), payment=(), \
usb=(), serial=(), hid=(), bluetooth=(), midi=(), accelerometer=(), gyroscope=(), \
magnetometer=(), display-capture=()";

/// Request bodies of the small JSON endpoints (admin); secret uploads enforce their own limits.
const SMALL_BODY_LIMIT: usize = 64 * 1024;

pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/v1/secret", post(secret::create))
        .route(
            "/api/v1/secret/{id}",
            // Without the explicit HEAD route, axum would answer HEAD with the GET handler and a
            // probe would burn the secret.
            get(secret::read)
                .head(method_not_allowed)
                .delete(secret::revoke),
        )
        .route("/api/v1/secret/{id}/status", get(secret::status))
        .route("/api/v1/upload", post(upload::start))
        .route("/api/v1/upload/{id}", patch(upload::append))
        .route("/api/v1/upload/{id}/finish", post(upload::finish))
        .route(
            "/api/v1/admin/tokens",
            post(admin::create_token).get(admin::list_tokens),
        )
        .route("/api/v1/admin/tokens/{id}", delete(admin::revoke_token))
        .route("/api/v1/one-time-token", post(one_time_token::create))
        .route("/api/openapi.json", get(openapi))
        .route("/config.json", get(health::config))
        .route("/ready", get(health::ready))
        .route("/healthy", get(health::healthy))
        .route("/s/{id}", get(pages::reveal))
        .route("/create", get(pages::create))
        .route("/get", get(pages::get))
        .route("/share", get(pages::share).post(pages::share_target))
        .route("/one-time-token", get(pages::one_time_token))
        .route("/robots.txt", get(pages::robots))
        .route("/impressum", get(pages::impressum))
        .route("/privacy", get(pages::privacy));
    let api = if state.settings.metrics_on_main {
        api.route("/metrics", get(health::scrape))
    } else {
        api
    };
    let api = api.layer(DefaultBodyLimit::max(SMALL_BODY_LIMIT)).layer(
        SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ),
    );

    let mut site = Router::new().route("/docs", get(pages::docs));
    if state.pages.style.is_some() {
        site = site.route("/style.css", get(pages::style));
    }
    // Custom assets shadow the page file by file; what they lack comes from the web root, else
    // from the page built into the binary. With neither, `/` says that no page is installed.
    let s = &state.settings;
    let embedded = (!s.web_assets.is_empty()).then(|| embedded_asset.with_state(state.clone()));
    site = match (&s.custom_assets_dir, &s.web_root, embedded) {
        (Some(custom), Some(root), _) => {
            site.fallback_service(ServeDir::new(custom).fallback(ServeDir::new(root)))
        }
        (Some(custom), None, Some(embedded)) => {
            site.fallback_service(ServeDir::new(custom).fallback(embedded))
        }
        (Some(custom), None, None) => site
            .route("/", get(pages::index))
            .fallback_service(ServeDir::new(custom).fallback(not_found.into_service())),
        (None, Some(root), _) => site.fallback_service(ServeDir::new(root)),
        (None, None, Some(embedded)) => site.fallback_service(embedded),
        (None, None, None) => site.route("/", get(pages::index)).fallback(not_found),
    };
    let site = site.layer(CompressionLayer::new());

    let mut router = api.merge(site).with_state(state.clone());
    if !state.settings.cors_allowed_origins.is_empty() {
        router = router.layer(cors(&state.settings));
    }
    if let Some(hsts) = &state.settings.hsts {
        router = router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            hsts.clone(),
        ));
    }
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        // No other window may hold a reference to the page (which has the key in its fragment),
        // and no other site may load its responses as subresources.
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(PERMISSIONS_POLICY),
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track_requests,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(telemetry::request_span::<axum::body::Body>)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
}

/// The separate metrics listener: `/metrics` and nothing else.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(health::scrape))
        .fallback(not_found)
        .with_state(state)
}

fn cors(s: &Settings) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(s.cors_allowed_origins.clone()))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers(
            [header::AUTHORIZATION, header::CONTENT_TYPE]
                .into_iter()
                .chain(
                    headers::CLIENT_SENT
                        .iter()
                        .map(|h| HeaderName::from_static(h)),
                )
                .collect::<Vec<_>>(),
        )
        .expose_headers(
            headers::CLIENT_READ
                .iter()
                .map(|h| HeaderName::from_static(h))
                .collect::<Vec<_>>(),
        )
}

async fn openapi(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl axum::response::IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.pages.openapi.clone(),
    )
}

/// A panicking handler must still answer in the usual error format, without details.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    AppError::Internal("handler panicked".into()).into_response()
}

async fn method_not_allowed() -> axum::http::StatusCode {
    axum::http::StatusCode::METHOD_NOT_ALLOWED
}

/// A file of the embedded page, or 404.
async fn embedded_asset(
    axum::extract::State(state): axum::extract::State<AppState>,
    method: Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match assets::find(state.settings.web_assets, uri.path()) {
        Some(asset) => assets::response(asset, &method, &headers),
        None => not_found().await.into_response(),
    }
}

async fn not_found() -> AppError {
    AppError::NotFound("no such page")
}
