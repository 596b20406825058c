//! The metadata record encrypted at the start of every envelope's plaintext
//! (`docs/FORMAT.md` § Plaintext). The server never sees it.

use serde::{Deserialize, Serialize};

use crate::Error;

/// Largest metadata record a decoder accepts.
pub const MAX_METADATA_LEN: usize = 64 * 1024;

/// What the secret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// UTF-8 text, shown in place.
    Text,
    /// One file.
    File,
    /// Several files packed into one POSIX ustar archive.
    Bundle,
}

/// Metadata about the secret, encrypted inside the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Text, file or bundle.
    pub kind: Kind,
    /// The file name as the sender gave it. Untrusted: use [`Metadata::safe_file_name`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The media type, e.g. `application/pdf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The content length in bytes, when known up front; decoders check it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

impl Metadata {
    /// Metadata for a text secret of `size` bytes.
    pub fn text(size: u64) -> Self {
        Self {
            kind: Kind::Text,
            name: None,
            media_type: Some("text/plain; charset=utf-8".into()),
            size: Some(size),
        }
    }

    /// A file name safe to create in a download directory: the last path component, without
    /// control characters or a leading dot, never empty, at most 255 bytes.
    pub fn safe_file_name(&self) -> String {
        let fallback = match self.kind {
            Kind::Text => "secret.txt",
            Kind::File => "secret.bin",
            Kind::Bundle => "secret.tar",
        };
        self.name
            .as_deref()
            .map(sanitize_file_name)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| fallback.to_string())
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>, Error> {
        let json = serde_json::to_vec(self).map_err(|e| Error::InvalidMetadata(e.to_string()))?;
        if json.len() > MAX_METADATA_LEN {
            return Err(Error::InvalidMetadata("metadata longer than 64 KiB".into()));
        }
        let mut out = Vec::with_capacity(4 + json.len());
        out.extend_from_slice(&(json.len() as u32).to_be_bytes());
        out.extend_from_slice(&json);
        Ok(out)
    }

    pub(crate) fn decode(json: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(json).map_err(|e| Error::InvalidMetadata(e.to_string()))
    }
}

/// Reduces an untrusted name to one safe path component.
pub fn sanitize_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_string();
    shorten_file_name(&cleaned, 255)
}

/// Shortens `name` to at most `max` bytes, keeping a short extension (`.pdf`) intact.
pub(crate) fn shorten_file_name(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let ext = name
        .rfind('.')
        .map(|i| &name[i..])
        .filter(|e| e.len() <= 16)
        .unwrap_or("");
    let mut end = max - ext.len();
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ext}", &name[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_sanitized() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("C:\\x\\evil.exe"), "evil.exe");
        assert_eq!(sanitize_file_name(".bashrc"), "bashrc");
        assert_eq!(sanitize_file_name("a\u{0}b\nc"), "abc");
        let m = Metadata {
            kind: Kind::File,
            name: Some("..".into()),
            media_type: None,
            size: None,
        };
        assert_eq!(m.safe_file_name(), "secret.bin");
        assert_eq!(sanitize_file_name(&"é".repeat(200)).len(), 254);
    }

    #[test]
    fn json_shape_is_stable() {
        let m = Metadata::text(5);
        let encoded = m.encode().unwrap();
        assert_eq!(
            &encoded[4..],
            br#"{"kind":"text","media_type":"text/plain; charset=utf-8","size":5}"#
        );
        assert_eq!(Metadata::decode(&encoded[4..]).unwrap(), m);
    }
}
