//! `cargo xtask run [-- SERVER FLAGS]`: installs what running needs (not the test tools) and
//! starts `hakanai-server` on the embedded store at http://127.0.0.1:8080, serving the page
//! built into the binary (its build script builds the page when its sources changed). Flags
//! after `--` go to the server (e.g. `--allow-anonymous`; `--web-root web/dist` to serve a page
//! from `cargo xtask web` instead).

use crate::shell::{Cmd, Result};

pub fn run(args: &[String]) -> Result<()> {
    let server_args: Vec<&String> = match args.split_first() {
        Some((first, rest)) if first == "--" => rest.iter().collect(),
        _ => args.iter().collect(),
    };
    crate::setup::ensure(crate::setup::Scope::Run, false)?;
    Cmd::cargo()
        .args(["run", "--release", "-p", "hakanai-server", "--"])
        .args(server_args)
        .run()
}
