//! Conversions between JavaScript values and crypto-core types, and errors as exceptions.

use crypto_core::{Argon2Params, EncryptOptions, Kind, Metadata};
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::backend::{AnyBackend, Choice};

/// A call on a streaming object while its previous call is still running.
pub const BUSY: &str = "busy";
/// An argument of the wrong type or out of range.
pub const INVALID_ARGUMENT: &str = "invalid_argument";
/// A text too long for a QR code.
#[cfg_attr(not(feature = "full"), allow(dead_code))]
pub const QR_TOO_LONG: &str = "qr_too_long";
/// A call the page's small module cannot serve (Argon2id, pure AES, bundles, QR codes,
/// Hakanai v3 secrets): load the full module for it.
#[cfg_attr(feature = "full", allow(dead_code))]
pub const FULL_MODULE_REQUIRED: &str = "full_module_required";

/// A JS `Error` with a stable `code` property, e.g. `key_length` or `segment_authentication`.
pub fn js_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("HakanaiError");
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

pub fn core_error(error: crypto_core::Error) -> JsValue {
    let value = js_error(error.code(), &error.to_string());
    // The parameters to derive the passphrase key for, so the caller can do it and retry.
    if let crypto_core::Error::Argon2Rerun {
        m_cost_kib,
        t_cost,
        p_cost,
    } = error
    {
        let params = Argon2Params {
            m_cost_kib,
            t_cost,
            p_cost,
        };
        let _ = Reflect::set(&value, &"params".into(), &argon2_to_js(params));
    }
    value
}

pub fn set(object: &Object, name: &str, value: Option<JsValue>) {
    if let Some(value) = value {
        let _ = Reflect::set(object, &name.into(), &value);
    }
}

fn get(object: &JsValue, name: &str) -> Option<JsValue> {
    if !object.is_object() {
        return None;
    }
    Reflect::get(object, &name.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn get_string(object: &JsValue, name: &str) -> Result<Option<String>, JsValue> {
    get(object, name)
        .map(|v| {
            v.as_string()
                .ok_or_else(|| js_error(INVALID_ARGUMENT, &format!("`{name}` must be a string")))
        })
        .transpose()
}

fn get_u32(object: &JsValue, name: &str) -> Result<Option<u32>, JsValue> {
    get_number(object, name)?
        .map(|n| {
            u32::try_from(n as u64)
                .map_err(|_| js_error(INVALID_ARGUMENT, &format!("`{name}` is out of range")))
        })
        .transpose()
}

fn get_number(object: &JsValue, name: &str) -> Result<Option<f64>, JsValue> {
    get(object, name)
        .map(|v| {
            v.as_f64()
                .filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n <= 9_007_199_254_740_991.0)
                .ok_or_else(|| {
                    js_error(
                        "invalid_argument",
                        &format!("`{name}` must be a non-negative integer"),
                    )
                })
        })
        .transpose()
}

/// Call options shared by every entry point.
pub struct Options {
    choice: Choice,
    segment_size: Option<u32>,
}

impl Options {
    pub fn from_js(value: &JsValue) -> Result<Self, JsValue> {
        let choice = match get_string(value, "backend")?.as_deref() {
            None | Some("auto") => Choice::Auto,
            Some("webcrypto") => Choice::WebCrypto,
            Some("pure") => Choice::Pure,
            Some(other) => {
                return Err(js_error(
                    "invalid_argument",
                    &format!("unknown backend '{other}' (auto, webcrypto or pure)"),
                ))
            }
        };
        Ok(Self {
            choice,
            segment_size: get_u32(value, "segmentSize")?,
        })
    }

    pub fn backend(&self) -> Result<AnyBackend, JsValue> {
        AnyBackend::select(self.choice).map_err(crate::core_error)
    }

    pub fn encrypt_options(&self) -> EncryptOptions {
        let mut options = EncryptOptions::default();
        if let Some(size) = self.segment_size {
            options.segment_size = size;
        }
        options
    }
}

pub fn argon2_params(value: &JsValue) -> Result<Argon2Params, JsValue> {
    let d = Argon2Params::DEFAULT;
    Ok(Argon2Params {
        m_cost_kib: get_u32(value, "mCostKib")?.unwrap_or(d.m_cost_kib),
        t_cost: get_u32(value, "tCost")?.unwrap_or(d.t_cost),
        p_cost: get_u32(value, "pCost")?.unwrap_or(d.p_cost),
    })
}

pub fn argon2_to_js(params: Argon2Params) -> JsValue {
    let object = Object::new();
    set(&object, "mCostKib", Some(params.m_cost_kib.into()));
    set(&object, "tCost", Some(params.t_cost.into()));
    set(&object, "pCost", Some(params.p_cost.into()));
    object.into()
}

/// `{kind, name?, mediaType?, size?}`; `default_size` fills a missing `size`.
pub fn metadata_from_js(value: &JsValue, default_size: Option<u64>) -> Result<Metadata, JsValue> {
    let kind = match get_string(value, "kind")?.as_deref() {
        None | Some("text") => Kind::Text,
        Some("file") => Kind::File,
        Some("bundle") => Kind::Bundle,
        Some(other) => {
            return Err(js_error(
                "invalid_argument",
                &format!("unknown kind '{other}' (text, file or bundle)"),
            ))
        }
    };
    let size = get_number(value, "size")?
        .map(|n| n as u64)
        .or(default_size);
    let default_media_type = (kind == Kind::Text).then(|| "text/plain; charset=utf-8".to_string());
    Ok(Metadata {
        kind,
        name: get_string(value, "name")?,
        media_type: get_string(value, "mediaType")?.or(default_media_type),
        size,
    })
}

pub fn metadata_to_js(metadata: &Metadata) -> JsValue {
    let object = Object::new();
    let kind = match metadata.kind {
        Kind::Text => "text",
        Kind::File => "file",
        Kind::Bundle => "bundle",
    };
    set(&object, "kind", Some(kind.into()));
    set(&object, "name", metadata.name.clone().map(JsValue::from));
    set(
        &object,
        "mediaType",
        metadata.media_type.clone().map(JsValue::from),
    );
    set(
        &object,
        "size",
        metadata.size.map(|s| JsValue::from(s as f64)),
    );
    object.into()
}

/// A JS number as a byte count: a non-negative safe integer.
pub fn size_from_js(size: f64) -> Result<u64, JsValue> {
    if size.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&size) {
        Ok(size as u64)
    } else {
        Err(js_error(
            "invalid_argument",
            "a size must be a non-negative integer",
        ))
    }
}
