//! Black-box tests: real HTTP against the real app on a random port, for both stores.

mod binary;
mod helpers;
mod ops;
mod redis_only;
mod suite;
