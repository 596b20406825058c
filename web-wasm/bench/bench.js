// Browser throughput of hakanai-wasm, next to raw WebCrypto. Loaded by index.html and
// driven by run.mjs (headless Chromium), which waits for `window.benchResult` (or
// `window.benchError`). Query `?quick` measures 1 MiB once (a smoke test).
//
// Paths, each at 1 MiB (best of 5) and 64 MiB (best of 3) after one untimed warm-up,
// encrypt and decrypt:
//   raw-webcrypto      one crypto.subtle AES-256-GCM call over the whole buffer;
//   envelope-webcrypto the hakanai envelope (STREAM segments) on the WebCrypto backend;
//   envelope-pure      the same on the pure-Rust (wasm, software AES) backend.
// MB/s uses 1 MB = 10^6 bytes.

const MIB = 1024 * 1024;
const QUICK = new URLSearchParams(location.search).has('quick');
const SIZES = QUICK
  ? [{ label: '1 MiB', bytes: MIB, runs: 1 }]
  : [
      { label: '1 MiB', bytes: MIB, runs: 5 },
      { label: '64 MiB', bytes: 64 * MIB, runs: 3 },
    ];

function log(msg) {
  console.log(`[bench] ${msg}`);
  const el = document.getElementById('log');
  if (el) el.textContent += `${msg}\n`;
}

// crypto.getRandomValues fills at most 65536 bytes per call.
function randomBytes(n) {
  const buf = new Uint8Array(n);
  const PIECE = 64 * 1024;
  for (let off = 0; off < n; off += PIECE) {
    crypto.getRandomValues(buf.subarray(off, Math.min(n, off + PIECE)));
  }
  return buf;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Runs `fn` `runs` times; returns the fastest time and the last output.
async function best(runs, fn) {
  let ms = Infinity;
  let out;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    out = await fn();
    ms = Math.min(ms, performance.now() - t0);
  }
  return { ms, out };
}

async function rawWebCrypto() {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
    'encrypt',
    'decrypt',
  ]);
  let iv;
  return {
    encrypt: async (data) => {
      iv = crypto.getRandomValues(new Uint8Array(12));
      return new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, data));
    },
    decrypt: async (ct) =>
      new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, key, ct)),
  };
}

// The envelope API. Two shapes are accepted while web-wasm settles:
//   encrypt(data, key: string, {backend}) / decrypt(env, key, {backend})
//   encrypt(data, keys: SecretKeys, metadata, {backend}) / decrypt(env, keys, {backend})
function envelope(wasm, backend) {
  const key = wasm.generateKey();
  if (typeof wasm.SecretKeys === 'function') {
    const keys = new wasm.SecretKeys(key);
    return {
      encrypt: (data) => wasm.encrypt(data, keys, { kind: 'file' }, { backend }),
      decrypt: async (env) => (await wasm.decrypt(env, keys, { backend })).plaintext,
    };
  }
  return {
    encrypt: (data) => wasm.encrypt(data, key, { backend }),
    decrypt: async (env) => (await wasm.decrypt(env, key, { backend })).plaintext,
  };
}

async function measure(name, impl, size, data) {
  // Untimed warm-up: JIT, wasm memory growth, first-touch page faults.
  await impl.decrypt(await impl.encrypt(data));
  const enc = await best(size.runs, () => impl.encrypt(data));
  const dec = await best(size.runs, () => impl.decrypt(enc.out));
  if (!equalBytes(dec.out, data)) throw new Error(`${name} ${size.label}: round trip mismatch`);
  const mbps = (ms) => size.bytes / 1e6 / (ms / 1000);
  const row = {
    path: name,
    size: size.label,
    bytes: size.bytes,
    runs: size.runs,
    encryptMs: enc.ms,
    decryptMs: dec.ms,
    encryptMBps: mbps(enc.ms),
    decryptMBps: mbps(dec.ms),
    outputBytes: enc.out.length,
  };
  log(
    `${name} ${size.label}: encrypt ${row.encryptMBps.toFixed(1)} MB/s, ` +
      `decrypt ${row.decryptMBps.toFixed(1)} MB/s (best of ${size.runs})`,
  );
  return row;
}

async function main() {
  if (!globalThis.crypto?.subtle) throw new Error('crypto.subtle unavailable (not a secure context?)');
  const wasm = await import('../pkg/hakanai_wasm.js');
  await wasm.default();
  log('hakanai-wasm initialised');
  const paths = [
    ['raw-webcrypto', await rawWebCrypto()],
    ['envelope-webcrypto', envelope(wasm, 'webcrypto')],
    ['envelope-pure', envelope(wasm, 'pure')],
  ];
  const rows = [];
  for (const size of SIZES) {
    const data = randomBytes(size.bytes);
    for (const [name, impl] of paths) rows.push(await measure(name, impl, size, data));
  }
  return {
    userAgent: navigator.userAgent,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    quick: QUICK,
    rows,
  };
}

main().then(
  (result) => {
    log('done');
    window.benchResult = result;
  },
  (err) => {
    const message = err && err.stack ? err.stack : String(err);
    log(`error: ${message}`);
    window.benchError = message;
  },
);
