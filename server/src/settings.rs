//! The settings handlers and the domain layer read, validated once from the flags
//! ([`Config`]).

use std::path::PathBuf;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use ipnet::IpNet;

use crate::assets;
use crate::Config;

/// Validated settings, derived once from [`Config`].
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
    pub fn from_config(c: &Config) -> Result<Settings, String> {
        let header_name = |h: &str| {
            HeaderName::try_from(h.trim()).map_err(|_| format!("invalid header name {h:?}"))
        };
        let cors_allowed_origins = c
            .cors_allowed_origins
            .iter()
            .map(|o| {
                HeaderValue::try_from(o.trim()).map_err(|_| format!("invalid CORS origin {o:?}"))
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
                .map_err(|_| "invalid --hsts-max-age".to_owned())?,
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
