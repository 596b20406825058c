//! Links of the form `{base}/s/{id}#{key}` and their parser.
//!
//! The key lives only in the fragment, which browsers never send to a server. In "separate key"
//! mode the link has no fragment and the key travels by another channel. Hakanai v3 links
//! carry `#{key}:{hash}` ([`hakanai_v3`](crate::hakanai_v3)); both forms parse here.

use crate::hakanai_v3::ContentHash;
use crate::{Error, SecretKey};

/// The longest secret id accepted (ids are 26-character ULIDs today; 22-character base64url
/// and 36-character UUID forms were issued before).
pub const MAX_ID_LEN: usize = 64;

/// What a link (or a bare fragment) contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLink {
    /// Everything before `/s/{id}`, e.g. `https://secrets.example.com`; `None` for a bare fragment.
    pub base: Option<String>,
    /// The secret id; `None` for a bare fragment or key.
    pub id: Option<String>,
    /// The key from the fragment; `None` for a separate-key link.
    pub key: Option<SecretKey>,
    /// The check value of a Hakanai v3 link (`#{key}:{hash}`); `None` for our links.
    pub content_hash: Option<ContentHash>,
}

impl ParsedLink {
    /// The key, or [`Error::MissingKey`] for a separate-key link.
    pub fn require_key(&self) -> Result<&SecretKey, Error> {
        self.key.as_ref().ok_or(Error::MissingKey)
    }

    /// The id, or [`Error::MissingId`] for a bare fragment.
    pub fn require_id(&self) -> Result<&str, Error> {
        self.id.as_deref().ok_or(Error::MissingId)
    }
}

/// Builds `{base}/s/{id}#{key}`, or `{base}/s/{id}` when `key` is `None` (separate-key mode).
pub fn build_link(base: &str, id: &str, key: Option<&SecretKey>) -> Result<String, Error> {
    validate_id(id)?;
    let base = base.trim_end_matches('/');
    Ok(match key {
        Some(key) => format!("{base}/s/{id}#{}", key.to_text()),
        None => format!("{base}/s/{id}"),
    })
}

/// Parses a full link (`https://host/s/{id}#{key}`), a link without fragment (separate key), a
/// bare fragment (`#{key}`) or a bare key.
///
/// A query string after the id is ignored. Surrounding whitespace is ignored.
pub fn parse_link(input: &str) -> Result<ParsedLink, Error> {
    let input = input.trim();
    if input.is_empty() {
        return Err(Error::EmptyLink);
    }
    let (before_fragment, fragment) = match input.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (input, None),
    };
    let (key, content_hash) = match fragment {
        Some(f) => {
            let (key, hash) = parse_key(f)?;
            (Some(key), hash)
        }
        None => (None, None),
    };

    if before_fragment.is_empty() {
        return Ok(ParsedLink {
            base: None,
            id: None,
            key,
            content_hash,
        });
    }
    let Some((base, rest)) = before_fragment.rsplit_once("/s/") else {
        if fragment.is_none() && !before_fragment.contains('/') {
            // A bare key, as handed over in separate-key mode.
            let (key, content_hash) = parse_key(before_fragment)?;
            return Ok(ParsedLink {
                base: None,
                id: None,
                key: Some(key),
                content_hash,
            });
        }
        return Err(Error::MissingId);
    };
    let id = rest.split(['?', '/']).next().unwrap_or_default();
    if id.is_empty() {
        return Err(Error::MissingId);
    }
    validate_id(id)?;
    Ok(ParsedLink {
        base: Some(base.to_string()),
        id: Some(id.to_string()),
        key,
        content_hash,
    })
}

/// A key as it appears in a fragment or is handed over separately: `{key}` (ours) or
/// `{key}:{hash}` (Hakanai v3, whose separate-key mode hands over both).
pub fn parse_key(text: &str) -> Result<(SecretKey, Option<ContentHash>), Error> {
    match text.trim().split_once(':') {
        Some((key, hash)) => Ok((SecretKey::parse(key)?, Some(ContentHash::parse(hash)?))),
        None => Ok((SecretKey::parse(text)?, None)),
    }
}

fn validate_id(id: &str) -> Result<(), Error> {
    let well_formed = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(Error::InvalidId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_bytes([42; 32])
    }

    #[test]
    fn build_and_parse_round_trip() {
        let link = build_link("https://h.example/", "AbC-_9", Some(&key())).unwrap();
        assert_eq!(
            link,
            format!("https://h.example/s/AbC-_9#{}", key().to_text())
        );
        let parsed = parse_link(&link).unwrap();
        assert_eq!(parsed.base.as_deref(), Some("https://h.example"));
        assert_eq!(parsed.id.as_deref(), Some("AbC-_9"));
        assert_eq!(parsed.key, Some(key()));
    }

    #[test]
    fn separate_key_and_fragments() {
        let link = build_link("http://x", "id1", None).unwrap();
        let parsed = parse_link(&link).unwrap();
        assert_eq!(parsed.key, None);
        assert_eq!(parsed.require_key().err(), Some(Error::MissingKey));
        let fragment = format!("#{}", key().to_text());
        assert_eq!(parse_link(&fragment).unwrap().key, Some(key()));
        assert_eq!(parse_link(&key().to_text()).unwrap().key, Some(key()));
    }

    #[test]
    fn errors() {
        assert_eq!(parse_link("  "), Err(Error::EmptyLink));
        assert_eq!(
            parse_link("https://h/s/#abc").unwrap_err().code(),
            "key_length"
        );
        assert_eq!(parse_link("https://h/x/y"), Err(Error::MissingId));
        assert_eq!(parse_link("https://h/s/a.b"), Err(Error::InvalidId));
        assert_eq!(
            parse_link("https://h/s/abc#"),
            Err(Error::MissingKey),
            "an empty fragment is a missing key"
        );
        assert!(build_link("b", "bad id", None).is_err());
    }

    #[test]
    fn hakanai_v3_links() {
        let link = "http://127.0.0.1:8390/s/01M8ZHTEPP38M447Q7RNQVJ8M3#7QCN29lzkP-1K1bsjQ435z-aWyqR0bJrFm-S7dwnibA:9YZCcl3YJ_-rDDPB_gO--g";
        let parsed = parse_link(link).unwrap();
        assert_eq!(parsed.id.as_deref(), Some("01M8ZHTEPP38M447Q7RNQVJ8M3"));
        assert_eq!(
            parsed.key.unwrap().to_text(),
            "7QCN29lzkP-1K1bsjQ435z-aWyqR0bJrFm-S7dwnibA"
        );
        assert_eq!(
            parsed.content_hash.unwrap().to_text(),
            "9YZCcl3YJ_-rDDPB_gO--g"
        );
        let (_, hash) =
            parse_key("7QCN29lzkP-1K1bsjQ435z-aWyqR0bJrFm-S7dwnibA:9YZCcl3YJ_-rDDPB_gO--g")
                .unwrap();
        assert!(hash.is_some());
        assert_eq!(
            parse_link("https://h/s/abc#7QCN29lzkP-1K1bsjQ435z-aWyqR0bJrFm-S7dwnibA:x"),
            Err(Error::LegacyHashFormat)
        );
        assert_eq!(
            parse_link(&format!("#{}", key().to_text()))
                .unwrap()
                .content_hash,
            None
        );
    }
}
