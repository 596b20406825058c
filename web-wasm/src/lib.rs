//! wasm-bindgen bindings over crypto-core.
