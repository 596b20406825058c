//! crypto-core
