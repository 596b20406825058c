//! The real `hakanai-server` binary for the fault tests, started through the shared
//! test-support crate (its own port, killed and reaped on drop).

pub use hakanai_test_support::HakanaiServer as Replica;

/// Starts the binary with anonymous uploads (so every replica can create without sharing a
/// token) and `--redis-timeout timeout`, plus `extra` flags; returns once `/ready` answers.
pub async fn start(redis_dsn: &str, timeout: &str, extra: &[&str]) -> Replica {
    let builder = Replica::builder(env!("CARGO_BIN_EXE_hakanai-server"))
        .rust_log("error")
        .redis(redis_dsn)
        .args(["--redis-timeout", timeout])
        .anonymous()
        .args(extra);
    tokio::task::spawn_blocking(move || builder.start())
        .await
        .expect("the start does not panic")
}
