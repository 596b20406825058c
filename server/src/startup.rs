//! Starting the server: the store (with its startup retries), the state, bootstrap tokens, the
//! webhook, both listeners, and the shutdown on SIGTERM or Ctrl-C.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderName;
use axum::Router;
use bytes::Bytes;
use tokio::net::TcpListener;

use crate::domain::tokens::{NewTokens, ResetError};
use crate::domain::{self, budget, Services};
use crate::error::AppError;
use crate::events::{self, Events};
use crate::metrics::Metrics;
use crate::routes::{docs, pages};
use crate::store::counted::CountedStore;
use crate::store::{MemoryStore, RedisStore, Store, StoreError};
use crate::token_file::TokenDestination;
use crate::webhook::{Webhook, WebhookConfig};
use crate::{
    app, assets, configuration, connections, error, metrics_app, store, webhook, AppState, Config,
    Pages, Settings,
};

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

pub fn build_store(config: &Config, metrics: &Metrics) -> Result<Arc<dyn Store>, StartupError> {
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
    store: &dyn Store,
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
        if config.redis_dsn.is_none() || e.is_permanent() {
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
    // Nothing waits for a store if the tokens could not be handed over anyway.
    to.check().map_err(|error| {
        StartupError::Config(
            ResetError::Undeliverable {
                destination: to.describe(),
                error,
            }
            .to_string(),
        )
    })?;
    // No webhook: the process exits right after, before anything could be delivered.
    let state = build_state(config, false)?;
    wait_for_store(state.store.as_ref(), config, None).await?;
    let user = config.reset_user_tokens.then_some(config.upload_size_limit);
    domain::tokens::reset(&state, config.reset_admin_token, user, to)
        .await
        .map_err(|e| match e {
            ResetError::Refused(e) => e.into(),
            undeliverable => StartupError::Config(undeliverable.to_string()),
        })
}

/// `with_webhook` starts the delivery task, so it needs a Tokio runtime.
fn build_state(config: &Config, with_webhook: bool) -> Result<AppState, StartupError> {
    let settings = Settings::from_config(config).map_err(StartupError::Config)?;
    let pages = load_pages(&settings, config).map_err(StartupError::Config)?;
    let metrics = Arc::new(Metrics::new());
    let forward = webhook_headers(config)?;
    let webhook = match (&config.webhook_url, with_webhook) {
        (Some(url), true) => Some(start_webhook(config, url, metrics.clone())?),
        _ => None,
    };
    Ok(AppState {
        services: Services {
            store: build_store(config, &metrics)?,
            settings: Arc::new(settings),
            events: Arc::new(Events::new(
                metrics.clone(),
                webhook,
                forward,
                webhook_events(config)?,
            )),
            metrics,
        },
        pages: Arc::new(pages),
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
        let new_tokens = domain::tokens::bootstrap(
            &state,
            config.enable_admin_token,
            (!config.allow_anonymous).then_some(config.upload_size_limit),
            tokens_to,
        )
        .await?;
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
                    crate::domain::refresh_gauges(&state).await;
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

/// The pages, rendered once. A missing legal page file is a startup error: silently dropping it
/// could break the law.
fn load_pages(settings: &Settings, config: &Config) -> Result<Pages, String> {
    let legal = |path: &Option<PathBuf>, title: &str| {
        path.as_ref()
            .map(|p| {
                std::fs::read_to_string(p)
                    .map(|content| Bytes::from(pages::legal_page(title, &content)))
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))
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
    let page =
        |name: &str| from_dir(settings.custom_assets_dir.as_deref(), name).or_else(|| stock(name));
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
