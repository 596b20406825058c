//! Black-box tests: real HTTP against the real app on a random port, for both stores.

/// Instantiates each named `async fn(Backend)` once per store.
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Memory).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Redis).await
                }
            )*
        }
    };
}

mod binary;
mod budget;
mod connections;
mod dashboard;
mod hakanai_v3;
mod helpers;
mod one_time;
mod ops;
mod read_token;
mod redis_only;
mod suite;
mod token_file;
mod upload;
