//! Known-answer test vectors: their data model, a deterministic generator and a checker that
//! runs over any [`Backend`]. Shared by the native tests and the wasm tests (Node, Chromium),
//! so every target checks the same files in the same way.

use serde::{Deserialize, Serialize};

use crate::{
    decrypt, encrypt, parse_link, Argon2Params, Backend, EncryptOptions, Error, HeaderRandomness,
    KeySchedule, Kind, Metadata, ReadToken, SecretKey,
};

/// The envelope vectors, as committed.
pub const ENVELOPE_VECTORS: &str = include_str!("../tests/vectors/envelope.json");
/// The link-parser vectors, as committed.
pub const LINK_VECTORS: &str = include_str!("../tests/vectors/links.json");
/// Secrets made by Hakanai v3.0.7's own CLI and read back from its server, as committed.
pub const HAKANAI_V3_VECTORS: &str = include_str!("../tests/vectors/hakanai_v3.json");

/// A Hakanai v3 secret as its CLI made it: the link, the body its server returned, and what
/// the secret holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HakanaiV3Vector {
    /// What the vector covers.
    pub name: String,
    /// The Hakanai CLI command that made it.
    pub made_with: String,
    /// The link the CLI printed (`…/s/{ULID}#{key}:{hash}`).
    pub link: String,
    /// The body of `GET /api/v1/secret/{id}` (base64 text).
    pub body: String,
    /// The passphrase it was sent with, if any.
    pub passphrase: Option<String>,
    /// The `X-Secret-Passphrase` value Hakanai's CLI sent to read it.
    pub passphrase_header: Option<String>,
    /// `text` or `file`.
    pub kind: Kind,
    /// The file name in the payload.
    pub file_name: Option<String>,
    /// The content, hex.
    pub content_hex: String,
}

/// Checks one Hakanai v3 vector: it opens to its content, its passphrase header is derived the
/// way Hakanai's CLI derives it, and a wrong key, a wrong check value or a modified body fail
/// with their own errors.
pub fn check_hakanai_v3(v: &HakanaiV3Vector) -> Result<(), String> {
    use crate::hakanai_v3::{open, passphrase_header, ContentHash};
    let fail = |what: &str| format!("{}: {what}", v.name);
    let parsed = parse_link(&v.link).map_err(|e| fail(&e.to_string()))?;
    let key = parsed.key.ok_or_else(|| fail("no key"))?;
    let hash = parsed.content_hash.ok_or_else(|| fail("no check value"))?;
    let (metadata, content) =
        open(&key, &hash, v.body.as_bytes()).map_err(|e| fail(&e.to_string()))?;
    if (metadata.kind, &metadata.name) != (v.kind, &v.file_name) {
        return Err(fail(&format!("metadata {metadata:?}")));
    }
    if hex::encode(&content) != v.content_hex || metadata.size != Some(content.len() as u64) {
        return Err(fail("content differs"));
    }
    let header = v
        .passphrase
        .as_ref()
        .map(|p| passphrase_header(p.as_bytes()));
    if header != v.passphrase_header {
        return Err(fail("passphrase header differs"));
    }
    let expect = |code: &str, r: Result<(Metadata, Vec<u8>), Error>| match r {
        Err(e) if e.code() == code => Ok(()),
        other => Err(fail(&format!("expected {code}, got {other:?}"))),
    };
    expect(
        "legacy_authentication",
        open(&SecretKey::from_bytes([0; 32]), &hash, v.body.as_bytes()),
    )?;
    let other_hash = ContentHash::parse("AAAAAAAAAAAAAAAAAAAAAA").expect("valid");
    expect(
        "legacy_hash_mismatch",
        open(&key, &other_hash, v.body.as_bytes()),
    )?;
    let mut modified = v.body.clone().into_bytes();
    let last = modified.len() / 2;
    modified[last] = if modified[last] == b'A' { b'B' } else { b'A' };
    expect("legacy_authentication", open(&key, &hash, &modified))?;
    expect("legacy_ciphertext", open(&key, &hash, b"not base64!"))?;
    Ok(())
}

/// Parses the committed Hakanai v3 vectors.
pub fn hakanai_v3_vectors() -> Vec<HakanaiV3Vector> {
    serde_json::from_str(HAKANAI_V3_VECTORS).expect("committed vectors are valid JSON")
}

/// Argon2id parameters as stored in a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VectorArgon2 {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

/// One envelope vector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeVector {
    /// Unique name.
    pub name: String,
    /// What the vector exercises.
    pub comment: String,
    /// `"success"` or the [`Error::code`] decoding must fail with.
    pub expect: String,
    /// The fragment key (base64url).
    pub key: String,
    /// The passphrase the *reader* uses (UTF-8), if any.
    pub passphrase: Option<String>,
    /// Argon2id parameters the reader uses with `passphrase` (defaults to the header's).
    pub argon2: Option<VectorArgon2>,
    /// The verifier the reader presents to the server (hex), for passphrase vectors.
    pub verifier: Option<String>,
    /// The read token the reader presents to the server (hex, `docs/FORMAT.md` § Read token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_token: Option<String>,
    /// What the sender uploads for it: `hex(SHA-256(read_token))`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_token_hash: Option<String>,
    /// Plaintext segment size used to encode.
    pub segment_size: u32,
    /// Header salt (hex), so encoders can reproduce the envelope.
    pub salt: String,
    /// Header nonce prefix (hex).
    pub nonce_prefix: String,
    /// Whether the encoder padded the plaintext (`docs/FORMAT.md` § Padding); absent means
    /// not, as in the vectors written before padding existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub padded: bool,
    /// Decrypted metadata (success vectors).
    pub metadata: Option<Metadata>,
    /// Decrypted content (hex, success vectors).
    pub content: Option<String>,
    /// The envelope (hex).
    pub envelope: String,
}

/// One link-parser vector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkVector {
    /// The parser input.
    pub input: String,
    /// `"success"` or the expected [`Error::code`].
    pub expect: String,
    /// Expected base (success).
    pub base: Option<String>,
    /// Expected id (success).
    pub id: Option<String>,
    /// Expected key (success; base64url).
    pub key: Option<String>,
}

fn schedule(v: &EnvelopeVector) -> Result<KeySchedule, String> {
    let key = SecretKey::parse(&v.key).map_err(|e| format!("{}: bad key: {e}", v.name))?;
    Ok(match &v.passphrase {
        None => KeySchedule::new(key),
        Some(p) => {
            let a = v
                .argon2
                .ok_or_else(|| format!("{}: passphrase without argon2", v.name))?;
            let params = Argon2Params {
                m_cost_kib: a.m_cost_kib,
                t_cost: a.t_cost,
                p_cost: a.p_cost,
            };
            KeySchedule::with_passphrase(key, p.as_bytes(), params)
                .map_err(|e| format!("{}: {e}", v.name))?
        }
    })
}

fn unhex(name: &str, field: &str, s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s).map_err(|e| format!("{name}: {field} is not hex: {e}"))
}

/// Checks one envelope vector on `backend`: decoding gives the expected result, the verifier
/// matches, and success vectors re-encode to the identical bytes.
pub async fn check_envelope<B: Backend + Clone>(
    backend: &B,
    v: &EnvelopeVector,
) -> Result<(), String> {
    let keys = schedule(v)?;
    if let Some(expected) = &v.verifier {
        let got = keys.verifier().map(|x| x.to_hex());
        if got.as_deref() != Some(expected.as_str()) {
            return Err(format!("{}: verifier {got:?} != {expected}", v.name));
        }
    }
    let token = keys.read_token();
    if let Some(expected) = &v.read_token {
        if &token.to_hex() != expected {
            return Err(format!("{}: read token differs", v.name));
        }
    }
    if let Some(expected) = &v.read_token_hash {
        if &token.server_hash_hex() != expected {
            return Err(format!("{}: read token hash differs", v.name));
        }
    }
    let envelope = unhex(&v.name, "envelope", &v.envelope)?;
    let result = decrypt(backend.clone(), keys, &envelope).await;
    match (v.expect.as_str(), result) {
        ("success", Ok((metadata, content))) => {
            if Some(&metadata) != v.metadata.as_ref() {
                return Err(format!("{}: metadata {metadata:?}", v.name));
            }
            if Some(hex::encode(&content)) != v.content {
                return Err(format!("{}: content differs", v.name));
            }
            let salt = unhex(&v.name, "salt", &v.salt)?;
            let prefix = unhex(&v.name, "nonce_prefix", &v.nonce_prefix)?;
            let options = EncryptOptions {
                segment_size: v.segment_size,
                randomness: Some(HeaderRandomness {
                    salt: salt
                        .try_into()
                        .map_err(|_| format!("{}: salt length", v.name))?,
                    nonce_prefix: prefix
                        .try_into()
                        .map_err(|_| format!("{}: nonce prefix length", v.name))?,
                }),
                pad: v.padded,
            };
            let again = encrypt(backend, &schedule(v)?, &metadata, &content, &options)
                .await
                .map_err(|e| format!("{}: re-encrypt: {e}", v.name))?;
            if again != envelope {
                return Err(format!("{}: re-encryption is not byte-identical", v.name));
            }
            Ok(())
        }
        ("success", Err(e)) => Err(format!("{}: expected success, got {e}", v.name)),
        (code, Err(e)) if e.code() == code => Ok(()),
        (code, other) => Err(format!("{}: expected {code}, got {other:?}", v.name)),
    }
}

/// Checks one link vector.
pub fn check_link(v: &LinkVector) -> Result<(), String> {
    match (v.expect.as_str(), parse_link(&v.input)) {
        ("success", Ok(p)) => {
            let got = (p.base, p.id, p.key.map(|k| k.to_text()));
            let want = (v.base.clone(), v.id.clone(), v.key.clone());
            if got == want {
                Ok(())
            } else {
                Err(format!("{:?}: got {got:?}, want {want:?}", v.input))
            }
        }
        (code, Err(e)) if e.code() == code => Ok(()),
        (code, other) => Err(format!("{:?}: expected {code}, got {other:?}", v.input)),
    }
}

/// Parses the committed envelope vectors.
pub fn envelope_vectors() -> Vec<EnvelopeVector> {
    serde_json::from_str(ENVELOPE_VECTORS).expect("committed vectors are valid JSON")
}

/// Parses the committed link vectors.
pub fn link_vectors() -> Vec<LinkVector> {
    serde_json::from_str(LINK_VECTORS).expect("committed vectors are valid JSON")
}

// ---- generation -----------------------------------------------------------------------------

/// Deterministic bytes: a simple counter pattern, so vectors need no RNG.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn arr<const N: usize>(seed: u8) -> [u8; N] {
    pattern(seed, N).try_into().expect("length N")
}

struct Spec {
    name: &'static str,
    comment: &'static str,
    key_seed: u8,
    passphrase: Option<(&'static str, Argon2Params)>,
    segment_size: u32,
    metadata: Metadata,
    content: Vec<u8>,
    pad: bool,
}

const FAST_ARGON2: Argon2Params = Argon2Params {
    m_cost_kib: 64,
    t_cost: 1,
    p_cost: 1,
};

fn specs() -> Vec<Spec> {
    let file = |name: &str, len: usize| Metadata {
        kind: Kind::File,
        name: Some(name.into()),
        media_type: Some("application/octet-stream".into()),
        size: Some(len as u64),
    };
    vec![
        Spec {
            name: "text_empty",
            comment: "empty text; one short last segment",
            key_seed: 1,
            passphrase: None,
            segment_size: 64,
            metadata: Metadata::text(0),
            content: Vec::new(),
            pad: false,
        },
        Spec {
            name: "text_hello",
            comment: "short text at the default 256 KiB segment size",
            key_seed: 2,
            passphrase: None,
            segment_size: crate::format::DEFAULT_SEGMENT_SIZE,
            metadata: Metadata::text(12),
            content: b"hello, world".to_vec(),
            pad: false,
        },
        Spec {
            name: "file_several_segments",
            comment: "a file over seven 64-byte segments, the last one partial",
            key_seed: 3,
            passphrase: None,
            segment_size: 64,
            metadata: file("report.pdf", 300),
            content: pattern(3, 300),
            pad: false,
        },
        Spec {
            name: "file_exact_segments",
            comment: "plaintext (record + content) exactly two segments: the last segment is full",
            key_seed: 4,
            passphrase: None,
            segment_size: 128,
            // The record for this metadata is 4 + 85 bytes; 256 - 89 = 167 content bytes.
            metadata: file("exact.bin", 167),
            content: pattern(4, 167),
            pad: false,
        },
        Spec {
            name: "bundle_no_size",
            comment: "bundle kind, content length not recorded in the metadata",
            key_seed: 5,
            passphrase: None,
            segment_size: 64,
            metadata: Metadata {
                kind: Kind::Bundle,
                name: Some("files.tar".into()),
                media_type: Some("application/x-tar".into()),
                size: None,
            },
            content: pattern(5, 100),
            pad: false,
        },
        Spec {
            name: "passphrase_fast_params",
            comment: "passphrase with small Argon2id parameters (m=64 KiB, t=1, p=1)",
            key_seed: 6,
            passphrase: Some(("correct horse battery staple", FAST_ARGON2)),
            segment_size: 64,
            metadata: Metadata::text(20),
            content: pattern(6, 20),
            pad: false,
        },
        Spec {
            name: "passphrase_default_params",
            comment: "passphrase with the default Argon2id parameters (m=19 MiB, t=2, p=1)",
            key_seed: 7,
            passphrase: Some(("Zwölf Boxkämpfer jagen Viktor", Argon2Params::DEFAULT)),
            segment_size: crate::format::DEFAULT_SEGMENT_SIZE,
            metadata: Metadata::text(5),
            content: b"12345".to_vec(),
            pad: false,
        },
        Spec {
            name: "text_padded_password",
            comment:
                "a short text (a password) padded to the smallest bucket: 256 bytes of plaintext",
            key_seed: 10,
            passphrase: None,
            segment_size: 64,
            metadata: Metadata::text(9),
            content: b"hunter2!!".to_vec(),
            pad: true,
        },
        Spec {
            name: "file_padded_bucket",
            comment:
                "a 5000-byte file padded to a multiple of 512 (an eighth of 4096) in 1 KiB segments",
            key_seed: 11,
            passphrase: None,
            segment_size: 1024,
            metadata: file("padded.bin", 5000),
            content: pattern(11, 5000),
            pad: true,
        },
        Spec {
            name: "passphrase_nfc",
            comment: "a passphrase in NFC with accents, a singleton (Å), Hangul and two marks on q",
            key_seed: 8,
            passphrase: Some((PASSPHRASE_NFC, FAST_ARGON2)),
            segment_size: 64,
            metadata: Metadata::text(3),
            content: b"nfc".to_vec(),
            pad: false,
        },
    ]
}

/// NFC: `Å` (U+00C5), `ö`, `é`, two precomposed Hangul syllables, `q` + dot below + dot above.
const PASSPHRASE_NFC: &str = "\u{C5}ngstr\u{F6}m caf\u{E9} \u{D55C}\u{AE00} q\u{323}\u{307}";
/// The same text not in NFC: the Ångström sign (U+212B), combining accents, conjoining jamo and
/// the two marks on q in non-canonical order. NFC maps it to [`PASSPHRASE_NFC`].
const PASSPHRASE_NOT_NFC: &str = "\u{212B}ngstro\u{308}m cafe\u{301} \u{1112}\u{1161}\u{11AB}\u{1100}\u{1173}\u{11AF} q\u{307}\u{323}";

fn to_vector(
    spec: &Spec,
    name: String,
    comment: String,
    expect: String,
    envelope: &[u8],
    reader_passphrase: Option<&str>,
) -> EnvelopeVector {
    let key = SecretKey::from_bytes(arr(spec.key_seed));
    let argon2 = spec.passphrase.map(|(_, p)| VectorArgon2 {
        m_cost_kib: p.m_cost_kib,
        t_cost: p.t_cost,
        p_cost: p.p_cost,
    });
    let verifier = reader_passphrase.and_then(|p| {
        let params = spec.passphrase.map(|(_, a)| a).unwrap_or(FAST_ARGON2);
        KeySchedule::with_passphrase(key.clone(), p.as_bytes(), params)
            .ok()?
            .verifier()
            .map(|v| v.to_hex())
    });
    let success = expect == "success";
    EnvelopeVector {
        name,
        comment,
        expect,
        key: key.to_text(),
        passphrase: reader_passphrase.map(str::to_string),
        argon2: reader_passphrase.and(argon2.or(Some(VectorArgon2 {
            m_cost_kib: FAST_ARGON2.m_cost_kib,
            t_cost: FAST_ARGON2.t_cost,
            p_cost: FAST_ARGON2.p_cost,
        }))),
        verifier,
        read_token: Some(ReadToken::derive(&key).to_hex()),
        read_token_hash: Some(ReadToken::derive(&key).server_hash_hex()),
        segment_size: spec.segment_size,
        salt: hex::encode(arr::<16>(spec.key_seed + 100)),
        nonce_prefix: hex::encode(arr::<7>(spec.key_seed + 200)),
        padded: spec.pad,
        metadata: success.then(|| spec.metadata.clone()),
        content: success.then(|| hex::encode(&spec.content)),
        envelope: hex::encode(envelope),
    }
}

fn encode_spec(spec: &Spec) -> Result<Vec<u8>, Error> {
    let key = SecretKey::from_bytes(arr(spec.key_seed));
    let keys = match spec.passphrase {
        None => KeySchedule::new(key),
        Some((p, params)) => KeySchedule::with_passphrase(key, p.as_bytes(), params)?,
    };
    let options = EncryptOptions {
        segment_size: spec.segment_size,
        randomness: Some(HeaderRandomness {
            salt: arr(spec.key_seed + 100),
            nonce_prefix: arr(spec.key_seed + 200),
        }),
        pad: spec.pad,
    };
    crate::encrypt_sync_with(&keys, &spec.metadata, &spec.content, &options)
}

/// Builds every envelope vector from fixed inputs (no randomness). `tamper` derives the
/// failure vectors from a multi-segment envelope; the expected codes are what the
/// specification requires, checked again by the generator.
pub fn generate_envelope_vectors() -> Vec<EnvelopeVector> {
    let mut out = Vec::new();
    let specs = specs();
    for spec in &specs {
        let envelope = encode_spec(spec).expect("vector specs are valid");
        let pass = spec.passphrase.map(|(p, _)| p);
        out.push(to_vector(
            spec,
            spec.name.into(),
            spec.comment.into(),
            "success".into(),
            &envelope,
            pass,
        ));
    }

    let base = &specs[2]; // file_several_segments: header (65) + 7 segments of up to 80 bytes
    let env = encode_spec(base).expect("valid");
    let header_len = 65;
    let seg = 64 + 16;
    let segment =
        |i: usize| env[header_len + i * seg..(header_len + (i + 1) * seg).min(env.len())].to_vec();
    let n_segments = (env.len() - header_len).div_ceil(seg);
    let mut cases: Vec<(&str, &str, &str, Vec<u8>)> = Vec::new();
    let flip = |at: usize| {
        let mut e = env.clone();
        e[at] ^= 0x01;
        e
    };
    cases.push((
        "tamper_header_bit",
        "a bit flipped in the header salt",
        "header_authentication",
        flip(12),
    ));
    cases.push((
        "tamper_header_mac",
        "a bit flipped in the header MAC",
        "header_authentication",
        flip(header_len - 1),
    ));
    cases.push((
        "tamper_body_bit",
        "a bit flipped in segment 1",
        "segment_authentication",
        flip(header_len + seg + 5),
    ));
    cases.push((
        "tamper_last_tag",
        "a bit flipped in the last tag",
        "segment_authentication",
        flip(env.len() - 1),
    ));
    cases.push((
        "truncated_last_segment",
        "the last segment removed",
        "truncated",
        env[..header_len + (n_segments - 1) * seg].to_vec(),
    ));
    cases.push((
        "truncated_inside_segment",
        "cut inside the last segment, leaving less than a tag",
        "truncated",
        env[..env.len() - 7].to_vec(),
    ));
    cases.push((
        "truncated_header",
        "only part of the header",
        "truncated",
        env[..40].to_vec(),
    ));
    cases.push(("empty_input", "no bytes at all", "truncated", Vec::new()));
    let mut reordered = env[..header_len].to_vec();
    reordered.extend(segment(1));
    reordered.extend(segment(0));
    for i in 2..n_segments {
        reordered.extend(segment(i));
    }
    cases.push((
        "reordered_segments",
        "segments 0 and 1 swapped",
        "segment_authentication",
        reordered,
    ));
    let mut dropped = env[..header_len].to_vec();
    for i in (0..n_segments).filter(|&i| i != 1) {
        dropped.extend(segment(i));
    }
    cases.push((
        "dropped_segment",
        "segment 1 removed",
        "segment_authentication",
        dropped,
    ));
    let mut duplicated = env[..header_len + 2 * seg].to_vec();
    duplicated.extend(segment(1));
    duplicated.extend_from_slice(&env[header_len + 2 * seg..]);
    cases.push((
        "duplicated_segment",
        "segment 1 repeated",
        "segment_authentication",
        duplicated,
    ));
    let mut appended = env.clone();
    appended.extend_from_slice(&[0u8; 100]);
    cases.push((
        "appended_data",
        "100 bytes after a short last segment: segment boundaries shift",
        "segment_authentication",
        appended,
    ));
    let mut magic = env.clone();
    magic[0] = b'X';
    cases.push(("bad_magic", "not an envelope", "not_an_envelope", magic));
    let mut version = env.clone();
    version[4] = 2;
    cases.push((
        "unknown_version",
        "version 2",
        "unsupported_version",
        version,
    ));
    let mut flags = env.clone();
    flags[5] = 0x80;
    cases.push((
        "reserved_flag",
        "a reserved flag bit set",
        "malformed_header",
        flags,
    ));

    for (name, comment, expect, bytes) in cases {
        out.push(to_vector(
            base,
            name.into(),
            comment.into(),
            expect.into(),
            &bytes,
            None,
        ));
    }

    let exact = &specs[3];
    let mut exact_env = encode_spec(exact).expect("valid");
    exact_env.extend_from_slice(&[0u8; 10]);
    out.push(to_vector(
        exact,
        "appended_after_full_last".into(),
        "10 bytes after a full last segment".into(),
        "trailing_data".into(),
        &exact_env,
        None,
    ));

    let pw = &specs[5];
    let pw_env = encode_spec(pw).expect("valid");
    out.push(to_vector(
        pw,
        "passphrase_wrong".into(),
        "the wrong passphrase".into(),
        "header_authentication".into(),
        &pw_env,
        Some("correct horse battery stapler"),
    ));
    out.push(to_vector(
        pw,
        "passphrase_missing".into(),
        "no passphrase given".into(),
        "passphrase_required".into(),
        &pw_env,
        None,
    ));
    out.push(to_vector(
        base,
        "passphrase_unexpected".into(),
        "a passphrase for an envelope without one".into(),
        "passphrase_not_expected".into(),
        &env,
        Some("anything"),
    ));
    // Passphrases are NFC-normalised before Argon2id: another form of the same text opens it.
    let nfc = specs
        .iter()
        .find(|s| s.name == "passphrase_nfc")
        .expect("the NFC spec");
    let nfc_env = encode_spec(nfc).expect("valid");
    out.push(to_vector(
        nfc,
        "passphrase_nfd_opens_nfc".into(),
        "the passphrase of passphrase_nfc typed in another Unicode form (not NFC) opens it".into(),
        "success".into(),
        &nfc_env,
        Some(PASSPHRASE_NOT_NFC),
    ));

    // Argon2id parameters beyond the accepted range: refused from the header alone, before
    // any Argon2id run (and so before the MAC, which these edits leave stale).
    let set_argon2 = |m_cost_kib: u32, t_cost: u32| {
        let mut e = pw_env.clone();
        e[33..37].copy_from_slice(&m_cost_kib.to_be_bytes());
        e[37..41].copy_from_slice(&t_cost.to_be_bytes());
        e
    };
    for (name, comment, bytes) in [
        (
            "argon2_memory_refused",
            "header asks for 256 MiB of Argon2id memory (the cap is 64 MiB)",
            set_argon2(256 * 1024, 1),
        ),
        (
            "argon2_work_refused",
            "header asks for 64 MiB × 4 iterations (the work cap is 64 MiB × 3)",
            set_argon2(64 * 1024, 4),
        ),
    ] {
        out.push(to_vector(
            pw,
            name.into(),
            comment.into(),
            "argon2_params_refused".into(),
            &bytes,
            Some("correct horse battery staple"),
        ));
    }
    let mut wrong_key = to_vector(
        base,
        "wrong_key".into(),
        "another key".into(),
        "header_authentication".into(),
        &env,
        None,
    );
    let reader_key = SecretKey::from_bytes([0xEE; 32]);
    wrong_key.key = reader_key.to_text();
    wrong_key.read_token = Some(ReadToken::derive(&reader_key).to_hex());
    wrong_key.read_token_hash = Some(ReadToken::derive(&reader_key).server_hash_hex());
    out.push(wrong_key);
    out
}

/// Builds the link-parser vectors.
pub fn generate_link_vectors() -> Vec<LinkVector> {
    let key = SecretKey::from_bytes(arr(9)).to_text();
    let ok = |input: String, base: Option<&str>, id: Option<&str>, key: Option<&str>| LinkVector {
        input,
        expect: "success".into(),
        base: base.map(str::to_string),
        id: id.map(str::to_string),
        key: key.map(str::to_string),
    };
    let err = |input: String, code: &str| LinkVector {
        input,
        expect: code.into(),
        base: None,
        id: None,
        key: None,
    };
    vec![
        ok(
            format!("https://secrets.example.com/s/2hB8kq0KTuW6q_Gd9-5xYw#{key}"),
            Some("https://secrets.example.com"),
            Some("2hB8kq0KTuW6q_Gd9-5xYw"),
            Some(&key),
        ),
        ok(
            format!("  http://127.0.0.1:8080/prefix/s/abc?x=1#{key}\n"),
            Some("http://127.0.0.1:8080/prefix"),
            Some("abc"),
            Some(&key),
        ),
        ok(
            "https://h.example/s/abc".into(),
            Some("https://h.example"),
            Some("abc"),
            None,
        ),
        ok(format!("#{key}"), None, None, Some(&key)),
        ok(key.clone(), None, None, Some(&key)),
        err(String::new(), "empty_link"),
        err(
            format!("https://h.example/s/abc#{}", &key[..42]),
            "key_length",
        ),
        err(
            format!("https://h.example/s/abc#{}+", &key[..42]),
            "key_charset",
        ),
        err(
            format!("https://h.example/s/abc#{}B", &key[..42]),
            "key_encoding",
        ),
        err("https://h.example/s/abc#".into(), "missing_key"),
        err(format!("https://h.example/x/abc#{key}"), "missing_id"),
        err(format!("https://h.example/s/#{key}"), "missing_id"),
        err(format!("https://h.example/s/a%20b#{key}"), "invalid_id"),
    ]
}
