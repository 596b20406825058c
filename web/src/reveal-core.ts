// Reading a secret, shared by the reveal page (/s/{id}#key) and the get page (/get, where the
// link is pasted): the form, the read, decryption, the result and one message per failure.
// Nothing is fetched until the person presses Reveal; the key is used only inside the wasm
// module.

import type { ErrorCode, SecretKeys } from "hakanai-wasm";
import { full, passphraseKeys, useFull, wasm } from "./wasm";
import { $, OPTIONS, copyText, errorCode, onLangChange, say, show } from "./common";
import { ApiError, NetworkError, readSecret } from "./api";
import type { BundleEvent } from "./bundle";
import { Key, formatBytes, t } from "./i18n";
import "./i18n-reveal";

/** Gathers content into Blobs every few MiB, so the JS heap holds little at a time. */
class BlobSink {
  private parts: Uint8Array[] = [];
  private pending = 0;
  private blobs: Blob[] = [];
  size = 0;

  push(bytes: Uint8Array): void {
    if (!bytes.length) return;
    this.parts.push(bytes);
    this.pending += bytes.length;
    this.size += bytes.length;
    if (this.pending >= 8 * 1024 * 1024) this.flush();
  }

  private flush(): void {
    if (this.parts.length) this.blobs.push(new Blob(this.parts as BlobPart[]));
    this.parts = [];
    this.pending = 0;
  }

  /**
   * Always `application/octet-stream`, whatever the sender's metadata claims: a received file
   * is only ever downloaded, never rendered in this origin (an HTML file would run here).
   */
  blob(): Blob {
    this.flush();
    return new Blob(this.blobs, { type: "application/octet-stream" });
  }
}

/** Everything the page knows: the link's parts and where the reading stands. */
export const page: {
  /** The secret id from the path. */
  id: string;
  /** The key from the fragment; undefined until typed in when the link came without one. */
  key: string | undefined;
  /** Whether the server asked for a passphrase. */
  needsPassphrase: boolean;
  /** A read is running. */
  busy: boolean;
} = { id: "", key: undefined, needsPassphrase: false, busy: false };

const form = $<HTMLFormElement>("reveal-form");
const keyRow = $("key-row");
const keyInput = $<HTMLInputElement>("key");
const passRow = $("pass-row");
const passInput = $<HTMLInputElement>("passphrase");
const button = $<HTMLButtonElement>("reveal");
const busyLine = $("busy");
const progress = $<HTMLProgressElement>("progress");
const inlineError = $("reveal-error");

/** A final failure: the form goes away and a distinct message stays. */
export function fatal(kind: string, message: () => string): void {
  show($("intro"), false);
  const box = $("failure");
  box.dataset.kind = kind;
  say($("failure-text"), message);
  show(box, true);
  $("failure-heading").focus();
}

/** A recoverable failure: stays on the form. */
export function inline(kind: string, message: () => string): void {
  inlineError.dataset.kind = kind;
  say(inlineError, message);
  show(inlineError, true);
}

/** The codes that have a message of their own about the link. */
const LINK_CODES = [
  "missing_key",
  "key_length",
  "key_charset",
  "key_encoding",
  "legacy_hash_format",
  "missing_id",
  "invalid_id",
  "empty_link",
] as const;
type LinkCode = (typeof LINK_CODES)[number];

export function linkMessage(code: ErrorCode | undefined): string {
  const known = (LINK_CODES as readonly string[]).includes(code ?? "");
  const detail = t(known ? `link.${code as LinkCode}` : "link.other");
  return t("reveal.err.link", { detail });
}

function setBusy(on: boolean, message = ""): void {
  page.busy = on;
  button.disabled = on;
  form.setAttribute("aria-busy", String(on));
  busyLine.textContent = message;
  show(progress, on);
  if (on) progress.removeAttribute("value");
}

/**
 * Submits the form. `prepare` (the get page) fills `page.id` and `page.key` from the fields
 * first and returns false when they cannot be read (it has shown why).
 */
export async function onReveal(ev: SubmitEvent, prepare: () => boolean = () => true): Promise<void> {
  ev.preventDefault();
  if (page.busy) return;
  show(inlineError, false);
  if (!prepare()) return;
  let k = page.key;
  if (!k) {
    try {
      k = wasm().parseKey(keyInput.value);
    } catch (e) {
      // People also paste "#key" or a whole link with its key.
      k = keyFromLink(keyInput.value);
      if (!k) {
        inline("link", () => linkMessage(errorCode(e)));
        keyInput.focus();
        return;
      }
    }
  }
  const pass = page.needsPassphrase ? passInput.value : "";
  if (page.needsPassphrase && !pass) {
    passInput.focus();
    return;
  }
  setBusy(true, pass ? t("reveal.busy.kdf") : "");
  let keys: SecretKeys | undefined;
  try {
    const key = k;
    // A Hakanai v3 key opens only in the full module, and its passphrase is not stretched.
    const v3 = wasm().isHakanaiV3Key(key);
    if (v3) await useFull();
    keys = pass && !v3 ? await passphraseKeys(key, pass) : new (wasm().SecretKeys)(key, pass || undefined, {});
    let res: Response;
    try {
      res = await readSecret(page.id, keys.readToken || undefined, keys.verifier || undefined);
    } catch (e) {
      if (e instanceof NetworkError) return inline("network", () => t("reveal.err.network"));
      if (e instanceof ApiError) return onRefusal(e, pass !== "");
      throw e;
    }
    await openSecret(res, keys, (argon2) => passphraseKeys(key, pass, argon2));
  } catch (e) {
    const code = errorCode(e);
    if (code && (code.startsWith("key_") || code === "legacy_hash_format")) inline("link", () => linkMessage(code));
    else if (code === "argon2_params_refused") fatal("decrypt", () => t("reveal.err.kdfRefused"));
    else fatal("decrypt", () => t("reveal.err.decrypt"));
  } finally {
    keys?.free();
    setBusy(false);
  }
}

function keyFromLink(text: string): string | undefined {
  try {
    return wasm().parseLink(text).key;
  } catch {
    return undefined;
  }
}

function onRefusal(e: ApiError, sentPassphrase: boolean): void {
  switch (e.status) {
    case 401: {
      const left = e.attemptsRemaining();
      if (!sentPassphrase) {
        page.needsPassphrase = true;
        show(passRow, true);
        passInput.required = true;
        passInput.focus();
        return;
      }
      if (left === 0) return fatal("destroyed", () => t("reveal.err.passphraseDestroyed"));
      inline("passphrase", () => t("reveal.err.passphrase", { n: left ?? "?" }));
      passInput.select();
      passInput.focus();
      return;
    }
    case 403:
      return fatal("forbidden", () => t("reveal.err.forbidden"));
    case 404:
      return fatal("not-found", () => t("reveal.err.notFound"));
    case 410:
      return fatal("gone", () => t("reveal.err.gone"));
    case 501:
      return fatal("unsupported", () => t("reveal.err.unsupported"));
    case 400:
      return fatal("link", () => linkMessage("invalid_id"));
    case 500:
    case 502:
    case 503:
    case 504:
      // Temporarily unavailable: the secret may still be there; let the person retry.
      return inline("server", () => t("reveal.err.server", { details: e.details }));
    default:
      return fatal("server", () => t("reveal.err.server", { details: e.details }));
  }
}

/** Keys for the same key and passphrase under other Argon2id parameters. */
type Rederive = (argon2: { mCostKib: number; tCost: number; pCost: number }) => Promise<SecretKeys>;

async function openSecret(res: Response, keys: SecretKeys, rederive: Rederive): Promise<void> {
  const total = Number(res.headers.get("Content-Length") ?? 0);
  let dec = new (wasm().Decryptor)(keys, OPTIONS);
  const sink = new BlobSink();
  let received = 0;
  // The chunks before any content came out: an envelope whose header names other Argon2id
  // parameters than the keys were derived with is read again from them with new keys.
  let head: Uint8Array[] | undefined = [];
  const push = async (chunk: Uint8Array): Promise<Uint8Array> => {
    if (!head) return dec.push(chunk);
    head.push(chunk);
    let out: Uint8Array;
    try {
      out = await dec.push(chunk);
    } catch (e) {
      const params = (e as { params?: Parameters<Rederive>[0] }).params;
      if (errorCode(e) !== "argon2_rerun" || !params) throw e;
      dec.free();
      const rederived = await rederive(params);
      // The Decryptor keeps its own copy of the keys.
      dec = new (wasm().Decryptor)(rederived, OPTIONS);
      rederived.free();
      const held = head;
      head = undefined;
      const parts: Uint8Array[] = [];
      for (const c of held) parts.push(await dec.push(c));
      return concat(parts);
    }
    if (out.length) head = undefined;
    return out;
  };
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.length;
    sink.push(await push(value));
    if (total) {
      progress.value = received / total;
      busyLine.textContent = t("reveal.busy.download", { percent: Math.floor((received / total) * 100) });
    }
  }
  busyLine.textContent = t("reveal.busy.decrypt");
  sink.push(await dec.finish());
  const metadata = dec.metadata() ?? { kind: "file" };
  dec.free();
  show($("intro"), false);
  if (metadata.kind === "text") {
    const text = new TextDecoder().decode(await sink.blob().arrayBuffer());
    $<HTMLTextAreaElement>("secret-text").value = text;
    shareButton($("share-text"), () => ({ text }));
    show($("text-result"), true);
    $("text-heading").focus();
    return;
  }
  // The sender's media type is not used: see `BlobSink.blob`.
  const whole = sink.blob();
  const list = $<HTMLUListElement>("file-links");
  if (metadata.kind === "bundle") {
    const name = wasm().safeFileName(metadata);
    const files = await unbundle(whole);
    list.replaceChildren(...files.map((f) => downloadItem(f.name, f.blob)));
    list.append(downloadItem(name, whole, "reveal.downloadAll"));
  } else {
    list.replaceChildren(downloadItem(wasm().safeFileName(metadata), whole));
  }
  show($("file-result"), true);
  $("files-heading").focus();
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Splits a bundle into its files, reading the decrypted Blob piece by piece. */
async function unbundle(whole: Blob): Promise<Array<{ name: string; blob: Blob }>> {
  // Straight from the full module, not through bundle.ts: that chunk is the making pages'.
  const reader = new (await full()).BundleReader();
  const files: Array<{ name: string; blob: Blob }> = [];
  let current: { name: string; sink: BlobSink } | undefined;
  const handle = (events: BundleEvent[]) => {
    // Names arrive already reduced to safe single path components.
    for (const ev of events) {
      if (ev.type === "start") current = { name: wasm().sanitizeFileName(ev.name), sink: new BlobSink() };
      else if (ev.type === "data") current?.sink.push(ev.bytes);
      else if (current) {
        files.push({ name: current.name, blob: current.sink.blob() });
        current = undefined;
      }
    }
  };
  const piece = 4 * 1024 * 1024;
  for (let off = 0; off < whole.size; off += piece) {
    handle(reader.push(new Uint8Array(await whole.slice(off, off + piece).arrayBuffer())));
  }
  reader.finish();
  reader.free();
  return files;
}

/** Object URLs still alive; revoked when the page goes away. */
const liveUrls = new Set<string>();
addEventListener("pagehide", () => {
  for (const url of liveUrls) URL.revokeObjectURL(url);
  liveUrls.clear();
});

/** How long a download may take to pick up its object URL before it is revoked. */
const URL_GRACE_MS = 1000;

function downloadItem(name: string, blob: Blob, label: Key = "reveal.download"): HTMLLIElement {
  const li = document.createElement("li");
  const a = document.createElement("a");
  a.download = name;
  a.className = "button";
  const fresh = () => {
    const url = URL.createObjectURL(blob);
    liveUrls.add(url);
    a.href = url;
  };
  fresh();
  // The browser resolves the URL when the download starts; afterwards it only keeps the Blob
  // alive in memory. A later click (saving twice) gets a new URL, made before the default action.
  a.addEventListener("click", () => {
    const used = a.href;
    if (!liveUrls.has(used)) fresh();
    const current = a.href;
    setTimeout(() => {
      URL.revokeObjectURL(current);
      liveUrls.delete(current);
    }, URL_GRACE_MS);
  });
  const render = () => (a.textContent = t(label, { name, size: formatBytes(blob.size) }));
  render();
  onLangChange(render);
  li.append(a);
  // The system share sheet, where the browser can share files (mostly phones).
  const file = new File([blob], name, { type: "application/octet-stream" });
  if (typeof navigator.canShare === "function" && navigator.canShare({ files: [file] })) {
    const share = document.createElement("button");
    share.type = "button";
    const renderShare = () => (share.textContent = t("reveal.shareFile", { name }));
    renderShare();
    onLangChange(renderShare);
    shareButton(share, () => ({ files: [file] }));
    li.append(share);
  }
  return li;
}

/** Wires `button` to the system share sheet with `data`, shown only where there is one. */
function shareButton(button: HTMLElement, data: () => ShareData): void {
  const can = typeof navigator.share === "function";
  show(button, can);
  if (!can || button.dataset.wired) return;
  button.dataset.wired = "true";
  button.addEventListener("click", () => {
    // Cancelled or refused: nothing to report, the secret is still on screen.
    navigator.share(data()).catch(() => undefined);
  });
}

/** Wires the form and the copy button; `prepare` as for `onReveal`. */
export function wireReveal(prepare?: () => boolean): void {
  form.addEventListener("submit", (e) => void onReveal(e, prepare));
  const copy = $<HTMLButtonElement>("copy-text");
  copy.addEventListener("click", () => void copyText($<HTMLTextAreaElement>("secret-text").value, copy, "reveal.copy"));
}
