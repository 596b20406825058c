//! The store contract: the same cases against the embedded store and a real `redis-server`,
//! through the store traits (`Store`), with time moved by a `ManualClock` so no case sleeps.
//!
//! Test names are `<module>::memory::<case>` and `<module>::redis::<case>`, as in the HTTP
//! suite: `cargo xtask test --fast` runs `-- ::memory::` only, the full tier both.

/// Instantiates each named `async fn(Fixture)` once per store.
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::fixture::Fixture::memory()).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::fixture::Fixture::redis()).await
                }
            )*
        }
    };
}

mod budget;
mod fixture;
mod secrets;
mod tokens;
mod uploads;
