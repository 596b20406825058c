//! The link and key parsers must answer every string with a value or a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(parsed) = crypto_core::parse_link(&text) {
        // What parses must rebuild into a link that parses to the same id and key.
        if let (Some(base), Some(id)) = (&parsed.base, &parsed.id) {
            let rebuilt = crypto_core::build_link(base, id, parsed.key.as_ref()).expect("valid id");
            let again = crypto_core::parse_link(&rebuilt).expect("rebuilt link parses");
            assert_eq!(again.id, parsed.id);
            assert_eq!(again.key, parsed.key);
        }
    }
    let _ = crypto_core::SecretKey::parse(&text);
});
