//! The domain layer: what the server does with secrets, uploads and tokens, in terms of the
//! store, the settings and the events — never of HTTP. Handlers (`routes/`) extract a request's
//! parts, call a function here, and map its result to a response.

use std::sync::Arc;

use crate::events::Events;
use crate::metrics::Metrics;
use crate::store::SecretStore;
use crate::Settings;

/// The services every domain operation may use.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn SecretStore>,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub events: Arc<Events>,
}
