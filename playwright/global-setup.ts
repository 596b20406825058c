// Starts the servers the suite needs and returns a teardown that stops them:
//  - hakanai-server on the embedded store (HK_EMBEDDED_URL),
//  - redis-server (--save '' --appendonly no) and hakanai-server on it (HK_REDIS_URL),
//  - hakanai-server without anonymous uploads and with legal pages (HK_TOKEN_URL, its user
//    token in HK_USER_TOKEN),
//  - per store, hakanai-server with --country-header x-country and --asn-header x-asn
//    (HK_GEO_EMBEDDED_URL, HK_GEO_REDIS_URL): the page offers country and ASN restrictions, and
//    a test's browser, on loopback (a trusted proxy), sends the headers itself,
// The first two serve the page built into the binary (no --web-root, started from a directory
// without a page); the third serves web/dist through --web-root, the override for working on
// the page.
//  - a static server for web-wasm/examples on another origin (HK_EXAMPLE_URL), allowed by CORS.
// Each server's stdout (the JSON log) goes to target/playwright/<name>.log (HK_LOG_<NAME>),
// so tests can check that no key ever reaches it.
import { ChildProcess, spawn } from "node:child_process";
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, Server } from "node:http";
import { AddressInfo, createServer as netServer } from "node:net";
import { extname, join, normalize, resolve } from "node:path";

const ROOT = resolve(__dirname, "..");
/** Cargo's target directory, where `cargo xtask test` built the binaries. */
const TARGET = process.env.CARGO_TARGET_DIR ?? join(ROOT, "target");
const SERVER_BIN = process.env.HAKANAI_SERVER_BIN ?? join(TARGET, "debug/hakanai-server");
const WEB_ROOT = join(ROOT, "web/dist");
const LOG_DIR = join(ROOT, "target/playwright");

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = netServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => res(port));
    });
  });
}

async function waitFor(url: string, proc: ChildProcess, name: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not become ready at ${url}`);
}

/** The newest token of `kind` in a `--token-file` (lines `admin <token>` / `user <token>`). */
function readToken(path: string, kind: "admin" | "user"): string | undefined {
  if (!existsSync(path)) return undefined;
  const lines = readFileSync(path, "utf8").split("\n").reverse();
  for (const line of lines) {
    const [k, token] = line.split(" ");
    if (k === kind && token) return token;
  }
  return undefined;
}

function start(name: string, cmd: string, args: string[]): ChildProcess {
  const log = join(LOG_DIR, `${name}.log`);
  const out = createWriteStream(log);
  // From LOG_DIR, where no page lies: whatever the servers serve comes from the binary or a flag.
  const env: NodeJS.ProcessEnv = { ...process.env, RUST_LOG: "debug" };
  delete env.HAKANAI_WEB_ROOT;
  const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], cwd: LOG_DIR, env });
  p.stdout!.pipe(out);
  // stderr carries tokens printed once; keep it apart from the JSON log.
  p.stderr!.pipe(createWriteStream(join(LOG_DIR, `${name}.stderr.log`)));
  process.env[`HK_LOG_${name.toUpperCase().replace(/-/g, "_")}`] = log;
  return p;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".wasm": "application/wasm",
  ".css": "text/css",
};

/** The embedding example on its own origin: web-wasm/examples/* plus the npm package. */
function exampleServer(port: number): Promise<Server> {
  const dirs = [join(ROOT, "web-wasm/examples"), join(ROOT, "web-wasm/pkg")];
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)).replace(/^\/+/, "");
    for (const dir of dirs) {
      const file = join(dir, path || "embed.html");
      if (file.startsWith(dir) && existsSync(file) && statSync(file).isFile()) {
        res.writeHead(200, {
          "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
          "Content-Security-Policy": "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' http://127.0.0.1:*",
        });
        createReadStream(file).pipe(res);
        return;
      }
    }
    res.writeHead(404).end("not found");
  });
  return new Promise((r) => server.listen(port, "127.0.0.1", () => r(server)));
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  // Only the --web-root server needs it.
  if (!existsSync(join(WEB_ROOT, "index.html"))) throw new Error("web/dist is missing: run `cargo xtask web`");
  if (!existsSync(SERVER_BIN)) throw new Error(`${SERVER_BIN} is missing: run \`cargo build -p hakanai-server\``);
  mkdirSync(LOG_DIR, { recursive: true });
  const procs: ChildProcess[] = [];

  const examplePort = await freePort();
  const example = await exampleServer(examplePort);
  process.env.HK_EXAMPLE_URL = `http://127.0.0.1:${examplePort}`;

  const common = [
    "--allow-anonymous",
    "--anonymous-size-limit", "64m",
    "--upload-size-limit", "64m",
    "--max-passphrase-attempts", "3",
    "--cors-allowed-origins", process.env.HK_EXAMPLE_URL,
    // Every test uploads from 127.0.0.1, in parallel, and some leave uploads unfinished (errors,
    // revocation): the default cap of 10 open uploads per address would turn later ones into 429.
    "--max-open-uploads-per-address", "1000",
    // The same for stored bytes: the whole suite's secrets come from one address, and an
    // unfinished upload holds its size until its deadline.
    "--max-stored-bytes-per-address", "0",
  ];

  const embeddedPort = await freePort();
  const embedded = start("server-embedded", SERVER_BIN, ["--port", String(embeddedPort), ...common]);
  procs.push(embedded);
  process.env.HK_EMBEDDED_URL = `http://127.0.0.1:${embeddedPort}`;

  const redisPort = await freePort();
  const redis = start("redis", "redis-server", [
    "--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
  ]);
  procs.push(redis);
  await new Promise((r) => setTimeout(r, 300));
  const viaRedisPort = await freePort();
  const viaRedis = start("server-redis", SERVER_BIN, [
    "--port", String(viaRedisPort), "--redis-dsn", `redis://127.0.0.1:${redisPort}/0`,
    // 50 MiB secrets through a debug build on 2 busy cores need more than the 1.5 s default.
    "--redis-timeout", "20s", ...common,
  ]);
  procs.push(viaRedis);
  process.env.HK_REDIS_URL = `http://127.0.0.1:${viaRedisPort}`;

  // Without --allow-anonymous: uploads need a user token, written once to --token-file
  // (never to the server's output); the file of an earlier run is removed first.
  const tokenPort = await freePort();
  const tokenFile = join(LOG_DIR, "server-token.tokens");
  rmSync(tokenFile, { force: true });
  const withToken = start("server-token", SERVER_BIN, [
    "--port", String(tokenPort), "--web-root", WEB_ROOT, "--token-file", tokenFile,
    // All of its tests share the one user token (see the address cap above).
    "--max-open-uploads-per-token", "1000",
    // Legal pages, linked from the footer.
    "--impressum-file", join(__dirname, "legal/impressum.txt"),
    "--privacy-file", join(__dirname, "legal/privacy.txt"),
  ]);
  procs.push(withToken);
  process.env.HK_TOKEN_URL = `http://127.0.0.1:${tokenPort}`;

  // The geo servers also carry custom assets (an added stylesheet, a replaced logo), so both
  // projects see a Hakanai-style customised site.
  const geo = [
    "--country-header", "x-country", "--asn-header", "x-asn",
    "--custom-assets-dir", join(__dirname, "custom-assets"),
  ];
  const geoEmbeddedPort = await freePort();
  const geoEmbedded = start("server-geo-embedded", SERVER_BIN, ["--port", String(geoEmbeddedPort), ...common, ...geo]);
  procs.push(geoEmbedded);
  process.env.HK_GEO_EMBEDDED_URL = `http://127.0.0.1:${geoEmbeddedPort}`;
  const geoRedisPort = await freePort();
  const geoRedis = start("server-geo-redis", SERVER_BIN, [
    "--port", String(geoRedisPort), "--redis-dsn", `redis://127.0.0.1:${redisPort}/1`, ...common, ...geo,
  ]);
  procs.push(geoRedis);
  process.env.HK_GEO_REDIS_URL = `http://127.0.0.1:${geoRedisPort}`;

  try {
    await waitFor(`${process.env.HK_EMBEDDED_URL}/ready`, embedded, "hakanai-server (embedded)");
    await waitFor(`${process.env.HK_REDIS_URL}/healthy`, viaRedis, "hakanai-server (redis)");
    await waitFor(`${process.env.HK_TOKEN_URL}/ready`, withToken, "hakanai-server (token)");
    await waitFor(`${process.env.HK_GEO_EMBEDDED_URL}/ready`, geoEmbedded, "hakanai-server (geo, embedded)");
    await waitFor(`${process.env.HK_GEO_REDIS_URL}/healthy`, geoRedis, "hakanai-server (geo, redis)");
    let token: string | undefined;
    for (let i = 0; i < 50 && !token; i++) {
      token = readToken(tokenFile, "user");
      if (!token) await new Promise((r) => setTimeout(r, 100));
    }
    if (!token) throw new Error(`hakanai-server (token) wrote no user token to ${tokenFile}`);
    process.env.HK_USER_TOKEN = token;
  } catch (e) {
    for (const p of procs) p.kill("SIGTERM");
    example.close();
    throw e;
  }

  return async () => {
    for (const p of procs) p.kill("SIGTERM");
    example.close();
    await Promise.all(
      procs.map((p) => (p.exitCode !== null ? Promise.resolve() : new Promise((r) => p.once("exit", r)))),
    );
  };
}
