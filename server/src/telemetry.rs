//! JSON logs; the level comes from `RUST_LOG` (default `info`).

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Registry};

pub fn get_subscriber<W>(default_filter: &str, sink: W) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    Registry::default().with(filter).with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(sink),
    )
}

pub fn init_subscriber(subscriber: impl Subscriber + Send + Sync) {
    // Ignored when already set, as in tests that share a process.
    let _ = tracing::subscriber::set_global_default(subscriber);
}
