// Which wasm module the page uses, and when it loads the other one.
//
// Every visitor gets a small module (web-wasm built without its `full` feature: keys, links
// and, over WebCrypto, encrypting — `seal`, for the create and share pages — or decrypting —
// `open`, for the reveal and get pages). The full module (pure-Rust AES, Argon2id, bundles, QR
// codes, Hakanai v3 secrets) loads only when one of those is needed: instead of the small one
// when `crypto.subtle` is missing or a Hakanai v3 link is opened, beside it for bundles and QR
// codes, and in a Worker for Argon2id. Both are built from the same crypto-core, so an
// envelope is the same bytes whichever module wrote it.

import type * as Wasm from "hakanai-wasm";

export type Module = typeof Wasm;

/** What a module's `code`-carrying error looks like after crossing from the Worker. */
interface WorkerError {
  code?: Wasm.ErrorCode;
  message: string;
}

/** Which small module a page needs: the one that encrypts or the one that decrypts. */
export type Role = "seal" | "open";

const FULL_URL = new URL("./hakanai_wasm.js", import.meta.url).href;

let active: Module | undefined;
let fullModule: Promise<Module> | undefined;

async function load(url: string): Promise<Module> {
  const module = (await import(url)) as Module;
  await module.default();
  return module;
}

/**
 * The `code` of an error a module threw (or the Worker passed on), if it has one; `ErrorCode` is
 * generated from crypto-core.
 */
export function errorCode(e: unknown): Wasm.ErrorCode | undefined {
  return typeof e === "object" && e !== null && "code" in e ? ((e as { code: unknown }).code as Wasm.ErrorCode) : undefined;
}

/** Whether `crypto.subtle` is here (a secure context), so a small module can run. */
export function hasWebCrypto(): boolean {
  return typeof crypto !== "undefined" && typeof crypto.subtle?.importKey === "function";
}

/** Loads the module this page needs at first; the page calls it once, while booting. */
export async function loadWasm(role: Role): Promise<Module> {
  const small = new URL(`./hakanai_wasm_${role}.js`, import.meta.url).href;
  active ??= hasWebCrypto() ? await load(small) : await full();
  return active;
}

/** The module that encrypts and decrypts on this page (after `loadWasm`). */
export function wasm(): Module {
  if (!active) throw new Error("the wasm module is not loaded yet");
  return active;
}

/** The full module, loaded on first use (bundles, QR codes). */
export function full(): Promise<Module> {
  fullModule ??= load(FULL_URL);
  return fullModule;
}

/** Switches the page to the full module (Hakanai v3 links, which the small one cannot open). */
export async function useFull(): Promise<Module> {
  active = await full();
  return active;
}

let worker: Worker | undefined;
let nextJob = 0;
const jobs = new Map<number, { resolve: (prk: Uint8Array) => void; reject: (e: unknown) => void }>();

function kdfWorker(): Worker {
  if (worker) return worker;
  worker = new Worker(new URL("./kdf-worker.js", import.meta.url), { type: "module" });
  worker.onmessage = (ev: MessageEvent<{ job: number; prk?: Uint8Array; error?: WorkerError }>) => {
    const job = jobs.get(ev.data.job);
    if (!job) return;
    jobs.delete(ev.data.job);
    if (ev.data.prk) return job.resolve(ev.data.prk);
    const error = new Error(ev.data.error?.message ?? "the passphrase could not be derived");
    Object.assign(error, { name: "HakanaiError", code: ev.data.error?.code ?? "backend" });
    job.reject(error);
  };
  worker.onerror = (ev) => {
    for (const job of jobs.values()) job.reject(new Error(ev.message || "the passphrase worker failed"));
    jobs.clear();
    worker = undefined;
  };
  return worker;
}

/**
 * Keys for `key` with `passphrase`: Argon2id runs in a Worker (the full module there), so the
 * page keeps painting and answering; the 32-byte result becomes keys in the page's module.
 * `argon2` defaults to crypto-core's parameters.
 */
export function passphraseKeys(
  key: string,
  passphrase: string,
  argon2: { mCostKib?: number; tCost?: number; pCost?: number } = {},
): Promise<Wasm.SecretKeys> {
  const job = nextJob++;
  return new Promise<Uint8Array>((resolve, reject) => {
    jobs.set(job, { resolve, reject });
    kdfWorker().postMessage({ job, key, passphrase, argon2 });
  }).then((prk) => {
    try {
      return wasm().SecretKeys.withPassphrasePrk(key, prk, argon2);
    } finally {
      prk.fill(0);
    }
  });
}
