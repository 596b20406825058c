//! Length hiding (`docs/FORMAT.md` § Padding).
//!
//! The envelope's length is all the server (and anyone who sees the upload) learns, and without
//! padding it gives away the exact length of a text secret — a password's length. Encoders
//! therefore pad the plaintext to a bucket: spaces after the metadata JSON, counted in its
//! length prefix. JSON allows whitespace after the object, so every decoder — including those
//! written before padding existed — reads a padded envelope unchanged, and the true content
//! length stays where it always was, after the record, inside the encryption.

use crate::metadata::{Metadata, MAX_METADATA_LEN};
use crate::Error;

/// Plaintexts up to this length all look alike: any password or short note.
pub const MIN_BUCKET: u64 = 256;
/// The coarsest step, so a large file gains at most this much (and the padding always fits
/// in a metadata record, whose length is capped at 64 KiB).
pub const MAX_GRANULE: u64 = 64 * 1024;

/// How many spaces follow a metadata JSON of `json_len` bytes when `content_len` bytes of
/// content come after it.
///
/// The plaintext `n = 4 + json_len + content_len` is rounded up to a multiple of a granule that
/// grows with it — an eighth of the largest power of two not above `n`, at least
/// [`MIN_BUCKET`] and at most [`MAX_GRANULE`] — so the length is revealed only to within
/// 12.5 % (and not at all below 2 KiB) for at most 12.5 % more bytes. The padding never makes
/// the record longer than a decoder accepts.
pub fn padding_len(json_len: usize, content_len: u64) -> usize {
    let n = 4 + json_len as u64 + content_len;
    let granule = (prev_power_of_two(n) >> 3).clamp(MIN_BUCKET, MAX_GRANULE);
    let target = n.div_ceil(granule).saturating_mul(granule);
    let room = MAX_METADATA_LEN.saturating_sub(json_len) as u64;
    (target - n).min(room) as usize
}

fn prev_power_of_two(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        1 << (63 - n.leading_zeros())
    }
}

/// The plaintext's record, `u32be(L) || metadata JSON || spaces`, padded when `pad` is set and
/// the metadata states the content's size (without it the encoder cannot know the bucket).
pub(crate) fn record(metadata: &Metadata, pad: bool) -> Result<Vec<u8>, Error> {
    let mut record = metadata.encode()?;
    let json_len = record.len() - 4;
    let spaces = match metadata.size {
        Some(size) if pad => padding_len(json_len, size),
        _ => 0,
    };
    if spaces > 0 {
        record.resize(record.len() + spaces, b' ');
        record[..4].copy_from_slice(&((json_len + spaces) as u32).to_be_bytes());
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plaintext_len(json_len: usize, content: u64) -> u64 {
        4 + (json_len + padding_len(json_len, content)) as u64 + content
    }

    #[test]
    fn short_secrets_all_look_alike() {
        let json = r#"{"kind":"text","media_type":"text/plain; charset=utf-8","size":0}"#.len();
        let lens: Vec<u64> = (0..=150).map(|n| plaintext_len(json, n)).collect();
        assert!(lens.iter().all(|&l| l == MIN_BUCKET), "{lens:?}");
    }

    #[test]
    fn buckets_are_within_an_eighth() {
        for content in [300u64, 2_047, 2_048, 5_000, 70_000, 1 << 20, (1 << 30) + 7] {
            let n = 4 + 40 + content;
            let padded = plaintext_len(40, content);
            assert!(padded >= n);
            assert!(padded - n <= (n / 8).max(MIN_BUCKET), "{content}: {padded}");
            assert!(padded - n < MAX_GRANULE);
        }
        // Neighbouring lengths share a bucket.
        assert_eq!(plaintext_len(40, 5_000), plaintext_len(40, 5_050));
        assert_eq!(
            plaintext_len(40, 1 << 20),
            plaintext_len(40, (1 << 20) + 1000)
        );
    }

    #[test]
    fn padding_never_outgrows_the_record_limit() {
        let json = MAX_METADATA_LEN - 10;
        assert!(json + padding_len(json, 1 << 30) <= MAX_METADATA_LEN);
        assert_eq!(padding_len(MAX_METADATA_LEN, 5), 0);
    }

    #[test]
    fn the_record_counts_its_spaces() {
        let metadata = Metadata::text(3);
        let plain = record(&metadata, false).unwrap();
        let padded = record(&metadata, true).unwrap();
        assert_eq!(padded.len() as u64 + 3, MIN_BUCKET);
        let len = u32::from_be_bytes(padded[..4].try_into().unwrap()) as usize;
        assert_eq!(len, padded.len() - 4);
        assert_eq!(&padded[..4 + plain.len() - 4][4..], &plain[4..]);
        assert!(padded[plain.len()..].iter().all(|&b| b == b' '));
        assert_eq!(Metadata::decode(&padded[4..]).unwrap(), metadata);
        // Unknown size: nothing to pad against.
        let streamed = Metadata {
            size: None,
            ..Metadata::text(0)
        };
        assert_eq!(record(&streamed, true).unwrap(), streamed.encode().unwrap());
    }
}
