//! Random bearer tokens. Only their SHA-256 is ever stored; the token itself is shown once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// SHA-256 of a token: all the store keeps of it.
pub type TokenHash = [u8; 32];

/// Length of the creator-token hash kept with a secret; 128 bits of SHA-256 cannot be inverted.
pub const CREATOR_HASH_LEN: usize = 16;

/// Who created a secret, as Hakanai v3 labels it (`user_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserType {
    Anonymous,
    /// With a user token.
    Authenticated,
    /// Without a token, from a `--trusted-ip-ranges` address.
    Whitelisted,
}

impl UserType {
    pub const ALL: [UserType; 3] = [
        UserType::Anonymous,
        UserType::Authenticated,
        UserType::Whitelisted,
    ];

    pub fn label(self) -> &'static str {
        match self {
            UserType::Anonymous => "anonymous",
            UserType::Authenticated => "authenticated",
            UserType::Whitelisted => "whitelisted",
        }
    }
}

pub fn random_token() -> String {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).expect("the OS random number generator failed");
    URL_SAFE_NO_PAD.encode(buf)
}

/// A short public handle for a user token (for listing and revoking), unrelated to its value.
pub fn random_token_id() -> String {
    let mut buf = [0u8; 9];
    getrandom::fill(&mut buf).expect("the OS random number generator failed");
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

pub fn creator_hash(token: &str) -> [u8; CREATOR_HASH_LEN] {
    let full = hash_token(token);
    let mut out = [0u8; CREATOR_HASH_LEN];
    out.copy_from_slice(&full[..CREATOR_HASH_LEN]);
    out
}
