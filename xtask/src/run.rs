//! `cargo xtask run [-- SERVER FLAGS]`: installs what is missing, builds the page (once the
//! web crate exists) and starts `hakanai-server` on the embedded store at
//! http://127.0.0.1:8080. Flags after `--` go to the server (e.g. `--allow-anonymous`).

use crate::shell::{root, Cmd, Result};

pub fn run(args: &[String]) -> Result<()> {
    let server_args: Vec<&String> = match args.split_first() {
        Some((first, rest)) if first == "--" => rest.iter().collect(),
        _ => args.iter().collect(),
    };
    crate::setup::run(&[])?;
    let mut cmd = Cmd::cargo().args(["run", "--release", "-p", "hakanai-server", "--"]);
    let web_root = root().join("web/dist");
    if web_root.is_dir() {
        cmd = cmd.arg("--web-root").arg(web_root);
    }
    cmd.args(server_args).run()
}
