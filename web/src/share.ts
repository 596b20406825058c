// The share page (/share), Hakanai v3's clipboard workflow for the iOS Shortcut: a button (a
// user gesture, which clipboard reads need) reads JSON from the clipboard,
// `{"data": "<base64>", "filename"?: "...", "token"?: "...", "ttl"?: seconds}`, and turns it
// into a secret: a file when a file name is given, else text. Also the target of the installed
// app's share sheet: the service worker (sw.ts) keeps what was shared and sends the page here
// with `?shared=1`, so the content never reaches the server unencrypted.

import type { SecretKeys } from "hakanai-wasm";
import { wasm } from "./wasm";
import { $, OPTIONS, PublicConfig, boot, copyText, onLangChange, ready, renderTtlOptions, say, show } from "./common";
import { ApiError, NetworkError, authHeaders, createSecret } from "./api";
import { bundleParts, bundleTotal } from "./bundle";
import { Key, formatBytes, t } from "./i18n";
import "./i18n-create";
import "./i18n-share";
import { SHARE_CACHE, registerServiceWorker } from "./sw-client";

interface Metadata {
  kind: "text" | "file" | "bundle";
  name?: string;
  mediaType?: string;
  size: number;
}

/** What will be encrypted. */
interface Content {
  metadata: Metadata;
  pieces: () => AsyncGenerator<Uint8Array>;
  token?: string;
  ttl?: number;
}

class ShareError extends Error {
  constructor(readonly key: Key) {
    super(key);
  }
}

let config: PublicConfig;
let content: Content | undefined;
let busy = false;

const ttlSelect = $<HTMLSelectElement>("ttl");
const token = $<HTMLInputElement>("token");
const progress = $<HTMLProgressElement>("progress");
const statusLine = $("busy");

function once(bytes: Uint8Array): () => AsyncGenerator<Uint8Array> {
  return async function* () {
    yield bytes;
  };
}

function base64(data: string): Uint8Array {
  let raw: string;
  try {
    raw = atob(data.replace(/\s+/g, ""));
  } catch {
    throw new ShareError("share.err.base64");
  }
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** The clipboard JSON, checked field by field as Hakanai v3's page does. */
function fromJson(text: string): Content {
  if (!text.trim()) throw new ShareError("share.err.empty");
  let payload: Record<string, unknown>;
  try {
    payload = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new ShareError("share.err.json");
  }
  if (typeof payload !== "object" || payload === null) throw new ShareError("share.err.json");
  const { data, filename, token: tok, ttl } = payload;
  if (typeof data !== "string" || !data) throw new ShareError("share.err.data");
  if (filename != null && typeof filename !== "string") throw new ShareError("share.err.filename");
  if (tok != null && typeof tok !== "string") throw new ShareError("share.err.token");
  if (ttl != null && (typeof ttl !== "number" || !(ttl > 0))) throw new ShareError("share.err.ttl");
  const bytes = base64(data);
  const name = (filename as string | null | undefined) ?? "";
  const metadata: Metadata = name
    ? { kind: "file", name: wasm().sanitizeFileName(name), size: bytes.length }
    : { kind: "text", size: bytes.length };
  return {
    metadata,
    pieces: once(bytes),
    token: (tok as string | null | undefined) ?? undefined,
    ttl: (ttl as number | null | undefined) ?? undefined,
  };
}

/** What the share sheet handed the service worker, taken out of its cache (once). */
async function fromShareTarget(): Promise<Content | undefined> {
  const cache = await caches.open(SHARE_CACHE);
  const meta = await cache.match("/share-target/meta");
  if (!meta) return undefined;
  const { text, files } = (await meta.json()) as { text: string; files: Array<{ name: string; type: string }> };
  const blobs: File[] = [];
  for (let i = 0; i < files.length; i++) {
    const res = await cache.match(`/share-target/file/${i}`);
    if (res) blobs.push(new File([await res.blob()], files[i].name, { type: files[i].type }));
  }
  for (const key of await cache.keys()) await cache.delete(key);
  if (blobs.length > 1) {
    return { metadata: { kind: "bundle", size: await bundleTotal(blobs) }, pieces: () => bundleParts(blobs, 4 * 1024 * 1024) };
  }
  if (blobs.length === 1) {
    const f = blobs[0];
    const bytes = new Uint8Array(await f.arrayBuffer());
    return {
      metadata: { kind: "file", name: wasm().sanitizeFileName(f.name || "shared"), mediaType: f.type || undefined, size: f.size },
      pieces: once(bytes),
    };
  }
  if (!text) return undefined;
  const bytes = new TextEncoder().encode(text);
  return { metadata: { kind: "text", size: bytes.length }, pieces: once(bytes) };
}

function startError(message: () => string): void {
  const el = $("share-error");
  say(el, message);
  show(el, true);
  el.focus();
}

function preview(c: Content): void {
  content = c;
  const kind = () => t(c.metadata.kind === "text" ? "share.kind.text" : c.metadata.kind === "file" ? "share.kind.file" : "share.kind.bundle");
  say($("content-kind"), kind);
  $("content-size").textContent = formatBytes(c.metadata.size);
  const name = c.metadata.kind === "file" ? c.metadata.name ?? "" : "";
  $("content-filename").textContent = name;
  show($("filename-label"), !!name);
  show($("content-filename"), !!name);
  if (c.token) token.value = c.token;
  show($("token-row"), !c.token && (config.show_token_input || !config.allow_anonymous));
  ttlSelect.value = "";
  renderTtlOptions(ttlSelect, config, c.ttl ?? 3600);
  show($("share-error"), false);
  show($("share-start"), false);
  show($("share-preview"), true);
  $("preview-heading").focus();
}

async function readClipboard(): Promise<void> {
  show($("share-error"), false);
  let text: string;
  try {
    text = await navigator.clipboard.readText();
  } catch {
    return startError(() => t("share.err.permission"));
  }
  try {
    preview(fromJson(text));
  } catch (e) {
    const key = e instanceof ShareError ? e.key : "share.err.json";
    startError(() => t(key));
  }
}

function createError(message: () => string): void {
  const el = $("create-error");
  say(el, message);
  show(el, true);
  el.focus();
}

async function encryptToBlob(keys: SecretKeys, c: Content): Promise<Blob> {
  const enc = await wasm().Encryptor.create(keys, c.metadata, OPTIONS);
  const parts: BlobPart[] = [];
  try {
    for await (const piece of c.pieces()) {
      const out = await enc.push(piece);
      if (out.length) parts.push(out as BlobPart);
    }
    parts.push((await enc.finish()) as BlobPart);
  } finally {
    enc.free();
  }
  return new Blob(parts, { type: "application/octet-stream" });
}

async function onCreate(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  if (busy || !content) return;
  show($("create-error"), false);
  const c = content;
  const limit = token.value.trim() || !config.allow_anonymous ? config.upload_size_limit : config.anonymous_upload_size_limit;
  const total = wasm().envelopeLength(c.metadata, c.metadata.size, false, OPTIONS);
  const tooLarge = () => createError(() => t("create.err.tooLarge", { size: formatBytes(total), limit: formatBytes(limit) }));
  if (total > limit) return tooLarge();
  busy = true;
  $<HTMLButtonElement>("create").disabled = true;
  show(progress, true);
  let keys: SecretKeys | undefined;
  try {
    keys = new (wasm().SecretKeys)(wasm().generateKey(), undefined, {});
    const body = await encryptToBlob(keys, c);
    const stored = await createSecret(body, ttlSelect.value, { readTokenHash: keys.readTokenHash }, authHeaders(token.value), (loaded) => {
      progress.value = body.size ? loaded / body.size : 1;
      statusLine.textContent = t("create.busy.upload", { percent: Math.floor(progress.value * 100) });
    });
    const link = wasm().buildLink(location.origin, stored.id, keys.key);
    content = undefined;
    $<HTMLInputElement>("link").value = link;
    show($("share-preview"), false);
    show($("result"), true);
    $("result-heading").focus();
    // As Hakanai v3's page: the link goes straight back to the clipboard for the shortcut.
    try {
      await navigator.clipboard.writeText(link);
      show($("copied-note"), true);
    } catch {
      // No permission: the copy button remains.
    }
  } catch (e) {
    if (e instanceof ApiError) {
      if (e.status === 401 || e.status === 403) {
        show($("token-row"), true);
        createError(() => t("create.err.token"));
      } else if (e.status === 413) tooLarge();
      else createError(() => t("create.err.server", { details: e.details }));
    } else if (e instanceof NetworkError) {
      createError(() => t("create.err.network"));
    } else {
      createError(() => String(e));
    }
  } finally {
    keys?.free();
    busy = false;
    $<HTMLButtonElement>("create").disabled = false;
    show(progress, false);
    statusLine.textContent = "";
  }
}

async function main(): Promise<void> {
  $("read-clipboard").addEventListener("click", () => void readClipboard());
  $<HTMLFormElement>("share-form").addEventListener("submit", (e) => void onCreate(e));
  const copy = $<HTMLButtonElement>("copy-link");
  copy.addEventListener("click", () => void copyText($<HTMLInputElement>("link").value, copy, "result.copyLink"));
  config = await boot("seal");
  onLangChange(() => renderTtlOptions(ttlSelect, config));
  registerServiceWorker();
  const shared = new URLSearchParams(location.search).get("shared");
  if (shared !== null) {
    history.replaceState(null, "", location.pathname);
    const c = shared === "1" ? await fromShareTarget().catch(() => undefined) : undefined;
    if (c) preview(c);
    else startError(() => t("share.err.target"));
  }
  ready();
}

void main();
