//! Native throughput of the envelope (pure backend) against raw `aes-gcm` on one buffer.
//! Run through `cargo xtask bench`, which embeds the printed Markdown table in BENCHMARKS.md.

use std::time::Instant;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use crypto_core::{decrypt_sync, encrypt_sync, KeySchedule, Kind, Metadata, SecretKey};

fn best_of<F: FnMut()>(runs: usize, mut f: F) -> f64 {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    println!("| native (x86_64) | size | encrypt MB/s | decrypt MB/s |");
    println!("|---|---|---|---|");
    for (label, size, runs) in [("1 MiB", 1usize << 20, 20), ("64 MiB", 64 << 20, 3)] {
        let content: Vec<u8> = (0..size).map(|i| (i * 131) as u8).collect();
        let mb = size as f64 / 1e6;

        let aead = Aes256Gcm::new(&[9u8; 32].into());
        let nonce = Nonce::from_slice(&[1u8; 12]);
        let mut buffer = content.clone();
        let mut tag = Default::default();
        let enc = best_of(runs, || {
            buffer.copy_from_slice(&content);
            tag = aead
                .encrypt_in_place_detached(nonce, b"", &mut buffer)
                .unwrap();
        });
        let sealed = buffer.clone();
        let dec = best_of(runs, || {
            buffer.copy_from_slice(&sealed);
            aead.decrypt_in_place_detached(nonce, b"", &mut buffer, &tag)
                .unwrap();
        });
        println!(
            "| raw aes-gcm, one buffer | {label} | {:.0} | {:.0} |",
            mb / enc,
            mb / dec
        );

        let key = SecretKey::from_bytes([9; 32]);
        let metadata = Metadata {
            kind: Kind::File,
            name: Some("bench.bin".into()),
            media_type: None,
            size: Some(size as u64),
        };
        let mut envelope = Vec::new();
        let enc = best_of(runs, || {
            envelope = encrypt_sync(&KeySchedule::new(key.clone()), &metadata, &content).unwrap();
        });
        let dec = best_of(runs, || {
            let (_, plain) = decrypt_sync(KeySchedule::new(key.clone()), &envelope).unwrap();
            assert_eq!(plain.len(), size);
        });
        println!(
            "| envelope, pure backend | {label} | {:.0} | {:.0} |",
            mb / enc,
            mb / dec
        );
    }
}
