#!/usr/bin/env node
// Runs bench.js (hakanai-wasm throughput) in headless system Chromium and prints a
// markdown report on stdout; progress goes to stderr.
//
//   node web-wasm/bench/run.mjs [--meta FILE] [--quick] [--page PATH]
//
// Needs the release package in web-wasm/pkg (`cargo xtask wasm`) and playwright-core
// (`cargo xtask setup`). It serves web-wasm/ over http://127.0.0.1:<free port> (a secure
// context, so crypto.subtle exists) with a strict CSP, launches /usr/bin/chromium (or
// $CHROMIUM) and waits up to 10 minutes for `window.benchResult`.
//   --meta FILE  also write key=value facts (chromium, wasm_raw, wasm_gzip) for xtask
//   --quick      1 MiB, one run per path (smoke test)
//   --page PATH  open another page under web-wasm/ (default bench/index.html)

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WASM = path.join(WEB_ROOT, 'pkg', 'hakanai_wasm_bg.wasm');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = 10 * 60 * 1000;
// Same flags as `cargo xtask test` gives chromedriver: nothing may try the network.
const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};
// No inline code anywhere; wasm compilation needs 'wasm-unsafe-eval'.
const CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'";

function parseArgs(argv) {
  const opts = { meta: null, quick: false, page: 'bench/index.html' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') opts.quick = true;
    else if (arg === '--meta' || arg === '--page') {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      opts[arg.slice(2)] = argv[++i];
    } else throw new Error(`unknown argument ${arg}`);
  }
  return opts;
}

function errLog(msg) {
  process.stderr.write(`run.mjs: ${msg}\n`);
}

// Static files from WEB_ROOT, GET/HEAD only, nothing outside the root.
function startServer() {
  const server = http.createServer((req, res) => {
    const send = (status, text) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    if (req.url === '/favicon.ico') {
      res.writeHead(204);
      return res.end();
    }
    let rel;
    try {
      rel = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    } catch {
      return send(400, 'bad path');
    }
    let file = path.resolve(WEB_ROOT, `.${rel}`);
    if (file !== WEB_ROOT && !file.startsWith(WEB_ROOT + path.sep)) return send(403, 'forbidden');
    fs.stat(file, (err, stat) => {
      if (!err && stat.isDirectory()) {
        file = path.join(file, 'index.html');
        stat = fs.existsSync(file) ? fs.statSync(file) : null;
      }
      if (err || !stat || !stat.isFile()) {
        errLog(`404 ${req.url}`);
        return send(404, 'not found');
      }
      res.writeHead(200, {
        'Content-Type': MIME[path.extname(file)] || 'application/octet-stream',
        'Content-Length': stat.size,
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        'Content-Security-Policy': CSP,
        // Cross-origin isolation only sharpens performance.now() (5 us instead of
        // 100 us); it does not change how fast crypto runs.
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
      });
      if (req.method === 'HEAD') return res.end();
      fs.createReadStream(file).pipe(res);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function wasmSize() {
  const bytes = fs.readFileSync(WASM);
  return { raw: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length };
}

function markdown(result, chromiumVersion, size) {
  const fmt = (x) => x.toFixed(1);
  const names = {
    'raw-webcrypto': 'raw WebCrypto AES-256-GCM (one call)',
    'envelope-webcrypto': 'envelope, WebCrypto backend',
    'envelope-pure': 'envelope, pure-Rust backend (wasm)',
  };
  const lines = [
    `Chromium ${chromiumVersion} headless; wasm module ${size.raw} bytes raw, ` +
      `${size.gzip} bytes gzip (zlib level 9); one untimed warm-up per path and size; ` +
      `timer ${result.crossOriginIsolated ? '5 us (cross-origin isolated)' : '100 us'}.` +
      `${result.quick ? ' QUICK RUN (1 MiB, 1 run): not for comparison.' : ''}`,
    '',
    '| path | size | encrypt MB/s | decrypt MB/s | runs |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const r of result.rows) {
    lines.push(
      `| ${names[r.path] || r.path} | ${r.size} | ${fmt(r.encryptMBps)} | ${fmt(r.decryptMBps)} | best of ${r.runs} |`,
    );
  }
  lines.push('', 'Envelope (WebCrypto backend) as a percentage of raw WebCrypto:', '');
  lines.push('| size | encrypt | decrypt |', '|---:|---:|---:|');
  for (const size of [...new Set(result.rows.map((r) => r.size))]) {
    const raw = result.rows.find((r) => r.size === size && r.path === 'raw-webcrypto');
    const env = result.rows.find((r) => r.size === size && r.path === 'envelope-webcrypto');
    if (!raw || !env) continue;
    const pct = (a, b) => `${((100 * a) / b).toFixed(0)} %`;
    lines.push(
      `| ${size} | ${pct(env.encryptMBps, raw.encryptMBps)} | ${pct(env.decryptMBps, raw.decryptMBps)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(WASM)) {
    throw new Error(`${path.relative(process.cwd(), WASM)} missing; build it with \`cargo xtask wasm\``);
  }
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing; run \`cargo xtask setup\``);
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`cannot load playwright-core (${e.message}); run \`cargo xtask setup\``);
  }
  const size = wasmSize();
  const server = await startServer();
  const url = `http://127.0.0.1:${server.address().port}/${opts.page}${opts.quick ? '?quick' : ''}`;
  errLog(`serving ${WEB_ROOT} at ${url}`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  try {
    const version = browser.version();
    errLog(`Chromium ${version}`);
    const page = await browser.newPage();
    page.on('console', (m) => process.stderr.write(`[page ${m.type()}] ${m.text()}\n`));
    let pageError;
    const crashed = new Promise((_, reject) => {
      page.on('pageerror', (e) => {
        pageError = e;
        reject(new Error(`uncaught error in page: ${e.stack || e}`));
      });
      page.on('crash', () => reject(new Error('page crashed (out of memory?)')));
    });
    crashed.catch(() => {}); // handled through Promise.race below
    await page.goto(url);
    const outcome = await Promise.race([
      page
        .waitForFunction(
          () => window.benchResult || (window.benchError && { error: window.benchError }),
          null,
          { timeout: TIMEOUT_MS, polling: 250 },
        )
        .then((h) => h.jsonValue()),
      crashed,
    ]);
    if (outcome.error) throw new Error(`benchmark failed in page: ${outcome.error}`);
    if (pageError) throw pageError;
    process.stdout.write(markdown(outcome, version, size));
    if (opts.meta) {
      fs.writeFileSync(
        opts.meta,
        `chromium=${version}\nwasm_raw=${size.raw}\nwasm_gzip=${size.gzip}\n`,
      );
    }
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e) => {
  errLog(`error: ${e.message}`);
  process.exit(1);
});
