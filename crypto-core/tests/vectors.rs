//! Known-answer vectors: the committed files must equal what the deterministic generator
//! produces, and every vector must check out on the native (pure) backend.
//!
//! `cargo xtask vectors` (HAKANAI_UPDATE_VECTORS=1) rewrites the files instead of failing.

use std::path::Path;

use crypto_core::testkit::{
    check_envelope, check_hakanai_v3, check_link, envelope_vectors, generate_envelope_vectors,
    generate_link_vectors, hakanai_v3_vectors, link_vectors,
};
use crypto_core::{run_ready, Pure};

fn ensure_file_contents(name: &str, contents: String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == contents {
        return;
    }
    if std::env::var_os("HAKANAI_UPDATE_VECTORS").is_some() {
        std::fs::write(&path, contents).expect("write vectors");
        eprintln!("updated {}", path.display());
        return;
    }
    panic!(
        "{} is stale; run `cargo xtask vectors` and review the diff",
        path.display()
    );
}

#[test]
fn committed_vectors_match_the_generator() {
    let envelope = serde_json::to_string_pretty(&generate_envelope_vectors()).unwrap() + "\n";
    ensure_file_contents("envelope.json", envelope);
    let links = serde_json::to_string_pretty(&generate_link_vectors()).unwrap() + "\n";
    ensure_file_contents("links.json", links);
}

#[test]
fn envelope_vectors_pass_natively() {
    let vectors = envelope_vectors();
    assert!(vectors.len() >= 20, "vector file looks empty");
    for v in &vectors {
        run_ready(async {
            check_envelope(&Pure, v)
                .await
                .map_err(crypto_core::Error::Backend)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn link_vectors_pass_natively() {
    let vectors = link_vectors();
    assert!(vectors.len() >= 10, "vector file looks empty");
    for v in &vectors {
        check_link(v).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn hakanai_v3_vectors_pass_natively() {
    let vectors = hakanai_v3_vectors();
    assert!(vectors.len() >= 5, "vector file looks empty");
    for v in &vectors {
        check_hakanai_v3(v).unwrap_or_else(|e| panic!("{e}"));
    }
}
