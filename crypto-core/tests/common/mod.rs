//! Fixtures shared by the integration tests: small segments, cheap Argon2id, file metadata.

#![allow(dead_code)] // each test binary uses its own part

use crypto_core::{Argon2Params, EncryptOptions, Kind, Metadata};

/// Segments this small put segment boundaries within reach of small inputs.
pub const SEG: u32 = 256;

/// Argon2id at its cheapest: the tests are about the stream, not the KDF's cost.
pub const FAST: Argon2Params = Argon2Params {
    m_cost_kib: 64,
    t_cost: 1,
    p_cost: 1,
};

pub fn options() -> EncryptOptions {
    EncryptOptions {
        segment_size: SEG,
        randomness: None,
        pad: true,
    }
}

pub fn file(len: usize) -> Metadata {
    Metadata {
        kind: Kind::File,
        name: Some("a.bin".into()),
        media_type: None,
        size: Some(len as u64),
    }
}
