//! Links of the form `{base}/s/{id}#{key}` and their parser.
//!
//! The key lives only in the fragment, which browsers never send to a server. In "separate key"
//! mode the link has no fragment and the key travels by another channel.

use crate::{Error, SecretKey};

/// The longest secret id accepted (ids are 22-character base64url UUIDs today).
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
    let key = fragment.map(SecretKey::parse).transpose()?;

    if before_fragment.is_empty() {
        return Ok(ParsedLink {
            base: None,
            id: None,
            key,
        });
    }
    let Some((base, rest)) = before_fragment.rsplit_once("/s/") else {
        if fragment.is_none() && !before_fragment.contains('/') {
            // A bare key, as handed over in separate-key mode.
            return Ok(ParsedLink {
                base: None,
                id: None,
                key: Some(SecretKey::parse(before_fragment)?),
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
    })
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
}
