//! Who may read a secret: IP ranges, countries, ASNs and a passphrase verifier.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;

/// Restrictions as stored with a secret (validated, canonical).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restrictions {
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "i")]
    pub allowed_ips: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "c")]
    pub allowed_countries: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "a")]
    pub allowed_asns: Vec<u32>,
    /// Lowercase hex SHA-256 of the passphrase verifier.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "p")]
    pub passphrase_hash: Option<String>,
}

impl Restrictions {
    pub fn is_empty(&self) -> bool {
        self.allowed_ips.is_empty()
            && self.allowed_countries.is_empty()
            && self.allowed_asns.is_empty()
            && self.passphrase_hash.is_none()
    }
}

/// Restrictions as a client sends them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct RestrictionsRequest {
    /// IP addresses or CIDR ranges allowed to read.
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
    /// ISO 3166-1 alpha-2 country codes allowed to read (needs `--country-header`).
    #[serde(default)]
    pub allowed_countries: Option<Vec<String>>,
    /// Autonomous system numbers allowed to read (needs `--asn-header`).
    #[serde(default)]
    pub allowed_asns: Option<Vec<u32>>,
    /// Hex SHA-256 of the passphrase verifier the reader must send in `X-Secret-Passphrase`.
    #[serde(default)]
    pub passphrase_hash: Option<String>,
}

const MAX_ENTRIES: usize = 256;

impl RestrictionsRequest {
    pub fn validate(self) -> Result<Restrictions, AppError> {
        let mut out = Restrictions::default();
        for ip in self.allowed_ips.unwrap_or_default() {
            out.allowed_ips
                .push(parse_ip_or_net(ip.trim()).ok_or_else(|| {
                    AppError::BadRequest(format!("invalid IP address or range: {ip}"))
                })?);
        }
        for c in self.allowed_countries.unwrap_or_default() {
            let c = c.trim().to_ascii_uppercase();
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(AppError::BadRequest(format!("invalid country code: {c}")));
            }
            out.allowed_countries.push(c);
        }
        out.allowed_asns = self.allowed_asns.unwrap_or_default();
        if let Some(h) = self.passphrase_hash {
            let h = h.trim().to_ascii_lowercase();
            if h.len() != 64 || hex::decode(&h).is_err() {
                return Err(AppError::BadRequest(
                    "passphrase_hash must be 64 hex characters (SHA-256)".into(),
                ));
            }
            out.passphrase_hash = Some(h);
        }
        if out.allowed_ips.len() + out.allowed_countries.len() + out.allowed_asns.len()
            > MAX_ENTRIES
        {
            return Err(AppError::BadRequest("too many restriction entries".into()));
        }
        Ok(out)
    }
}

pub fn parse_ip_or_net(s: &str) -> Option<IpNet> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Some(net.trunc());
    }
    s.parse::<IpAddr>()
        .ok()
        .map(|ip| IpNet::from(ip.to_canonical()))
}

/// Splits a comma-separated header or query value.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_and_canonicalises() {
        let r = RestrictionsRequest {
            allowed_ips: Some(vec!["10.1.2.3/8".into(), "::1".into()]),
            allowed_countries: Some(vec!["de".into()]),
            allowed_asns: Some(vec![64512]),
            passphrase_hash: Some("AB".repeat(32)),
        }
        .validate()
        .unwrap();
        assert_eq!(r.allowed_ips[0].to_string(), "10.0.0.0/8");
        assert_eq!(r.allowed_ips[1].to_string(), "::1/128");
        assert_eq!(r.allowed_countries, vec!["DE"]);
        assert_eq!(r.passphrase_hash.unwrap(), "ab".repeat(32));
    }

    #[test]
    fn rejects_garbage() {
        let bad = [
            RestrictionsRequest {
                allowed_ips: Some(vec!["nope".into()]),
                ..Default::default()
            },
            RestrictionsRequest {
                allowed_countries: Some(vec!["DEU".into()]),
                ..Default::default()
            },
            RestrictionsRequest {
                passphrase_hash: Some("xyz".into()),
                ..Default::default()
            },
        ];
        for r in bad {
            assert!(r.validate().is_err());
        }
    }
}
