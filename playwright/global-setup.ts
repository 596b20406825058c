// Starts the servers the suite needs and returns a teardown that stops them. The Hakanai and
// Redis servers come from `cargo xtask test-servers` (xtask/src/test_servers.rs, through the
// hakanai-test-support crate the Rust tests use: ports the servers own, tokens from
// --token-file), which prints one JSON line with their URLs, tokens and log files and keeps
// them running until its stdin closes:
//  - hakanai-server on the embedded store (HK_EMBEDDED_URL),
//  - redis-server (--save '' --appendonly no) and hakanai-server on it (HK_REDIS_URL),
//  - hakanai-server without anonymous uploads and with legal pages (HK_TOKEN_URL, its user
//    token in HK_USER_TOKEN),
//  - per store, hakanai-server with --country-header x-country and --asn-header x-asn
//    (HK_GEO_EMBEDDED_URL, HK_GEO_REDIS_URL): the page offers country and ASN restrictions, and
//    a test's browser, on loopback (a trusted proxy), sends the headers itself; these also
//    serve playwright/custom-assets.
// The first two serve the page built into the binary (no --web-root, started from a directory
// without a page); the token server serves web/dist through --web-root, the override for
// working on the page.
// Started here: a static server for web-wasm/examples on another origin (HK_EXAMPLE_URL),
// allowed by CORS (its origin is passed to test-servers).
// Each server's stdout (the JSON log) goes to target/playwright/<name>.log (HK_LOG_<NAME>),
// so tests can check that no key ever reaches it.
import { spawn } from "node:child_process";
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { extname, join, normalize, resolve } from "node:path";
import { createInterface } from "node:readline";

const ROOT = resolve(__dirname, "..");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".wasm": "application/wasm",
  ".css": "text/css",
};

/** The embedding example on its own origin: web-wasm/examples/* plus the npm package, on a
 * port the kernel picks (listening on port 0: nothing to race with). */
function exampleServer(): Promise<Server> {
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
  return new Promise((r) => server.listen(0, "127.0.0.1", () => r(server)));
}

/** What `cargo xtask test-servers` prints. */
interface TestServers {
  redis: { dsn: string; log: string };
  servers: Record<string, { url: string; log: string; user_token?: string; admin_token?: string }>;
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const example = await exampleServer();
  process.env.HK_EXAMPLE_URL = `http://127.0.0.1:${(example.address() as AddressInfo).port}`;

  // `cargo` as the one running `cargo xtask test`, if any; stderr shows a failed start.
  const xtask = spawn(process.env.CARGO ?? "cargo", ["xtask", "test-servers", "--cors-origin", process.env.HK_EXAMPLE_URL], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<void>((r) => xtask.once("exit", () => r()));
  let servers: TestServers;
  try {
    servers = await new Promise<TestServers>((res, rej) => {
      const timer = setTimeout(() => rej(new Error("cargo xtask test-servers printed nothing in 180 s")), 180_000);
      const lines = createInterface({ input: xtask.stdout! });
      lines.once("line", (line) => {
        clearTimeout(timer);
        try {
          res(JSON.parse(line) as TestServers);
        } catch {
          rej(new Error(`cargo xtask test-servers printed ${JSON.stringify(line)}`));
        }
      });
      xtask.once("exit", (code) => {
        clearTimeout(timer);
        rej(new Error(`cargo xtask test-servers exited with ${code} before its servers were up`));
      });
    });
  } catch (e) {
    xtask.kill("SIGTERM");
    example.close();
    throw e;
  }
  const s = servers.servers;
  process.env.HK_EMBEDDED_URL = s["server-embedded"].url;
  process.env.HK_REDIS_URL = s["server-redis"].url;
  process.env.HK_TOKEN_URL = s["server-token"].url;
  process.env.HK_USER_TOKEN = s["server-token"].user_token;
  process.env.HK_GEO_EMBEDDED_URL = s["server-geo-embedded"].url;
  process.env.HK_GEO_REDIS_URL = s["server-geo-redis"].url;
  for (const [name, server] of Object.entries(s)) {
    process.env[`HK_LOG_${name.toUpperCase().replace(/-/g, "_")}`] = server.log;
  }

  return async () => {
    // Closing its stdin stops the servers (SIGTERM, a graceful exit) and then test-servers.
    xtask.stdin!.end();
    await exited;
    example.close();
  };
}
