//! `cargo xtask run [-- SERVER FLAGS]`: installs what running needs (not the test tools),
//! builds the page and starts `hakanai-server` on the embedded store at
//! http://127.0.0.1:8080, serving the page. Flags after `--` go to the server (e.g.
//! `--allow-anonymous`).

use crate::shell::{root, Cmd, Result};

pub fn run(args: &[String]) -> Result<()> {
    let server_args: Vec<&String> = match args.split_first() {
        Some((first, rest)) if first == "--" => rest.iter().collect(),
        _ => args.iter().collect(),
    };
    crate::setup::ensure(crate::setup::Scope::Run, false)?;
    crate::web::build()?;
    Cmd::cargo()
        .args(["run", "--release", "-p", "hakanai-server", "--"])
        .arg("--web-root")
        .arg(root().join(crate::web::DIST))
        .args(server_args)
        .run()
}
