//! Hakanai storage server: stores opaque, client-encrypted secrets with a TTL and hands each one
//! out at most once. It never sees a key or plaintext.

#![forbid(unsafe_code)]

pub mod assets;
pub mod client_ip;
pub mod configuration;
pub mod connections;
pub mod domain;
pub mod error;
pub mod events;
pub mod headers;
pub mod id;
pub mod labels;
pub mod metrics;
pub mod restrictions;
mod router;
pub mod routes;
mod settings;
mod startup;
mod state;
pub mod store;
pub mod telemetry;
pub mod token_file;
pub mod tokens;
pub mod webhook;

pub use configuration::Config;
pub use domain::tokens::NewTokens;
pub use router::{app, metrics_app, CONTENT_SECURITY_POLICY, PERMISSIONS_POLICY};
pub use settings::Settings;
pub use startup::{build_store, reset_tokens, Application, StartupError};
pub use state::{AppState, Pages};
pub use token_file::{TokenDestination, TokenKind};
