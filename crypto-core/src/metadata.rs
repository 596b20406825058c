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

    /// Parses the record's JSON (trailing whitespace, the padding, allowed). serde-json-core
    /// rather than serde_json: its errors carry no formatted values, and serde_json's bring
    /// float formatting (about 20 KB) into the reveal page's wasm module.
    pub(crate) fn decode(json: &[u8]) -> Result<Self, Error> {
        let json = join_surrogate_pairs(json);
        // Unescaping never makes a string longer than its JSON.
        let mut unescaped = vec![0; json.len()];
        serde_json_core::from_slice_escaped(&json, &mut unescaped)
            .map(|(metadata, _)| metadata)
            .map_err(|e| Error::InvalidMetadata(e.to_string()))
    }
}

/// serde-json-core reads `\uXXXX` escapes one at a time, so it refuses a UTF-16 surrogate
/// pair (`\ud83d\ude00`), which is how ASCII-only encoders (Python's `json.dumps`, for one)
/// write characters beyond the Basic Multilingual Plane. This writes each pair as the UTF-8 it
/// stands for and keeps every other byte, lone surrogates included (they stay an error).
fn join_surrogate_pairs(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let mut rest = json;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte != b'\\' {
            out.push(byte);
            rest = tail;
        } else if let Some(c) = surrogate_pair(rest) {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            rest = &rest[12..];
        } else {
            // The whole two-byte escape, so that `\\` is not taken for the start of another.
            let escape = rest.len().min(2);
            out.extend_from_slice(&rest[..escape]);
            rest = &rest[escape..];
        }
    }
    out
}

/// The character of a `\uD8xx\uDCxx` pair at the start of `s`.
fn surrogate_pair(s: &[u8]) -> Option<char> {
    let unit = |escape: &[u8]| match escape {
        [b'\\', b'u', hex @ ..] => hex
            .iter()
            .try_fold(0, |n, &d| Some(n * 16 + char::from(d).to_digit(16)?)),
        _ => None,
    };
    let high = unit(s.get(..6)?)?;
    let low = unit(s.get(6..12)?)?;
    if !(0xD800..0xDC00).contains(&high) || !(0xDC00..0xE000).contains(&low) {
        return None;
    }
    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
}

/// Reduces an untrusted name to one safe path component: no control characters (Cc) and no
/// format characters (Cf: bidi overrides and isolates, zero-width characters, the BOM, tags),
/// which could make `invoice<U+202E>fdp.exe` show as `invoiceexe.pdf` in a download dialog.
pub fn sanitize_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_format_char(*c))
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_string();
    shorten_file_name(&cleaned, 255)
}

/// The Unicode general category Cf (format), as of Unicode 15.1, as inclusive ranges in order.
/// An explicit table rather than a Unicode-properties crate: it is all the page's wasm needs, and
/// twenty ranges cost nothing there. New Cf characters are rare (the last ones, U+13439..U+1343F,
/// came with Unicode 15.0); the test below pins the table.
const FORMAT_CHARS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),   // soft hyphen
    ('\u{0600}', '\u{0605}'),   // Arabic number signs
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark
    ('\u{06DD}', '\u{06DD}'),   // Arabic end of ayah
    ('\u{070F}', '\u{070F}'),   // Syriac abbreviation mark
    ('\u{0890}', '\u{0891}'),   // Arabic pound and piastre marks above
    ('\u{08E2}', '\u{08E2}'),   // Arabic disputed end of ayah
    ('\u{180E}', '\u{180E}'),   // Mongolian vowel separator
    ('\u{200B}', '\u{200F}'),   // zero-width space, (non-)joiner, LRM, RLM
    ('\u{202A}', '\u{202E}'),   // bidi embeddings and overrides
    ('\u{2060}', '\u{2064}'),   // word joiner, invisible operators
    ('\u{2066}', '\u{206F}'),   // bidi isolates, deprecated format characters
    ('\u{FEFF}', '\u{FEFF}'),   // byte order mark / zero-width no-break space
    ('\u{FFF9}', '\u{FFFB}'),   // interlinear annotation
    ('\u{110BD}', '\u{110BD}'), // Kaithi number sign
    ('\u{110CD}', '\u{110CD}'), // Kaithi number sign above
    ('\u{13430}', '\u{1343F}'), // Egyptian hieroglyph format controls
    ('\u{1BCA0}', '\u{1BCA3}'), // shorthand format controls
    ('\u{1D173}', '\u{1D17A}'), // musical symbol beams and phrases
    ('\u{E0001}', '\u{E0001}'), // language tag
    ('\u{E0020}', '\u{E007F}'), // tag characters
];

/// Whether `c` is in the general category Cf ([`FORMAT_CHARS`]).
fn is_format_char(c: char) -> bool {
    FORMAT_CHARS
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
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
    fn format_characters_are_stripped_from_file_names() {
        // Right-to-left override: shown as "invoiceexe.pdf", really an .exe.
        assert_eq!(
            sanitize_file_name("invoice\u{202E}fdp.exe"),
            "invoicefdp.exe"
        );
        // Isolates, marks, zero-width characters, BOM, soft hyphen, tags.
        assert_eq!(
            sanitize_file_name("\u{FEFF}a\u{2066}b\u{2069}c\u{200B}d\u{200D}e\u{200E}f\u{AD}g.txt"),
            "abcdefg.txt"
        );
        assert_eq!(
            sanitize_file_name("flag\u{E0067}\u{E0062}\u{E007F}.png"),
            "flag.png"
        );
        // Nothing but format characters: the fallback name.
        let m = Metadata {
            kind: Kind::Bundle,
            name: Some("\u{202E}\u{200B}".into()),
            media_type: None,
            size: None,
        };
        assert_eq!(m.safe_file_name(), "secret.tar");
        // Letters, marks and spaces of other scripts stay, combining marks included.
        for kept in [
            "Ärger über Öl.pdf",
            "файл.txt",
            "報告書.docx",
            "e\u{301}te\u{301}.txt",
            "a b.txt",
        ] {
            assert_eq!(sanitize_file_name(kept), kept);
        }
    }

    #[test]
    fn the_format_table_is_ordered_and_exact_at_its_edges() {
        for pair in FORMAT_CHARS.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
        let count: u32 = FORMAT_CHARS
            .iter()
            .map(|&(lo, hi)| hi as u32 - lo as u32 + 1)
            .sum();
        // Unicode 15.1 has 170 code points in Cf.
        assert_eq!(count, 170);
        for &(lo, hi) in FORMAT_CHARS {
            assert!(is_format_char(lo) && is_format_char(hi));
            for outside in [lo as u32 - 1, hi as u32 + 1] {
                let c = char::from_u32(outside).unwrap();
                assert!(!is_format_char(c), "U+{outside:04X}");
            }
        }
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

    #[test]
    fn decoding_unescapes_strings_and_ignores_unknown_fields_and_padding() {
        let json = br#"{"kind":"file","name":"a\"b\\c\u00e9\ud83d\ude00.txt","x":[1,{"y":null}],"size":3}   "#;
        let m = Metadata::decode(json).unwrap();
        assert_eq!(m.kind, Kind::File);
        assert_eq!(m.name.as_deref(), Some("a\"b\\c\u{e9}\u{1f600}.txt"));
        assert_eq!(m.size, Some(3));
        assert_eq!(m.media_type, None);
        // An escaped backslash followed by `ud83d…` is text, not a surrogate.
        let json = br#"{"kind":"file","name":"x\\ud83d\\ude00"}"#;
        let m = Metadata::decode(json).unwrap();
        assert_eq!(m.name.as_deref(), Some("x\\ud83d\\ude00"));
    }

    #[test]
    fn decoding_refuses_what_is_not_one_metadata_object() {
        for bad in [
            &br#"{"kind":"text"} x"#[..],
            br#"{"kind":"text","kind":"file"}"#,
            br#"{"kind":"poem"}"#,
            br#"{"size":1}"#,
            br#"{"kind":"text","size":1.5}"#,
            br#"{"kind":"text","size":-1}"#,
            br#"{"kind":"text","name":"\ud83d"}"#,
            br#"{"kind":"text","name":"\ude00\ud83d"}"#,
            br#"["text"]"#,
            b"",
        ] {
            assert!(
                matches!(Metadata::decode(bad), Err(Error::InvalidMetadata(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn encoding_round_trips_names_that_need_escaping() {
        let m = Metadata {
            kind: Kind::File,
            name: Some("quote\" back\\ tab\t bell\u{7} \u{e9}".into()),
            media_type: Some("application/pdf".into()),
            size: Some(7),
        };
        let encoded = m.encode().unwrap();
        assert_eq!(Metadata::decode(&encoded[4..]).unwrap(), m);
    }
}
