//! `cargo xtask image [--prebuilt]`: builds the project's own `Dockerfile`, unchanged, with
//! buildah (there is no Docker engine here), then smoke-tests the image as its user would.
//!
//! No image registry is reachable, so the base images the `FROM` lines name are made first,
//! from Debian's packages (`mmdebstrap`), under exactly those names: `debian:<release>-slim`,
//! and `rust:<version>-slim-<release>` holding this machine's toolchain of that version, laid
//! out as the official image lays it out (`/usr/local/rustup`, `/usr/local/cargo`). Anywhere
//! else the same Dockerfile builds on the real images. A base image is remade only when its
//! recipe (a label on it) changes; buildah's layer cache and the Dockerfile's cache mounts make
//! a rebuild after a source change incremental.
//!
//! `--prebuilt` (the CI step, since a full build takes about 25 minutes on two cores): the
//! Dockerfile's runtime stage only, exactly as written but with `COPY --from=build` fed from
//! an image holding the server binary this checkout built (debug profile; the page is in it).
//!
//! The smoke test runs containers with `buildah run --isolation chroot` (host network; `podman
//! run` cannot set resource limits here): the image's own user, entrypoint, environment and
//! health check, against a real `redis-server`; then the compose files' settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::lint;
use crate::procs::Proc;
use crate::setup::{find_on_path, on_path};
use crate::shell::{flags, human_bytes, pids, root, target_dir, Cmd, Error, Result};
use hakanai_test_support::{RedisServer, ReservedPort};

/// The image `cargo xtask image` builds.
const IMAGE: &str = "localhost/hakanai:latest";
/// `--prebuilt`'s image: a tag of its own, so it never stands in for a full build.
const PREBUILT_IMAGE: &str = "localhost/hakanai:prebuilt";
/// `--prebuilt`: the build stage's outputs, copied from this checkout.
const ARTIFACTS: &str = "localhost/hakanai-artifacts:latest";
/// Label on a made base image: the recipe it was made with, so a changed recipe remakes it.
const RECIPE_LABEL: &str = "org.hakanai.base-recipe";
/// Bump when the way base images are made changes.
const RECIPE_VERSION: u32 = 2;
/// What the official `*-slim` Debian images leave out (debuerreotype's slimification), as
/// dpkg filters: they stay in the image, so later `apt-get install` steps are slim too.
const SLIM_DPKG: &[&str] = &[
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/groff/*",
    "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/linda/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
];
/// The apt settings the official Debian images carry (debuerreotype's `docker-clean`,
/// `docker-gzip-indexes`, `docker-no-languages`, `docker-autoremove-suggests`): no package
/// caches or downloaded archives left behind by `apt-get` in a layer.
const DOCKER_APT: &[&str] = &[
    "Dir::Cache::pkgcache \"\";",
    "Dir::Cache::srcpkgcache \"\";",
    "DPkg::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };",
    "APT::Update::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };",
    "Acquire::GzipIndexes \"true\";",
    "Acquire::Languages \"none\";",
    "APT::AutoRemove::SuggestsImportant \"false\";",
];
/// What the official `rust:*-slim` image adds to Debian: a C toolchain for build scripts.
const RUST_IMAGE_PACKAGES: &str = "ca-certificates,gcc,libc6-dev";
/// rustup proxies the official image links to `rustup`.
const RUSTUP_PROXIES: &[&str] = &[
    "cargo",
    "cargo-clippy",
    "cargo-fmt",
    "clippy-driver",
    "rustc",
    "rustdoc",
    "rustfmt",
];
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn task(args: &[String]) -> Result<()> {
    let prebuilt = flags("image", args, &["--prebuilt"])?.contains(&"--prebuilt");
    crate::setup::ensure(crate::setup::Scope::All, false)?;
    crate::shell::build_debug_binaries()?;
    println!("{}", run(prebuilt)?);
    Ok(())
}

/// Builds (all of it, or with `prebuilt` the runtime stage) and smoke-tests; returns a summary.
/// Needs the debug `hakanai-server` (see `shell::build_debug_binaries`): `--prebuilt` packs it,
/// and the smoke test compares the image's `--help` with it.
pub fn run(prebuilt: bool) -> Result<String> {
    for tool in ["buildah", "mmdebstrap"] {
        if !on_path(tool) {
            return Err(Error::new(format!(
                "{tool} not found; run `cargo xtask setup`"
            )));
        }
    }
    let dockerfile = Dockerfile::read(&root().join("Dockerfile"))?;
    for base in dockerfile.external_bases() {
        ensure_base(&base)?;
    }
    let started = Instant::now();
    if prebuilt {
        build_runtime_stage(&dockerfile)?;
    } else {
        bud().args(["-f", "Dockerfile", "-t", IMAGE, "."]).run()?;
    }
    let built_in = started.elapsed();
    let image = if prebuilt { PREBUILT_IMAGE } else { IMAGE };
    let smoke = smoke_test(image)?;
    Ok(format!(
        "{image} ({}) built in {} s; {smoke}",
        if prebuilt {
            "runtime stage on this checkout's debug binary"
        } else {
            "full build"
        },
        built_in.as_secs()
    ))
}

/// The parts of a Dockerfile this task needs: global `ARG` defaults and each stage's base.
struct Dockerfile {
    lines: Vec<String>,
    args: BTreeMap<String, String>,
    /// (line index, expanded base image, stage name)
    stages: Vec<(usize, String, Option<String>)>,
}

impl Dockerfile {
    fn read(path: &Path) -> Result<Dockerfile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))?;
        Dockerfile::parse(&text)
    }

    fn parse(text: &str) -> Result<Dockerfile> {
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut args = BTreeMap::new();
        let mut stages = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let mut words = line.split_whitespace();
            match words.next().map(str::to_ascii_uppercase).as_deref() {
                Some("ARG") if stages.is_empty() => {
                    if let Some((name, value)) = words.next().and_then(|w| w.split_once('=')) {
                        args.insert(name.to_owned(), value.trim_matches('"').to_owned());
                    }
                }
                Some("FROM") => {
                    let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
                    let base = rest.first().ok_or_else(|| {
                        Error::new(format!("Dockerfile:{}: FROM without image", i + 1))
                    })?;
                    let name = match rest.get(1..) {
                        Some([as_, name]) if as_.eq_ignore_ascii_case("as") => {
                            Some((*name).to_owned())
                        }
                        _ => None,
                    };
                    stages.push((i, expand(base, &args)?, name));
                }
                _ => {}
            }
        }
        if stages.is_empty() {
            return Err(Error::new("Dockerfile has no FROM line"));
        }
        Ok(Dockerfile {
            lines,
            args,
            stages,
        })
    }

    /// Base images that are not earlier stages, in order, without repeats.
    fn external_bases(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, base, _) in &self.stages {
            let is_stage = self
                .stages
                .iter()
                .any(|(_, _, name)| name.as_deref() == Some(base));
            if !is_stage && !out.contains(base) {
                out.push(base.clone());
            }
        }
        out
    }

    /// The last stage as its own Dockerfile (with the global `ARG`s), its `COPY --from=<stage>`
    /// reading from `image` instead: the runtime stage on outputs built elsewhere.
    fn last_stage_from(&self, image: &str) -> Result<String> {
        let (start, _, _) = self.stages.last().expect("parsed: at least one stage");
        let mut out: Vec<String> = self
            .args
            .iter()
            .map(|(name, value)| format!("ARG {name}={value}"))
            .collect();
        for line in &self.lines[*start..] {
            let mut line = line.clone();
            if let Some(at) = line.find("--from=") {
                let from = line[at + 7..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                if !self
                    .stages
                    .iter()
                    .any(|(_, _, name)| name.as_deref() == Some(&from))
                {
                    return Err(Error::new(format!("COPY --from={from}: not a stage")));
                }
                line = line.replacen(&format!("--from={from}"), &format!("--from={image}"), 1);
            }
            out.push(line);
        }
        Ok(out.join("\n") + "\n")
    }
}

/// `${NAME}` from the global `ARG` defaults.
fn expand(word: &str, args: &BTreeMap<String, String>) -> Result<String> {
    let mut out = String::new();
    let mut rest = word;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find('}')
            .ok_or_else(|| Error::new(format!("unclosed ${{ in {word}")))?;
        let name = &rest[at + 2..at + end];
        let value = args
            .get(name)
            .ok_or_else(|| Error::new(format!("{word}: no default for ARG {name}")))?;
        out.push_str(value);
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// How to make a base image from Debian's packages.
#[derive(Debug, PartialEq)]
enum BaseRecipe {
    /// `debian:<release>-slim`
    Debian { release: String },
    /// `rust:<version>-slim-<release>`
    Rust { version: String, release: String },
}

impl BaseRecipe {
    fn for_image(image: &str) -> Result<BaseRecipe> {
        let short = image.strip_prefix("docker.io/").unwrap_or(image);
        let short = short.strip_prefix("library/").unwrap_or(short);
        let unknown = || {
            Error::new(format!(
                "no recipe to make base image {image} here (known: debian:<release>-slim, \
                 rust:<version>-slim-<release>)"
            ))
        };
        let (name, tag) = short.split_once(':').ok_or_else(unknown)?;
        match name {
            "debian" => {
                let release = tag.strip_suffix("-slim").ok_or_else(unknown)?;
                Ok(BaseRecipe::Debian {
                    release: release.to_owned(),
                })
            }
            "rust" => {
                let (version, release) = tag.split_once("-slim-").ok_or_else(unknown)?;
                Ok(BaseRecipe::Rust {
                    version: version.to_owned(),
                    release: release.to_owned(),
                })
            }
            _ => Err(unknown()),
        }
    }
}

/// Docker's name for `image`: a short name lives in Docker Hub (`docker.io/library/…`). Made
/// images get the full name, so `FROM` finds them as it would find the pulled ones.
fn qualified(image: &str) -> String {
    let registry = image
        .split_once('/')
        .map(|(first, _)| first)
        .filter(|first| first.contains(['.', ':']) || *first == "localhost");
    match (registry, image.contains('/')) {
        (Some(_), _) => image.to_owned(),
        (None, true) => format!("docker.io/{image}"),
        (None, false) => format!("docker.io/library/{image}"),
    }
}

/// Makes `image` unless an image of that name carries the same recipe label.
fn ensure_base(image: &str) -> Result<()> {
    let recipe = BaseRecipe::for_image(image)?;
    let image = &qualified(image);
    let toolchain = match &recipe {
        BaseRecipe::Rust { version, .. } => Some(Toolchain::local(version)?),
        BaseRecipe::Debian { .. } => None,
    };
    // The build stage downloads (crates.io, npm) through this machine's network, so the image
    // it builds on trusts what the host trusts: its local CAs (here a TLS egress proxy's).
    let local_cas = match &recipe {
        BaseRecipe::Rust { .. } => local_cas(),
        BaseRecipe::Debian { .. } => Vec::new(),
    };
    let label = format!(
        "v{RECIPE_VERSION} {recipe:?} {} local CAs {local_cas:?}",
        toolchain
            .as_ref()
            .map_or(String::new(), |t| t.describe.clone())
    );
    let have = Command::new("buildah")
        .args(["inspect", "--type", "image", "--format"])
        .arg(format!(
            "{{{{index .Docker.Config.Labels \"{RECIPE_LABEL}\"}}}}"
        ))
        .arg(image)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if have.as_deref() == Some(label.as_str()) {
        println!("base image {image}: up to date ({label})");
        return Ok(());
    }
    println!("base image {image}: making it ({label})");
    let tarball = work_dir()?.join(format!("{}.tar", image.replace(['/', ':'], "_")));
    let release = match &recipe {
        BaseRecipe::Debian { release } | BaseRecipe::Rust { release, .. } => release,
    };
    let mut mm = Cmd::new("mmdebstrap").args(["--variant=minbase", "--quiet"]);
    for opt in SLIM_DPKG {
        mm = mm.arg(format!("--dpkgopt={opt}"));
    }
    for opt in DOCKER_APT {
        mm = mm.arg(format!("--aptopt={opt}"));
    }
    let mut env = vec![format!("PATH={DEFAULT_PATH}")];
    if let Some(tc) = &toolchain {
        mm = mm
            .arg(format!("--include={RUST_IMAGE_PACKAGES}"))
            .arg(format!("--customize-hook={}", tc.install_hook()));
        env = vec![
            "RUSTUP_HOME=/usr/local/rustup".into(),
            "CARGO_HOME=/usr/local/cargo".into(),
            format!("PATH=/usr/local/cargo/bin:{DEFAULT_PATH}"),
            format!("RUST_VERSION={}", tc.release),
        ];
    }
    if !local_cas.is_empty() {
        mm = mm.arg(format!(
            "--customize-hook=cp {} \"$1/usr/local/share/ca-certificates/\" \
             && chroot \"$1\" update-ca-certificates",
            local_cas
                .iter()
                .map(|p| sh_quote(p))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        // npm keeps its own CA list unless told about the system's.
        env.push("NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt".into());
    }
    mm.arg(release).arg(&tarball).run()?;

    let ctr = Cmd::new("buildah")
        .args(["from", "scratch"])
        .read()?
        .trim()
        .to_owned();
    let made = (|| {
        Cmd::new("buildah")
            .args(["add", "--quiet", &ctr])
            .arg(&tarball)
            .arg("/")
            .run()?;
        let mut config = Cmd::new("buildah").args(["config", "--cmd", "bash"]);
        for e in &env {
            config = config.args(["--env", e]);
        }
        config
            .args(["--label", &format!("{RECIPE_LABEL}={label}"), &ctr])
            .run()?;
        Cmd::new("buildah")
            .args(["commit", "--quiet", "--format", "docker", &ctr, image])
            .run()
    })();
    let _ = Cmd::new("buildah").args(["rm", &ctr]).probe();
    let _ = std::fs::remove_file(&tarball);
    made
}

/// Certificates added to this machine's trust store (`update-ca-certificates`' local dir).
fn local_cas() -> Vec<PathBuf> {
    let mut cas: Vec<PathBuf> = std::fs::read_dir("/usr/local/share/ca-certificates")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    cas.sort();
    cas
}

/// This machine's rustup toolchain of the version a `rust:<version>` image names.
struct Toolchain {
    /// Full version (`1.95.0`).
    release: String,
    host: String,
    sysroot: PathBuf,
    rustup: PathBuf,
    /// `rustc -vV`'s first line, for the recipe label.
    describe: String,
}

impl Toolchain {
    fn local(version: &str) -> Result<Toolchain> {
        let vv = Cmd::new("rustc").arg("-vV").read()?;
        let field = |key: &str| {
            vv.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_owned())
                .ok_or_else(|| Error::new(format!("rustc -vV printed no `{key}`")))
        };
        let release = field("release:")?;
        if release != version && !release.starts_with(&format!("{version}.")) {
            return Err(Error::new(format!(
                "the Dockerfile pins Rust {version}, this machine has {release}: the rust \
                 image is made from the local toolchain (no other can be fetched here)"
            )));
        }
        let sysroot = PathBuf::from(
            Cmd::new("rustc")
                .args(["--print", "sysroot"])
                .read()?
                .trim(),
        );
        // The build stage adds this target; rustup finds it installed and fetches nothing.
        if !sysroot.join("lib/rustlib/wasm32-unknown-unknown").is_dir() {
            return Err(Error::new(
                "the wasm32 target is missing; run `cargo xtask setup`",
            ));
        }
        let rustup =
            find_on_path("rustup").ok_or_else(|| Error::new("rustup not found on PATH"))?;
        Ok(Toolchain {
            describe: vv.lines().next().unwrap_or("").to_owned(),
            host: field("host:")?,
            release,
            sysroot,
            rustup,
        })
    }

    /// mmdebstrap customize hook (a shell command on the host, `$1` the new root): the
    /// toolchain without its HTML docs, rustup and its proxies, as the official image has them.
    fn install_hook(&self) -> String {
        let name = format!("{}-{}", self.release, self.host);
        let toolchain = format!("\"$1/usr/local/rustup/toolchains/{name}\"");
        let mut sh = vec![
            "mkdir -p \"$1/usr/local/rustup/toolchains\" \"$1/usr/local/cargo/bin\"".to_owned(),
            format!("cp -a {}/. {toolchain}", sh_quote(&self.sysroot)),
            format!("rm -rf {toolchain}/share/doc"),
            format!("cp {} \"$1/usr/local/cargo/bin/rustup\"", sh_quote(&self.rustup)),
            format!(
                "printf 'version = \"12\"\\ndefault_toolchain = \"{name}\"\\nprofile = \"minimal\"\\n' \
                 > \"$1/usr/local/rustup/settings.toml\""
            ),
        ];
        for proxy in RUSTUP_PROXIES {
            sh.push(format!("ln -sf rustup \"$1/usr/local/cargo/bin/{proxy}\""));
        }
        sh.push("chmod -R a+w \"$1/usr/local/rustup\" \"$1/usr/local/cargo\"".to_owned());
        sh.join(" && ")
    }
}

fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// `--prebuilt`: an image laid out as the build stage leaves its outputs (this checkout's debug
/// binary, the page built into it), then the Dockerfile's runtime stage on top of it.
fn build_runtime_stage(dockerfile: &Dockerfile) -> Result<()> {
    let stage = dockerfile.last_stage_from(ARTIFACTS)?;
    let mut copies = Vec::new();
    for line in stage
        .lines()
        .filter(|l| l.contains(&format!("--from={ARTIFACTS}")))
    {
        let words: Vec<&str> = line
            .split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .collect();
        match words.as_slice() {
            [_copy, src, _dst] => copies.push((*src).to_owned()),
            _ => return Err(Error::new(format!("cannot read `{line}` (COPY src dst)"))),
        }
    }
    let ctr = Cmd::new("buildah")
        .args(["from", "scratch"])
        .read()?
        .trim()
        .to_owned();
    let made = (|| {
        for src in &copies {
            let local = if src.ends_with("/hakanai-server") {
                target_dir().join("debug/hakanai-server")
            } else {
                return Err(Error::new(format!("no local file for build output {src}")));
            };
            Cmd::new("buildah")
                .args(["copy", "--quiet", &ctr])
                .arg(local)
                .arg(src)
                .run()?;
        }
        Cmd::new("buildah")
            .args(["commit", "--quiet", &ctr, ARTIFACTS])
            .run()
    })();
    let _ = Cmd::new("buildah").args(["rm", &ctr]).probe();
    made?;
    let dir = work_dir()?;
    let file = dir.join("Dockerfile.runtime");
    std::fs::write(&file, stage).map_err(|e| Error::new(format!("{}: {e}", file.display())))?;
    bud()
        .arg("-f")
        .arg(&file)
        .args(["-t", PREBUILT_IMAGE])
        .arg(&dir)
        .run()
}

/// `buildah bud` as both builds run it: layer cache on, Docker format (OCI drops HEALTHCHECK).
fn bud() -> Cmd {
    Cmd::new("buildah").args([
        "bud",
        "--isolation",
        "chroot",
        "--layers",
        "--format",
        "docker",
    ])
}

/// Scratch space for base image tarballs and the runtime-stage Dockerfile.
fn work_dir() -> Result<PathBuf> {
    let dir = target_dir().join("xtask").join("image");
    std::fs::create_dir_all(&dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

/// A working container of `image`, removed on drop.
struct Container {
    image: &'static str,
    id: String,
    mount: PathBuf,
}

impl Container {
    fn new(image: &'static str) -> Result<Container> {
        let id = Cmd::new("buildah")
            .args(["from", "--pull-never", "--quiet", image])
            .read()?
            .trim()
            .to_owned();
        let mut ctr = Container {
            image,
            id,
            mount: PathBuf::new(),
        };
        // Assigned after construction, so a failed mount still removes the container.
        ctr.mount = PathBuf::from(Cmd::new("buildah").args(["mount", &ctr.id]).read()?.trim());
        Ok(ctr)
    }

    /// `buildah run` with the image's own user and environment, plus `env`.
    fn run(&self, env: &[(String, String)], argv: &[String]) -> Command {
        let mut cmd = Command::new("buildah");
        cmd.args(["run", "--isolation", "chroot"]);
        for (k, v) in env {
            cmd.args(["--env", &format!("{k}={v}")]);
        }
        cmd.arg(&self.id).arg("--").args(argv);
        cmd
    }

    /// Runs `argv` to the end: (exit 0?, stdout, stderr).
    fn output(&self, env: &[(String, String)], argv: &[String]) -> Result<(bool, String, String)> {
        let out = self
            .run(env, argv)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::new(format!("buildah run: {e}")))?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// A field of the image's configuration, list items separated by NUL.
    /// A list field of the image's configuration (items NUL-separated by the template).
    fn config(&self, field: &str) -> Result<Vec<String>> {
        let out = self.inspect(&format!(
            "{{{{range .Docker.Config.{field}}}}}{{{{.}}}}{{{{\"\\x00\"}}}}{{{{end}}}}"
        ))?;
        Ok(out
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    }

    fn config_value(&self, field: &str) -> Result<String> {
        Ok(self
            .inspect(&format!("{{{{.Docker.Config.{field}}}}}"))?
            .trim()
            .to_owned())
    }

    fn inspect(&self, format: &str) -> Result<String> {
        Cmd::new("buildah")
            .args(["inspect", "--type", "image", "--format", format, self.image])
            .read()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("buildah")
            .args(["rm", &self.id])
            .stdout(Stdio::null())
            .status();
    }
}

/// Where the image's server writes new tokens by default: its WORKDIR (Dockerfile).
const IMAGE_TOKEN_FILE: &str = "/var/lib/hakanai/hakanai-tokens";

/// The server of one smoke run: `buildah run` of the image's entrypoint, and the server
/// process inside (found by its root directory, the container's mount).
struct Running {
    proc: Proc,
    pid: u32,
    stopped: bool,
}

impl Running {
    fn start(ctr: &Container, env: &[(String, String)], port: u16, admin: bool) -> Result<Running> {
        let entrypoint = ctr.config("Entrypoint")?;
        if entrypoint.is_empty() {
            return Err(Error::new("the image has no ENTRYPOINT"));
        }
        // No --token-file: the image's default must work, `hakanai-tokens` in its WORKDIR,
        // which the server's user may write (read here through the container's mount).
        let tokens = ctr.mount.join(IMAGE_TOKEN_FILE.trim_start_matches('/'));
        let proc = Proc::server(ctr.run(env, &entrypoint), port, admin, &tokens)?;
        let pid = server_pid(proc.child.id())?;
        Ok(Running {
            proc,
            pid,
            stopped: false,
        })
    }

    /// `docker stop`: SIGTERM, then the server must exit by itself, successfully.
    fn stop(mut self) -> Result<()> {
        Cmd::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .run()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.proc.child.try_wait() {
                Ok(Some(status)) if status.success() => {
                    self.stopped = true;
                    return Ok(());
                }
                Ok(Some(status)) => {
                    return Err(Error::new(format!(
                        "the server exited with {status} on SIGTERM"
                    )))
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => return Err(Error::new("the server did not stop within 10 s of SIGTERM")),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // `buildah run` does not pass SIGKILL on; the server itself must not outlive the test.
        if !self.stopped {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
    }
}

/// The `hakanai-server` process that `buildah run` (pid `runner`) started, inside its chroot.
fn server_pid(runner: u32) -> Result<u32> {
    let parent = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid …`; comm may hold spaces, so split after its `)`.
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        for (pid, dir) in pids() {
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if comm.trim() != "hakanai-server" {
                continue;
            }
            let mut up = parent(pid);
            while let Some(p) = up.filter(|&p| p > 1) {
                if p == runner {
                    return Ok(pid);
                }
                up = parent(p);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(Error::new(format!(
        "no hakanai-server process under buildah run (pid {runner})"
    )))
}

/// The effective uid and gid of a process, from `/proc/<pid>/status`.
fn uid_gid(pid: u32) -> Result<(u32, u32)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| Error::new(format!("/proc/{pid}/status: {e}")))?;
    let field = |key: &str| -> Option<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    match (field("Uid:"), field("Gid:")) {
        (Some(uid), Some(gid)) => Ok((uid, gid)),
        _ => Err(Error::new(format!("/proc/{pid}/status has no Uid/Gid"))),
    }
}

/// One HTTP request with curl: (status, body).
fn http(method: &str, url: &str, headers: &[String], body: Option<&str>) -> Result<(u16, String)> {
    let mut cmd = Cmd::new("curl").args(["-sS", "-X", method, "-w", "\n%{http_code}"]);
    for h in headers {
        cmd = cmd.args(["-H", h]);
    }
    if let Some(body) = body {
        cmd = cmd.args(["--data-binary", body]);
    }
    let out = cmd.arg(url).read()?;
    let (body, status) = out.rsplit_once('\n').unwrap_or(("", &out));
    let status = status
        .trim()
        .parse()
        .map_err(|_| Error::new(format!("curl {url}: no status in {out:?}")))?;
    Ok((status, body.to_owned()))
}

fn expect_status(what: &str, got: (u16, String), want: u16) -> Result<String> {
    if got.0 != want {
        return Err(Error::new(format!(
            "{what}: HTTP {} (want {want}): {}",
            got.0,
            got.1.chars().take(300).collect::<String>()
        )));
    }
    Ok(got.1)
}

/// Create a secret with `token`, read it once (200, the same bytes), read it again (410).
fn one_time_cycle(base: &str, token: &str) -> Result<()> {
    // "hakanai image smoke test" in base64: the server stores it opaquely.
    let data = "aGFrYW5haSBpbWFnZSBzbW9rZSB0ZXN0";
    let auth = format!("Authorization: Bearer {token}");
    let created = expect_status(
        "create",
        http(
            "POST",
            &format!("{base}/api/v1/secret"),
            &[auth, "Content-Type: application/json".into()],
            Some(&format!("{{\"data\":\"{data}\",\"expires_in\":3600}}")),
        )?,
        200,
    )?;
    let id = created
        .split("\"id\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| Error::new(format!("create answered without an id: {created}")))?;
    let url = format!("{base}/api/v1/secret/{id}");
    let read = expect_status("first read", http("GET", &url, &[], None)?, 200)?;
    if read.trim() != data {
        return Err(Error::new(format!(
            "first read returned {read:?}, stored {data:?}"
        )));
    }
    expect_status("second read", http("GET", &url, &[], None)?, 410)?;
    Ok(())
}

fn redis_keys(redis: &RedisServer) -> Result<u64> {
    let out = Cmd::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "DBSIZE"])
        .read()?;
    out.trim()
        .parse()
        .map_err(|_| Error::new(format!("redis-cli DBSIZE printed {out:?}")))
}

fn smoke_test(image: &'static str) -> Result<String> {
    let ctr = Container::new(image)?;
    let mut notes = Vec::new();

    // The image's own settings, with only the Redis DSN and a free port given.
    let redis = RedisServer::builder().try_start().map_err(Error::new)?;
    // Held while the server runs: it binds over the reservation (SO_REUSEADDR), and no other
    // process's free-port lookup is handed the port meanwhile.
    let reserved = ReservedPort::new();
    let port = reserved.port();
    let env = vec![
        (
            "HAKANAI_REDIS_DSN".to_owned(),
            format!("redis://127.0.0.1:{}/0", redis.port),
        ),
        ("HAKANAI_PORT".to_owned(), port.to_string()),
    ];
    let user = ctr.config_value("User")?;
    let server = Running::start(&ctr, &env, port, false)?;
    let (uid, gid) = uid_gid(server.pid)?;
    if uid == 0 || format!("{uid}:{gid}") != user {
        return Err(Error::new(format!(
            "the server runs as {uid}:{gid}; the image's USER is {user:?}"
        )));
    }
    notes.push(format!("runs as {uid}:{gid}"));
    let base = format!("http://127.0.0.1:{port}");
    let page = expect_status("GET /", http("GET", &format!("{base}/"), &[], None)?, 200)?;
    let script = page
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| Error::new("the page loads no script"))?
        .to_owned();
    expect_status(
        &format!("GET {script}"),
        http(
            "GET",
            &format!("{base}/{}", script.trim_start_matches('/')),
            &[],
            None,
        )?,
        200,
    )?;
    let keys_before = redis_keys(&redis)?;
    one_time_cycle(&base, &server.proc.user_token)?;
    if redis_keys(&redis)? <= keys_before {
        return Err(Error::new(
            "the secret never reached the Redis named by HAKANAI_REDIS_DSN",
        ));
    }
    notes.push("page, create, read once, 410 on Redis".into());

    let health = ctr.config("Healthcheck.Test")?;
    let probe: Vec<String> = match health.split_first() {
        Some((kind, argv)) if kind == "CMD" => argv.to_vec(),
        Some((kind, argv)) if kind == "CMD-SHELL" => {
            vec!["/bin/sh".into(), "-c".into(), argv.join(" ")]
        }
        _ => {
            return Err(Error::new(format!(
                "no HEALTHCHECK command in the image: {health:?}"
            )))
        }
    };
    let (ok, out, err) = ctr.output(&env, &probe)?;
    if !ok {
        return Err(Error::new(format!(
            "the health check fails on a healthy server: {out}{err}"
        )));
    }

    // clap shows the values of set variables (the image's ENV) and wraps by the features the
    // build unified, so: the local binary with the image's environment, whitespace aside.
    let (ok, help, _) = ctr.output(&[], &["hakanai-server".into(), "--help".into()])?;
    let mut local = Command::new(target_dir().join("debug/hakanai-server"));
    local.env_clear().arg("--help");
    for var in ctr.config("Env")? {
        if let Some((k, v)) = var.split_once('=') {
            local.env(k, v);
        }
    }
    let local_help = local
        .output()
        .map_err(|e| Error::new(format!("hakanai-server --help: {e}")))?;
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    if !ok || words(&help) != words(&String::from_utf8_lossy(&local_help.stdout)) {
        return Err(Error::new(
            "hakanai-server --help in the image differs from this checkout's \
             (whose flags the server tests check against docs/DEPLOYMENT.md)",
        ));
    }
    server.stop()?;
    let (ok, _, _) = ctr.output(&env, &probe)?;
    if ok {
        return Err(Error::new(
            "the health check passes with the server stopped",
        ));
    }
    notes.push("health check passes, and fails once stopped; stops on SIGTERM".into());

    notes.push(compose_services(&ctr)?);
    notes.push(contents(&ctr.mount)?);
    Ok(notes.join("; "))
}

/// The compose files' services as compose would start them (base file plus the production
/// override), on the host network: Redis with the file's own `command` (Debian's
/// `redis-server`, since no `redis` image can be pulled here), the server with the image
/// and the files' environment; only addresses are changed (service names do not resolve here).
fn compose_services(ctr: &Container) -> Result<String> {
    let script = r#"
import sys
from ruamel.yaml import YAML
services = {}
for path in sys.argv[1:]:
    for name, svc in YAML(typ="safe").load(open(path))["services"].items():
        merged = services.setdefault(name, {})
        for key, value in svc.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key].update(value)
            else:
                merged[key] = value
for key, value in services["hakanai"].get("environment", {}).items():
    print("env", key, str(value).lower() if isinstance(value, bool) else value, sep="\t")
for arg in services["redis"]["command"]:
    print("redis", arg, sep="\t")
"#;
    let out = Cmd::new(lint::venv().join("bin/python"))
        .args([
            "-c",
            script,
            "docker-compose.yml",
            "docker-compose.prod.yml",
        ])
        .read()?;
    let mut env = Vec::new();
    let mut redis_cmd = Vec::new();
    for line in out.lines() {
        match line.split('\t').collect::<Vec<_>>().as_slice() {
            ["env", k, v] => env.push(((*k).to_owned(), (*v).to_owned())),
            ["redis", arg] => redis_cmd.push((*arg).to_owned()),
            ["redis"] => redis_cmd.push(String::new()),
            _ => return Err(Error::new(format!("cannot read compose line {line:?}"))),
        }
    }
    if redis_cmd.first().map(String::as_str) != Some("redis-server") {
        return Err(Error::new(format!(
            "the compose redis command is {redis_cmd:?}"
        )));
    }
    let args: Vec<&str> = redis_cmd[1..].iter().map(String::as_str).collect();
    let redis = RedisServer::builder()
        .args(&args)
        .try_start()
        .map_err(Error::new)?;
    // Held while the server runs, as in the smoke test.
    let reserved = (ReservedPort::new(), ReservedPort::new());
    let (port, metrics) = (reserved.0.port(), reserved.1.port());
    for (key, value) in env.iter_mut() {
        match key.as_str() {
            "HAKANAI_REDIS_DSN" => *value = format!("redis://127.0.0.1:{}/0", redis.port),
            "HAKANAI_METRICS_LISTEN_ADDRESS" => *value = format!("127.0.0.1:{metrics}"),
            _ => {}
        }
    }
    env.push(("HAKANAI_PORT".into(), port.to_string()));
    let admin = env
        .iter()
        .any(|(k, v)| k == "HAKANAI_ENABLE_ADMIN_TOKEN" && v == "true");
    let server = Running::start(ctr, &env, port, admin)?;
    let base = format!("http://127.0.0.1:{port}");
    one_time_cycle(&base, &server.proc.user_token)?;
    let anonymous = env
        .iter()
        .any(|(k, v)| k == "HAKANAI_ALLOW_ANONYMOUS" && v == "false");
    if anonymous {
        expect_status(
            "anonymous create with HAKANAI_ALLOW_ANONYMOUS=false",
            http(
                "POST",
                &format!("{base}/api/v1/secret"),
                &["Content-Type: application/json".into()],
                Some("{\"data\":\"eA==\",\"expires_in\":60}"),
            )?,
            401,
        )?;
    }
    let scrape = expect_status(
        "metrics port",
        http(
            "GET",
            &format!("http://127.0.0.1:{metrics}/metrics"),
            &[],
            None,
        )?,
        200,
    )?;
    if !scrape.contains("hakanai_") {
        return Err(Error::new("the metrics port serves no hakanai_ metrics"));
    }
    server.stop()?;
    Ok(format!(
        "compose (base + prod): redis-server {}, server with {} variables: tokens, one-time \
         read, anonymous refused, metrics port",
        args.join(" "),
        env.len()
    ))
}

/// What the image holds: the server (with the page built in), and none of the build (sources,
/// toolchains, `.git`, package manifests, tokens or env files, a separate copy of the page).
/// Returns the size line.
fn contents(mount: &Path) -> Result<String> {
    if !mount.join("usr/local/bin/hakanai-server").is_file() {
        return Err(Error::new("the image lacks /usr/local/bin/hakanai-server"));
    }
    let forbidden_dirs = [
        "usr/share/hakanai",
        "src",
        "usr/local/cargo",
        "usr/local/rustup",
        "root/.cargo",
        "root/.rustup",
    ];
    for dir in forbidden_dirs {
        if mount.join(dir).exists() {
            return Err(Error::new(format!("the image holds /{dir}")));
        }
    }
    let forbidden_names = [
        ".git",
        "Cargo.toml",
        "Cargo.lock",
        "package.json",
        "node_modules",
        ".env",
        // apt's leftovers: package caches and downloaded archives.
        "pkgcache.bin",
        "srcpkgcache.bin",
    ];
    // Toolchain programs, as files or links (`/usr/share/gcc` is a runtime library's data).
    let toolchain = [
        "rustc",
        "cargo",
        "rustup",
        "node",
        "npm",
        "gcc",
        "cc",
        "wasm-pack",
        "wasm-bindgen",
    ];
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut stack = vec![mount.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let inside = path
                .strip_prefix(mount)
                .unwrap_or(&path)
                .display()
                .to_string();
            if forbidden_names.contains(&name.as_str())
                || name.ends_with(".rs")
                || name.ends_with(".token")
                || name.ends_with(".deb")
            {
                return Err(Error::new(format!("the image holds /{inside}")));
            }
            // Not followed: a link is reported as what it is.
            let meta = entry
                .metadata()
                .map_err(|e| Error::new(format!("/{inside}: {e}")))?;
            if !meta.is_dir() && toolchain.contains(&name.as_str()) {
                return Err(Error::new(format!("the image holds /{inside}")));
            }
            if meta.is_dir() {
                // Kernel file systems mounted for `buildah run` are not image content.
                if !matches!(inside.as_str(), "proc" | "sys" | "dev") {
                    stack.push(path);
                }
            } else if meta.is_file() {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    Ok(format!(
        "image holds {files} files, {} ({bytes} bytes), no build inputs",
        human_bytes(bytes)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKERFILE: &str = "\
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
RUN make
FROM --platform=linux/amd64 debian:${DEBIAN_RELEASE}-slim AS runtime
COPY --from=build /out/bin /usr/local/bin/bin
USER 10001:10001
";

    #[test]
    fn reads_bases_from_global_args() {
        let df = Dockerfile::parse(DOCKERFILE).unwrap();
        assert_eq!(
            df.external_bases(),
            ["rust:1.95-slim-trixie", "debian:trixie-slim"]
        );
        assert_eq!(
            BaseRecipe::for_image("rust:1.95-slim-trixie").unwrap(),
            BaseRecipe::Rust {
                version: "1.95".into(),
                release: "trixie".into()
            }
        );
        assert_eq!(
            BaseRecipe::for_image("docker.io/library/debian:trixie-slim").unwrap(),
            BaseRecipe::Debian {
                release: "trixie".into()
            }
        );
        assert!(BaseRecipe::for_image("alpine:3").is_err());
        assert_eq!(qualified("rust:1.95"), "docker.io/library/rust:1.95");
        assert_eq!(qualified("me/img:1"), "docker.io/me/img:1");
        assert_eq!(qualified("ghcr.io/me/img:1"), "ghcr.io/me/img:1");
        assert_eq!(qualified("localhost/img"), "localhost/img");
    }

    #[test]
    fn last_stage_reads_from_the_given_image() {
        let df = Dockerfile::parse(DOCKERFILE).unwrap();
        assert_eq!(
            df.last_stage_from("localhost/a:1").unwrap(),
            "ARG DEBIAN_RELEASE=trixie\nARG RUST_VERSION=1.95\n\
             FROM --platform=linux/amd64 debian:${DEBIAN_RELEASE}-slim AS runtime\n\
             COPY --from=localhost/a:1 /out/bin /usr/local/bin/bin\nUSER 10001:10001\n"
        );
    }

    #[test]
    fn refuses_unknown_args_and_stages() {
        assert!(Dockerfile::parse("FROM x:${NOPE}\n").is_err());
        let df = Dockerfile::parse("FROM a:1\nCOPY --from=elsewhere /x /y\n").unwrap();
        assert!(df.last_stage_from("i").is_err());
    }
}
