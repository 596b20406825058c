//! The domain layer: what the server does with secrets, uploads and tokens, in terms of the
//! store, the settings and the events — never of HTTP. Handlers (`routes/`) extract a request's
//! parts, call a function here, and map its result to a response.

pub mod budget;
pub mod callers;
pub mod secrets;
pub mod tokens;
pub mod uploads;

use std::sync::Arc;

use crate::events::Events;
use crate::metrics::Metrics;
use crate::store::{now_secs, Store};
use crate::Settings;

/// The services every domain operation may use.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub events: Arc<Events>,
}

/// Recounts the gauges: active tokens, and active and expired secrets (the store's statistics,
/// which this also corrects for secrets whose time ran out). Counting (on scrape, or on a timer
/// when metrics are pushed) keeps the gauges right across restarts and several instances sharing
/// one Redis; a failed count leaves the last value rather than failing the scrape.
pub async fn refresh_gauges(state: &Services) {
    if let Ok(tokens) = state.store.token_list().await {
        let now = now_secs();
        let live = tokens.iter().filter(|t| !t.is_expired(now)).count();
        state.metrics.set_active_tokens(live as u64);
    }
    if let Ok(counts) = state.store.stats_counts().await {
        state
            .metrics
            .set_secret_counts(counts.active, counts.expired);
    }
    if let Ok((bytes, _)) = state.store.budget_used(None).await {
        let gauge = |n: u64| n.try_into().unwrap_or(i64::MAX);
        state.metrics.stored_bytes.set(gauge(bytes));
        let limit = state
            .settings
            .max_stored_bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        state.metrics.stored_bytes_limit.set(gauge(limit));
    }
}
