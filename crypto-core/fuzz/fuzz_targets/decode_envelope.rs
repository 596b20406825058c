//! The envelope decoder must reject any input with a typed error, never panic, whether the
//! input arrives in one piece or in chunks. The first byte chooses the chunk size; inputs
//! that start with a valid header under the fixed key reach the segment logic.
#![no_main]

use crypto_core::{run_ready, Decryptor, KeySchedule, Pure, SecretKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    // The key of the `file_several_segments` vector, so seeds from it pass the header MAC.
    let key: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(31).wrapping_add(3));
    let keys = KeySchedule::new(SecretKey::from_bytes(key));
    let _ = run_ready(async {
        let mut decryptor = Decryptor::new(Pure, keys);
        for piece in input.chunks(chunk) {
            decryptor.push(piece).await?;
        }
        decryptor.finish().await
    });
});
