//! What only the full module has: pure-Rust AES (through the backend choice), Argon2id,
//! bundles and QR codes. The page's small first module is built without these
//! (`--no-default-features`) and loads the full one when a visitor needs one of them.

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

use crate::convert::{self, core_error, js_error, QR_TOO_LONG};

/// The passphrase key of `key` and `passphrase` for `argon2` (`{mCostKib, tCost, pCost}`,
/// defaults as `SecretKeys`): Argon2id, about a second. Meant for a Worker: hand the 32 bytes
/// to `SecretKeys.withPassphrasePrk` in the module that encrypts or decrypts.
#[wasm_bindgen(js_name = passphrasePrk)]
pub fn passphrase_prk(
    key: &str,
    passphrase: &str,
    #[wasm_bindgen(unchecked_param_type = "{mCostKib?: number, tCost?: number, pCost?: number}")]
    argon2: JsValue,
) -> Result<Uint8Array, JsValue> {
    let key = crypto_core::SecretKey::parse(key).map_err(core_error)?;
    let params = convert::argon2_params(&argon2)?;
    let prk =
        crypto_core::passphrase_prk(&key, passphrase.as_bytes(), params).map_err(core_error)?;
    Ok(Uint8Array::from(&prk.as_bytes()[..]))
}

/// A link as a QR code, as an SVG document.
#[wasm_bindgen(js_name = qrSvg)]
pub fn qr_svg(text: &str) -> Result<String, JsValue> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| js_error(QR_TOO_LONG, &format!("cannot encode as QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// The 512-byte bundle header of a file; follow it with the file's bytes, then
/// `bundlePadding(size)`; end the bundle with `bundleEnd()`.
#[wasm_bindgen(js_name = bundleFileHeader)]
pub fn bundle_file_header(name: &str, size: f64) -> Result<Uint8Array, JsValue> {
    let size = convert::size_from_js(size)?;
    let header = crypto_core::bundle::file_header(name, size).map_err(core_error)?;
    Ok(Uint8Array::from(&header[..]))
}

/// The zero bytes that follow a file of `size` bytes in a bundle.
#[wasm_bindgen(js_name = bundlePadding)]
pub fn bundle_padding(size: f64) -> Result<Uint8Array, JsValue> {
    let size = convert::size_from_js(size)?;
    Ok(Uint8Array::from(crypto_core::bundle::padding(size)))
}

/// The bundle's end marker.
#[wasm_bindgen(js_name = bundleEnd)]
pub fn bundle_end() -> Uint8Array {
    Uint8Array::from(&crypto_core::bundle::END[..])
}

/// The total length of a bundle of files with these sizes (for `metadata.size`).
#[wasm_bindgen(js_name = bundleSize)]
pub fn bundle_size(sizes: Vec<f64>) -> Result<f64, JsValue> {
    let sizes = sizes
        .into_iter()
        .map(convert::size_from_js)
        .collect::<Result<Vec<u64>, JsValue>>()?;
    Ok(crypto_core::bundle::encoded_len(&sizes) as f64)
}

/// Reads a bundle incrementally: `push(chunk)` returns the events it completes —
/// `{type: 'start', name, size}`, `{type: 'data', bytes}`, `{type: 'end'}`; `finish()` checks
/// the end marker. Names are already safe single path components.
#[wasm_bindgen]
pub struct BundleReader(crypto_core::bundle::BundleReader);

#[wasm_bindgen]
impl BundleReader {
    /// A reader at the start of a bundle.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::new_without_default)] // a JS constructor, not a Rust API
    pub fn new() -> BundleReader {
        Self(crypto_core::bundle::BundleReader::new())
    }

    /// Consumes a chunk of the decrypted bundle.
    #[wasm_bindgen(
        unchecked_return_type = "Array<{type: 'start', name: string, size: number} | {type: 'data', bytes: Uint8Array} | {type: 'end'}>"
    )]
    pub fn push(&mut self, chunk: &[u8]) -> Result<js_sys::Array, JsValue> {
        use crypto_core::bundle::BundleEvent;
        let events = js_sys::Array::new();
        for event in self.0.push(chunk).map_err(core_error)? {
            let object = js_sys::Object::new();
            match event {
                BundleEvent::FileStart { name, size } => {
                    convert::set(&object, "type", Some("start".into()));
                    convert::set(&object, "name", Some(name.into()));
                    convert::set(&object, "size", Some((size as f64).into()));
                }
                BundleEvent::FileData(bytes) => {
                    convert::set(&object, "type", Some("data".into()));
                    convert::set(&object, "bytes", Some(Uint8Array::from(&bytes[..]).into()));
                }
                BundleEvent::FileEnd => convert::set(&object, "type", Some("end".into())),
            }
            events.push(&object);
        }
        Ok(events)
    }

    /// Throws `invalid_bundle` unless the bundle ended with its end marker.
    pub fn finish(&self) -> Result<(), JsValue> {
        self.0.finish().map_err(core_error)
    }
}

/// The default Argon2id parameters, for display.
#[wasm_bindgen(js_name = defaultArgon2Params, unchecked_return_type = "{mCostKib: number, tCost: number, pCost: number}")]
pub fn default_argon2_params() -> JsValue {
    crate::convert::argon2_to_js(crypto_core::Argon2Params::DEFAULT)
}
