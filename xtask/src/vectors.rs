//! `cargo xtask vectors`: regenerates crypto-core's test-vector files. The `vectors`
//! test rewrites them deterministically when `HAKANAI_UPDATE_VECTORS=1`; review the
//! diff with `git diff crypto-core/tests` afterwards.

use crate::shell::{flags, Cmd, Result};

pub fn run(args: &[String]) -> Result<()> {
    flags("vectors", args, &[])?;
    Cmd::cargo()
        .args(["test", "-p", "hakanai-crypto-core", "--test", "vectors"])
        .env("HAKANAI_UPDATE_VECTORS", "1")
        .run()?;
    println!("vectors: regenerated; review with `git diff --stat crypto-core/tests`");
    Ok(())
}
