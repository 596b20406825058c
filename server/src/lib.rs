//! Hakanai storage server: stores opaque, client-encrypted secrets with a TTL and hands each one
//! out at most once. It never sees a key or plaintext.

#![forbid(unsafe_code)]

pub mod assets;
pub mod budget;
pub mod client_ip;
pub mod configuration;
pub mod connections;
pub mod error;
pub mod events;
pub mod id;
pub mod metrics;
pub mod restrictions;
pub mod routes;
pub mod store;
pub mod telemetry;
pub mod token_file;
pub mod tokens;
pub mod webhook;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::handler::{Handler as _, HandlerWithoutStateExt};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::routing::{delete, get, patch, post};
use axum::Router;
use bytes::Bytes;
use ipnet::IpNet;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use configuration::Config;
use error::AppError;
use events::Events;
use metrics::Metrics;
use routes::{admin, docs, health, one_time_token, pages, secret, upload};
use store::counted::CountedStore;
use store::{MemoryStore, RedisStore, SecretStore, StoreError};
pub use token_file::{TokenDestination, TokenKind};
use webhook::{Webhook, WebhookConfig};

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

/// Validated settings the handlers need, derived once from [`Config`].
#[derive(Debug)]
pub struct Settings {
    pub upload_size_limit: u64,
    pub allow_anonymous: bool,
    pub anonymous_size_limit: u64,
    pub max_ttl: Duration,
    pub default_ttl: Duration,
    pub max_passphrase_attempts: u32,
    pub one_time_token_ttl: Duration,
    /// A multi-request upload ends this long after it opened, however active it is.
    pub upload_deadline: Duration,
    pub max_open_uploads_per_token: u32,
    pub max_open_uploads_per_address: u32,
    /// The global storage budget in bytes, 0 for none: `--max-stored-bytes`, or without it
    /// what the store reports at startup (`budget::resolve_global`).
    pub max_stored_bytes: std::sync::atomic::AtomicU64,
    /// Bytes one token (without its own `max_stored_bytes`) / one address may hold stored.
    pub max_stored_bytes_per_token: Option<u64>,
    pub max_stored_bytes_per_address: Option<u64>,
    pub admin_enabled: bool,
    pub admin_ranges: Vec<IpNet>,
    /// Clients that may upload without a token (Hakanai v3's `--trusted-ip-ranges`).
    pub trusted_ip_ranges: Vec<IpNet>,
    pub show_token_input: bool,
    pub trusted_proxies: Vec<IpNet>,
    pub trusted_ip_header: HeaderName,
    pub country_header: Option<HeaderName>,
    pub asn_header: Option<HeaderName>,
    pub cors_allowed_origins: Vec<HeaderValue>,
    /// The `Strict-Transport-Security` value, with `--hsts-max-age`.
    pub hsts: Option<HeaderValue>,
    pub web_root: Option<PathBuf>,
    pub custom_assets_dir: Option<PathBuf>,
    /// The page built into the binary; empty with `--web-root` (which replaces it whole) or when
    /// the binary was built without one (`HAKANAI_SKIP_WEB_BUILD`).
    pub web_assets: &'static [assets::Asset],
    /// `/metrics` on the main router: only when no separate metrics address is configured.
    pub metrics_on_main: bool,
}

impl Settings {
    pub fn from_config(c: &Config) -> Result<Settings, StartupError> {
        let header_name = |h: &str| {
            HeaderName::try_from(h.trim())
                .map_err(|_| StartupError::Config(format!("invalid header name {h:?}")))
        };
        let cors_allowed_origins = c
            .cors_allowed_origins
            .iter()
            .map(|o| {
                HeaderValue::try_from(o.trim())
                    .map_err(|_| StartupError::Config(format!("invalid CORS origin {o:?}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Settings {
            upload_size_limit: c.upload_size_limit,
            allow_anonymous: c.allow_anonymous,
            anonymous_size_limit: c.anonymous_size_limit().min(c.upload_size_limit),
            max_ttl: c.max_ttl,
            default_ttl: c.default_ttl(),
            max_passphrase_attempts: c.max_passphrase_attempts,
            one_time_token_ttl: c.one_time_token_ttl,
            upload_deadline: c.upload_deadline,
            max_open_uploads_per_token: c.max_open_uploads_per_token,
            max_open_uploads_per_address: c.max_open_uploads_per_address,
            max_stored_bytes: c.max_stored_bytes.unwrap_or(0).into(),
            max_stored_bytes_per_token: Some(c.max_stored_bytes_per_token).filter(|n| *n > 0),
            max_stored_bytes_per_address: Some(c.max_stored_bytes_per_address).filter(|n| *n > 0),
            admin_enabled: c.enable_admin_token,
            admin_ranges: c.admin_ranges(),
            trusted_ip_ranges: c.trusted_ip_ranges.clone(),
            show_token_input: c.show_token_input,
            trusted_proxies: c.trusted_proxies.clone(),
            trusted_ip_header: header_name(&c.trusted_ip_header)?,
            country_header: c.country_header.as_deref().map(header_name).transpose()?,
            asn_header: c.asn_header.as_deref().map(header_name).transpose()?,
            cors_allowed_origins,
            hsts: c
                .hsts_max_age
                .map(|age| HeaderValue::try_from(format!("max-age={}", age.as_secs())))
                .transpose()
                .map_err(|_| StartupError::Config("invalid --hsts-max-age".into()))?,
            web_root: c.web_root.clone(),
            custom_assets_dir: c.custom_assets_dir.clone(),
            web_assets: if c.web_root.is_none() && c.embedded_page {
                assets::EMBEDDED
            } else {
                &[]
            },
            metrics_on_main: c.metrics_listen_address.is_none(),
        })
    }
}

/// Pages rendered once at startup.
#[derive(Debug)]
pub struct Pages {
    pub reveal: Bytes,
    /// The create page at `/create` (Hakanai v3's route; invite links are `/create#<token>`).
    pub create: Bytes,
    pub index: Bytes,
    /// `/get`: open a secret from a pasted link, or an id and its key.
    pub get: Bytes,
    /// `/share`: Hakanai v3's clipboard page (iOS Shortcut) and the app's share target.
    pub share: Bytes,
    /// `/one-time-token`: a token holder mints invite links.
    pub one_time_token: Bytes,
    /// `/style.css` with the custom `style.css` appended, when `--custom-assets-dir` has one;
    /// `None` leaves `/style.css` to the page's own file.
    pub style: Option<Bytes>,
    pub docs: Bytes,
    pub openapi: Bytes,
    pub impressum: Option<Bytes>,
    pub privacy: Option<Bytes>,
}

impl Pages {
    /// A missing legal page file is a startup error: silently dropping it could break the law.
    pub fn load(settings: &Settings, config: &Config) -> Result<Pages, StartupError> {
        let legal = |path: &Option<PathBuf>, title: &str| {
            path.as_ref()
                .map(|p| {
                    std::fs::read_to_string(p)
                        .map(|content| Bytes::from(pages::legal_page(title, &content)))
                        .map_err(|e| {
                            StartupError::Config(format!("cannot read {}: {e}", p.display()))
                        })
                })
                .transpose()
        };
        let from_dir = |dir: Option<&std::path::Path>, name: &str| {
            dir.and_then(|d| std::fs::read(d.join(name)).ok())
                .map(Bytes::from)
        };
        // The page's own file: the web root's, else the built-in one.
        let stock = |name: &str| {
            from_dir(settings.web_root.as_deref(), name).or_else(|| {
                assets::find(settings.web_assets, &format!("/{name}"))
                    .map(|a| Bytes::from_static(a.body))
            })
        };
        let page = |name: &str| {
            from_dir(settings.custom_assets_dir.as_deref(), name).or_else(|| stock(name))
        };
        let reveal = page("reveal.html")
            .unwrap_or_else(|| Bytes::from_static(pages::EMBEDDED_REVEAL_PAGE.as_bytes()));
        let no_page = || Bytes::from_static(pages::EMBEDDED_INDEX_PAGE.as_bytes());
        let create = page("index.html").unwrap_or_else(no_page);
        // Hakanai v3's custom style.css is appended to the stock one, never replaces it.
        let style = from_dir(settings.custom_assets_dir.as_deref(), "style.css").map(|custom| {
            let mut css = stock("style.css").map(Vec::from).unwrap_or_default();
            css.extend_from_slice(b"\n/* --custom-assets-dir style.css */\n");
            css.extend_from_slice(&custom);
            Bytes::from(css)
        });
        Ok(Pages {
            reveal,
            create,
            get: page("get.html").unwrap_or_else(no_page),
            share: page("share.html").unwrap_or_else(no_page),
            one_time_token: page("one-time-token.html").unwrap_or_else(no_page),
            style,
            index: no_page(),
            docs: Bytes::from(docs::docs_html()),
            openapi: Bytes::from(docs::openapi_json()),
            impressum: legal(&config.impressum_file, "Impressum")?,
            privacy: legal(&config.privacy_file, "Privacy policy")?,
        })
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn SecretStore>,
    pub settings: Arc<Settings>,
    pub pages: Arc<Pages>,
    pub metrics: Arc<Metrics>,
    pub events: Arc<Events>,
}

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
        api.route("/metrics", get(metrics::scrape))
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
        .route("/metrics", get(metrics::scrape))
        .fallback(not_found)
        .with_state(state)
}

fn cors(s: &Settings) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(s.cors_allowed_origins.clone()))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(secret::PASSPHRASE_HEADER),
            HeaderName::from_static(secret::CREATOR_TOKEN_HEADER),
            HeaderName::from_static("x-secret-ttl"),
            HeaderName::from_static("x-secret-allowed-ips"),
            HeaderName::from_static("x-secret-allowed-countries"),
            HeaderName::from_static("x-secret-allowed-asns"),
            HeaderName::from_static("x-secret-passphrase-hash"),
            HeaderName::from_static(error::UPLOAD_OFFSET_HEADER),
        ])
        .expose_headers([
            HeaderName::from_static(error::ATTEMPTS_HEADER),
            HeaderName::from_static(error::UPLOAD_OFFSET_HEADER),
        ])
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

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error(
        "Redis still unreachable after {waited} and {attempts} attempts (--redis-startup-timeout): {last}"
    )]
    Unreachable {
        waited: String,
        attempts: u32,
        last: StoreError,
    },
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
}

impl From<AppError> for StartupError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Store(e) => StartupError::Store(e),
            other => StartupError::Config(other.to_string()),
        }
    }
}

pub fn build_store(
    config: &Config,
    metrics: &Metrics,
) -> Result<Arc<dyn SecretStore>, StartupError> {
    match &config.redis_dsn {
        Some(dsn) => {
            let target = store::redis::dsn::parse(dsn).map_err(StartupError::Config)?;
            let ca = match &config.redis_ca_file {
                Some(_) if !target.uses_tls() => {
                    return Err(StartupError::Config(
                        "--redis-ca-file applies only to rediss:// and rediss-cluster:// DSNs"
                            .into(),
                    ))
                }
                Some(path) => Some(std::fs::read(path).map_err(|e| {
                    StartupError::Config(format!("cannot read {}: {e}", path.display()))
                })?),
                None => None,
            };
            tracing::info!(store = %target.describe(), "using Redis");
            let redis = RedisStore::new(&target, ca.as_deref(), config.redis_op_timeout())
                .map_err(|e| StartupError::Config(e.to_string()))?;
            Ok(Arc::new(CountedStore::new(
                Arc::new(redis),
                metrics.redis_operations.clone(),
            )))
        }
        None => {
            tracing::warn!(
                "no --redis-dsn given: using the embedded store; secrets live in this process \
                 only and are lost when it stops"
            );
            Ok(Arc::new(CountedStore::uncounted(Arc::new(
                MemoryStore::new(),
            ))))
        }
    }
}

/// Pings the store until it answers. An unreachable Redis (not started yet, failing over) is
/// retried with backoff, each attempt logged, for `--redis-startup-timeout`; refused credentials
/// end startup at once, since waiting cannot fix them.
async fn wait_for_store(
    store: &dyn SecretStore,
    config: &Config,
    status: Option<&StartupStatus>,
) -> Result<(), StartupError> {
    const FIRST_DELAY: Duration = Duration::from_millis(200);
    let started = std::time::Instant::now();
    let mut delay = FIRST_DELAY;
    let mut attempts = 1u32;
    loop {
        let e = match store.ping().await {
            Ok(()) => {
                if attempts > 1 {
                    tracing::info!(attempts, "Redis is reachable");
                }
                return Ok(());
            }
            Err(e) => e,
        };
        if config.redis_dsn.is_none() || store::redis::is_rejection(&e) {
            return Err(StartupError::Store(e));
        }
        let waited = started.elapsed();
        if waited + delay > config.redis_startup_timeout {
            return Err(StartupError::Unreachable {
                waited: humantime::format_duration(Duration::from_secs(waited.as_secs()))
                    .to_string(),
                attempts,
                last: e,
            });
        }
        tracing::warn!(
            attempt = attempts,
            error = %e,
            retry_in_ms = delay.as_millis() as u64,
            "Redis is not reachable yet; retrying"
        );
        if let Some(status) = status {
            status.set(format!(
                "starting: Redis is not reachable yet; attempt {attempts} failed, retrying in {} \
                 (gives up after --redis-startup-timeout)",
                humantime::format_duration(delay)
            ));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(config.redis_reconnection_max_delay.max(FIRST_DELAY));
        attempts += 1;
    }
}

/// What `/healthy` says while startup waits for Redis; everything else answers 503 too.
struct StartupStatus {
    message: Arc<std::sync::Mutex<String>>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl StartupStatus {
    fn serve(
        listener: std::net::TcpListener,
        limits: connections::Limits,
        metrics: connections::ConnectionMetrics,
    ) -> std::io::Result<StartupStatus> {
        let listener = TcpListener::from_std(listener)?;
        let message = Arc::new(std::sync::Mutex::new(
            "starting: connecting to the store".to_owned(),
        ));
        let shown = message.clone();
        let unavailable = move || {
            let details = shown.lock().map(|m| m.clone()).unwrap_or_default();
            async move {
                (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(error::ErrorBody {
                        error: "service_unavailable",
                        details,
                    }),
                )
            }
        };
        // `/ready` too: a readiness probe (Hakanai's chart uses `/ready`) must not send traffic
        // that would only get 503.
        let router = Router::new().fallback(unavailable);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(connections::serve(
            listener,
            router,
            limits,
            metrics,
            async {
                let _ = stopped.await;
            },
        ));
        Ok(StartupStatus {
            message,
            stop,
            task,
        })
    }

    fn set(&self, m: String) {
        if let Ok(mut slot) = self.message.lock() {
            *slot = m;
        }
    }

    /// Stops answering; connections still open after a second are dropped.
    async fn stop(self) {
        let _ = self.stop.send(());
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(1), self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// Tokens created at startup, to be shown to the operator exactly once.
#[derive(Debug, Default)]
pub struct NewTokens {
    pub admin: Option<String>,
    pub user: Option<String>,
}

/// `--reset-admin-token` / `--reset-user-tokens`: do the job, hand the new tokens to `to`, and
/// return them. Nothing is replaced or deleted unless `to` can be written; a token whose
/// delivery failed is not kept.
pub async fn reset_tokens(
    config: &Config,
    to: &TokenDestination,
) -> Result<NewTokens, StartupError> {
    if config.redis_dsn.is_none() {
        return Err(StartupError::Config(
            "resetting tokens needs --redis-dsn; the embedded store forgets everything on exit"
                .into(),
        ));
    }
    to.check().map_err(|e| undeliverable(to, e))?;
    // No webhook: the process exits right after, before anything could be delivered.
    let state = build_state(config, false)?;
    wait_for_store(state.store.as_ref(), config, None).await?;
    let mut out = NewTokens::default();
    if config.reset_admin_token {
        let token = tokens::random_token();
        // Delivered first: the old admin token stays valid if the new one cannot be handed over.
        to.deliver(TokenKind::Admin, &token)
            .map_err(|e| undeliverable(to, e))?;
        state
            .store
            .admin_hash_set(&tokens::hash_token(&token))
            .await?;
        log_delivered(TokenKind::Admin, to);
        out.admin = Some(token);
    }
    if config.reset_user_tokens {
        state.store.token_clear().await?;
        let (token, id) =
            admin::create_user_token(&state, config.upload_size_limit, None, false).await?;
        if let Err(e) = to.deliver(TokenKind::User, &token) {
            state.store.token_delete_by_id(&id).await?;
            return Err(undeliverable(to, e));
        }
        log_delivered(TokenKind::User, to);
        out.user = Some(token);
    }
    Ok(out)
}

fn undeliverable(to: &TokenDestination, e: std::io::Error) -> StartupError {
    StartupError::Config(format!(
        "cannot write the new token to {}: {e}; no token was stored. Pass --token-file with a \
         writable path, or run this on a terminal",
        to.describe()
    ))
}

/// The one log line about a new token: what and where, never the token.
fn log_delivered(kind: TokenKind, to: &TokenDestination) {
    tracing::info!(
        token_kind = kind.label(),
        destination = %to.describe(),
        "created a new {} token; it was written to {} only (never to this log)",
        kind.label(),
        to.describe()
    );
}

/// `with_webhook` starts the delivery task, so it needs a Tokio runtime.
fn build_state(config: &Config, with_webhook: bool) -> Result<AppState, StartupError> {
    let settings = Settings::from_config(config)?;
    let pages = Pages::load(&settings, config)?;
    let metrics = Arc::new(Metrics::new());
    let forward = webhook_headers(config)?;
    let webhook = match (&config.webhook_url, with_webhook) {
        (Some(url), true) => Some(start_webhook(config, url, metrics.clone())?),
        _ => None,
    };
    Ok(AppState {
        store: build_store(config, &metrics)?,
        settings: Arc::new(settings),
        pages: Arc::new(pages),
        events: Arc::new(Events::new(
            metrics.clone(),
            webhook,
            forward,
            webhook_events(config)?,
        )),
        metrics,
    })
}

fn webhook_events(config: &Config) -> Result<Vec<events::Event>, StartupError> {
    config
        .webhook_events
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .map(|e| {
            events::Event::from_name(e).ok_or_else(|| {
                StartupError::Config(format!(
                    "--webhook-events: unknown event {e:?} (secret.created, secret.read, \
                     secret.revoked, secret.destroyed, token.created)"
                ))
            })
        })
        .collect()
}

fn webhook_headers(config: &Config) -> Result<Vec<HeaderName>, StartupError> {
    // Hakanai v3's positional list, when given, replaces the flag (and its default).
    let names = if config.webhook_headers_positional.is_empty() {
        &config.webhook_headers
    } else {
        &config.webhook_headers_positional
    };
    names
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .map(|h| {
            if events::NEVER_FORWARDED.contains(&h.as_str()) {
                return Err(StartupError::Config(format!(
                    "--webhook-headers must not include {h}: it carries a credential"
                )));
            }
            HeaderName::try_from(h.as_str())
                .map_err(|_| StartupError::Config(format!("invalid header name {h:?}")))
        })
        .collect()
}

fn start_webhook(
    config: &Config,
    url: &str,
    metrics: Arc<Metrics>,
) -> Result<Webhook, StartupError> {
    let url = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| StartupError::Config("--webhook-url must be an http(s) URL".into()))?;
    let bearer = secret_value(&config.webhook_token, &config.webhook_token_file)?;
    let signing_key = secret_value(
        &config.webhook_signing_key,
        &config.webhook_signing_key_file,
    )?;
    if signing_key.is_none() {
        tracing::warn!("webhook deliveries are unsigned: set --webhook-signing-key-file");
    }
    if bearer.is_some() && bearer == signing_key {
        tracing::warn!(
            "the webhook signing key equals the bearer token: a receiver holding one holds both"
        );
    }
    let bearer = bearer
        .map(|t| {
            reqwest::header::HeaderValue::try_from(format!("Bearer {t}"))
                .map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
                .map_err(|_| StartupError::Config("--webhook-token must be printable ASCII".into()))
        })
        .transpose()?;
    let webhook = WebhookConfig {
        url,
        bearer,
        signing_key: signing_key.map(|t| Arc::from(t.into_bytes())),
        timeout: config.webhook_timeout,
        attempts: 4,
        backoff: Duration::from_millis(500),
        queue_capacity: webhook::QUEUE_CAPACITY,
    };
    Webhook::spawn(webhook, metrics)
        .map_err(|e| StartupError::Config(format!("webhook client: {e}")))
}

/// A secret given as a flag value or as a file (trimmed); empty counts as none.
fn secret_value(
    value: &Option<configuration::Redacted>,
    file: &Option<std::path::PathBuf>,
) -> Result<Option<String>, StartupError> {
    let v = match (value, file) {
        (Some(t), _) => Some(t.0.trim().to_owned()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| StartupError::Config(format!("cannot read {}: {e}", path.display())))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    };
    Ok(v.filter(|t| !t.is_empty()))
}

/// Creates the admin token and the default user token when they are needed and missing, and
/// hands each to `to`. A token that cannot be delivered is not stored (the admin token is
/// delivered before it is stored, the user token removed again), so the next start with a
/// writable destination creates it; the server runs on meanwhile.
async fn bootstrap_tokens(
    state: &AppState,
    config: &Config,
    to: &TokenDestination,
) -> Result<NewTokens, StartupError> {
    let mut out = NewTokens::default();
    if config.enable_admin_token && state.store.admin_hash_get().await?.is_none() {
        let token = tokens::random_token();
        match to.deliver(TokenKind::Admin, &token) {
            Ok(()) => {
                state
                    .store
                    .admin_hash_set(&tokens::hash_token(&token))
                    .await?;
                log_delivered(TokenKind::Admin, to);
                out.admin = Some(token);
            }
            Err(e) => log_undelivered(TokenKind::Admin, to, &e),
        }
    }
    if !config.allow_anonymous && state.store.token_list().await?.is_empty() {
        let (token, id) =
            admin::create_user_token(state, config.upload_size_limit, None, false).await?;
        match to.deliver(TokenKind::User, &token) {
            Ok(()) => {
                log_delivered(TokenKind::User, to);
                out.user = Some(token);
            }
            Err(e) => {
                state.store.token_delete_by_id(&id).await?;
                log_undelivered(TokenKind::User, to, &e);
            }
        }
    }
    Ok(out)
}

fn log_undelivered(kind: TokenKind, to: &TokenDestination, e: &std::io::Error) {
    tracing::error!(
        token_kind = kind.label(),
        destination = %to.describe(),
        error = %e,
        "could not write the new {} token to {}, so none was created; restart with \
         --token-file <a writable path>, or on a terminal",
        kind.label(),
        to.describe()
    );
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    port: u16,
    /// The separate `/metrics` listener, when `--metrics-listen-address` is set.
    metrics: Option<(TcpListener, Router)>,
    /// Tokens created by this start (already handed to the destination given to `build_with`).
    pub new_tokens: NewTokens,
    state: AppState,
    /// Set when metrics are pushed (OTLP): nobody may scrape, so gauges are refreshed on a timer.
    gauge_refresh: Option<Duration>,
    /// Timeouts and the connection cap of both listeners.
    limits: connections::Limits,
}

impl Application {
    /// New tokens are only returned in `new_tokens` (for programs and tests embedding the server).
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        Self::build_with(config, &TokenDestination::Returned).await
    }

    /// As `build`, handing new tokens to `tokens_to` too (the binary: terminal or file).
    pub async fn build_with(
        config: Config,
        tokens_to: &TokenDestination,
    ) -> Result<Application, StartupError> {
        let state = build_state(&config, true)?;
        // The port opens before Redis answers, so that health checks can see why the server is
        // not ready yet instead of a refused connection.
        let std_listener = std::net::TcpListener::bind((config.listen_address, config.port))?;
        std_listener.set_nonblocking(true)?;
        let limits = connections::Limits::from_config(&config);
        connections::warn_if_file_limit_low(limits.max_connections);
        let waiting = StartupStatus::serve(
            std_listener.try_clone()?,
            limits.clone(),
            state.metrics.connections.clone(),
        )?;
        let connected = wait_for_store(state.store.as_ref(), &config, Some(&waiting)).await;
        waiting.stop().await;
        connected?;
        budget::resolve_global(&state, config.max_stored_bytes).await;
        // Before the bootstrap, so that Hakanai's tokens count as existing ones.
        let imported = state.store.import_hakanai_v3().await?;
        if imported != Default::default() {
            tracing::info!(
                secrets = imported.secrets,
                user_tokens = imported.tokens,
                admin_token = imported.admin_token,
                "took over what Hakanai v3 left in this Redis database"
            );
        }
        let new_tokens = bootstrap_tokens(&state, &config, tokens_to).await?;
        let listener = TcpListener::from_std(std_listener)?;
        let port = listener.local_addr()?.port();
        let metrics = match config.metrics_listen_address {
            Some(addr) => Some((TcpListener::bind(addr).await?, metrics_app(state.clone()))),
            None => None,
        };
        let router = app(state.clone());
        Ok(Application {
            listener,
            router,
            port,
            metrics,
            new_tokens,
            state,
            gauge_refresh: None,
            limits,
        })
    }

    /// Refreshes the gauges that `/metrics` refreshes on each scrape every `interval` as well,
    /// for when metrics are pushed rather than scraped.
    pub fn refresh_gauges_every(&mut self, interval: Duration) {
        self.gauge_refresh = Some(interval);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the separate metrics listener, if any.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
            .map(|a| a.port())
    }

    /// Serves until SIGTERM or Ctrl-C, letting in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(address = %self.listener.local_addr()?, "listening");
        let refresh = self.gauge_refresh.map(|interval| {
            let state = self.state.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                loop {
                    tick.tick().await;
                    metrics::refresh_gauges(&state).await;
                }
            })
        });
        let counted = self.state.metrics.connections.clone();
        let metrics = match self.metrics {
            Some((listener, router)) => {
                tracing::info!(address = %listener.local_addr()?, "serving /metrics");
                Some(tokio::spawn(connections::serve(
                    listener,
                    router,
                    self.limits.clone(),
                    counted.clone(),
                    std::future::pending(),
                )))
            }
            None => None,
        };
        connections::serve(self.listener, self.router, self.limits, counted, signal).await;
        // Scrapes need no draining: stop the metrics listener with the main one.
        if let Some(task) = metrics {
            task.abort();
        }
        if let Some(task) = refresh {
            task.abort();
        }
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
