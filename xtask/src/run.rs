//! `cargo xtask run [-- SERVER FLAGS]`: installs what running needs (not the test tools) and
//! starts `hakanai-server` on the embedded store at http://127.0.0.1:8080, serving the page
//! built into the binary (its build script builds the page when its sources changed). Flags
//! after `--` go to the server (e.g. `--allow-anonymous`; `--web-root web/dist` to serve a page
//! from `cargo xtask web` instead). The server's stderr is this terminal's, so a newcomer sees
//! the first user token printed there; without a terminal it goes to `./hakanai-tokens` (0600),
//! and the log says so.

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
