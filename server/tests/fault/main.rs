//! Fault tests: real `hakanai-server` processes (the binary, several at once) against a real
//! `redis-server`, all on loopback ports of their own (`hakanai-test-support`), each test bounded in time and stopping what it
//! starts. Measurements are printed (`cargo test --test fault -- --nocapture`) and recorded in
//! RELIABILITY.md.

// Shared with the API tests rather than copied; this binary uses only `RedisServer`.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod fill;
mod harness;
mod outage;
mod replicas;
mod slow_clients;

/// Held by each test for its whole run: both load the machine's two cores, and the outage
/// test's timing bounds would measure the other test's load, not the server's recovery.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
