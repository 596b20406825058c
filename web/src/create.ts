// The create page: text or files → envelope (encrypted here, chunk by chunk, each chunk
// uploaded while the next is encrypted) → link, QR code and the sender's controls.

import type { SecretKeys } from "hakanai-wasm";
import { full, passphraseKeys, wasm } from "./wasm";
import { $, CUSTOM_TTL, OPTIONS, PublicConfig, boot, copyText, onLangChange, ready, renderTtlOptions, say, show, translatePage, ttlLabel } from "./common";
import { ApiError, Created, Locks, NetworkError, SecretStatus, appendChunk, authHeaders, createSecret, finishUpload, openUpload, revokeSecret, secretStatus } from "./api";
import { bundleParts, bundleTotal } from "./bundle";
import { Key, formatBytes, t } from "./i18n";
import "./i18n-create";
import { RestrictionError, RestrictionField, Restrictions, readRestrictions } from "./restrictions";

/** Plaintext is read from files in pieces of this size, so memory stays bounded. */
const PIECE = 4 * 1024 * 1024;
/** Envelopes up to this size go up in one request; larger ones in chunks of this size. */
const CHUNK = 4 * 1024 * 1024;
/** Hakanai v3's sessionStorage key for a remembered token, so a tab keeps it across both. */
const TOKEN_KEY = "hakanai-auth-token";

let config: PublicConfig;
let files: File[] = [];

/** Where the page is: filling in the form, sending a secret, or showing the one it made. */
type PageState =
  | { step: "form" }
  | { step: "sending" }
  | { step: "result"; secret: Created; status: Key; poll: number | undefined };
let state: PageState = { step: "form" };

const form = $<HTMLFormElement>("create-form");
const textArea = $<HTMLTextAreaElement>("text");
const fileInput = $<HTMLInputElement>("files");
const drop = $("drop");
const fileList = $<HTMLUListElement>("file-list");
const fileTotal = $("file-total");
const ttlSelect = $<HTMLSelectElement>("ttl");
const ttlCustom = $("ttl-custom");
const ttlValue = $<HTMLInputElement>("ttl-value");
const ttlUnit = $<HTMLSelectElement>("ttl-unit");
const ttlMax = $("ttl-max");
const restrictionsBox = $<HTMLDetailsElement>("restrictions");
const restrictionInputs: Record<RestrictionField, HTMLInputElement> = {
  ips: $<HTMLInputElement>("allowed-ips"),
  countries: $<HTMLInputElement>("allowed-countries"),
  asns: $<HTMLInputElement>("allowed-asns"),
};
const rememberToken = $<HTMLInputElement>("remember-token");
const passphrase = $<HTMLInputElement>("passphrase");
const separate = $<HTMLInputElement>("separate");
const tokenRow = $("token-row");
const token = $<HTMLInputElement>("token");
const submit = $<HTMLButtonElement>("submit");
const progress = $<HTMLProgressElement>("progress");
const statusLine = $("busy");
const error = $("create-error");

function kind(): "text" | "files" {
  return (document.querySelector<HTMLInputElement>('input[name="kind"]:checked')?.value as "text" | "files") ?? "text";
}

function showKind(): void {
  show($("text-panel"), kind() === "text");
  show($("files-panel"), kind() === "files");
}

function limit(): number {
  return token.value.trim() || !config.allow_anonymous ? config.upload_size_limit : config.anonymous_upload_size_limit;
}

function renderLimit(): void {
  $("limit").textContent = t("create.limit", { size: formatBytes(limit()) });
}

function renderTtl(): void {
  renderTtlOptions(ttlSelect, config, 3600, true);
  const custom = ttlSelect.value === CUSTOM_TTL;
  show(ttlCustom, custom);
  show(ttlMax, custom);
  ttlMax.textContent = t("create.ttl.max", { max: ttlLabel(config.max_ttl_seconds) });
}

/** What a request needs besides the envelope: lifetime, restrictions and who is asking. */
interface Options {
  ttl: number;
  restrictions: Restrictions;
  auth: Record<string, string>;
}

/** The chosen lifetime in seconds, or undefined (with the reason shown) for a bad custom one. */
function readTtl(): number | undefined {
  if (ttlSelect.value !== CUSTOM_TTL) return Number(ttlSelect.value);
  const seconds = Number(ttlValue.value) * Number(ttlUnit.value);
  if (Number.isInteger(Number(ttlValue.value)) && seconds >= 1 && seconds <= config.max_ttl_seconds) return seconds;
  failAt(ttlValue, () => t("create.err.ttl", { max: ttlLabel(config.max_ttl_seconds) }));
  return undefined;
}

/** The restrictions typed in, or undefined (with the bad entry named) when one cannot be read. */
function restrictions(): Restrictions | undefined {
  const { ips, countries, asns } = restrictionInputs;
  // Hidden fields (the server cannot check them) are never sent.
  const value = (input: HTMLInputElement) => (input.closest<HTMLElement>("[hidden]") ? "" : input.value);
  try {
    return readRestrictions(value(ips), value(countries), value(asns));
  } catch (e) {
    if (!(e instanceof RestrictionError)) throw e;
    restrictionsBox.open = true;
    failAt(restrictionInputs[e.field], () => t(`create.err.${e.field}` as Key, { entry: e.entry }));
    return undefined;
  }
}

function renderFiles(): void {
  fileList.replaceChildren(
    ...files.map((f, i) => {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = `${f.name} (${formatBytes(f.size)})`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link-button";
      remove.textContent = "✕";
      remove.setAttribute("aria-label", t("create.files.remove", { name: f.name }));
      remove.addEventListener("click", () => {
        files.splice(i, 1);
        renderFiles();
      });
      li.append(name, remove);
      return li;
    }),
  );
  const total = files.reduce((n, f) => n + f.size, 0);
  fileTotal.textContent = files.length
    ? t("create.files.total", { count: files.length, size: formatBytes(total) })
    : t("create.files.none");
}

function addFiles(list: FileList | null): void {
  if (!list) return;
  for (const f of Array.from(list)) {
    if (!files.some((g) => g.name === f.name && g.size === f.size)) files.push(f);
  }
  renderFiles();
}

function fail(message: () => string): void {
  say(error, message);
  show(error, true);
  error.focus();
}

/** A field's content is wrong: the message is shown and the field marked and focused. */
function failAt(field: HTMLInputElement, message: () => string): void {
  say(error, message);
  show(error, true);
  field.setAttribute("aria-invalid", "true");
  field.setAttribute("aria-errormessage", error.id);
  field.focus();
}

function clearInvalid(): void {
  for (const el of form.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-errormessage");
  }
}

function renderSending(on: boolean, message = ""): void {
  submit.disabled = on;
  form.setAttribute("aria-busy", String(on));
  statusLine.textContent = message;
  show(progress, on);
}

function setProgress(key: Key, fraction: number): void {
  progress.value = fraction;
  statusLine.textContent = t(key, { percent: Math.floor(fraction * 100) });
}

/** What is about to be encrypted: its metadata, its length and where its bytes come from. */
interface Content {
  metadata: { kind: string; name?: string; mediaType?: string; size: number };
  size: number;
  pieces: () => AsyncGenerator<Uint8Array>;
  /** A text secret's bytes, already encoded. */
  text?: Uint8Array;
}

async function content(): Promise<Content> {
  if (kind() === "text") {
    const bytes = new TextEncoder().encode(textArea.value);
    return {
      metadata: { kind: "text", size: bytes.length },
      size: bytes.length,
      pieces: async function* () {
        yield bytes;
      },
      text: bytes,
    };
  }
  if (files.length > 1) {
    const size = await bundleTotal(files);
    const chosen = files;
    return { metadata: { kind: "bundle", size }, size, pieces: () => bundleParts(chosen, PIECE) };
  }
  const file = files[0];
  return {
    metadata: { kind: "file", name: file.name, mediaType: file.type || undefined, size: file.size },
    size: file.size,
    pieces: () => fileSlices(file),
  };
}

/** Encrypts small content into a Blob of envelope parts, for a single request. */
async function encryptWhole(keys: SecretKeys, c: Content): Promise<Blob> {
  if (c.text) {
    const env = await wasm().encrypt(c.text, keys, { kind: "text" }, OPTIONS);
    return new Blob([env as BlobPart]);
  }
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

async function* fileSlices(file: File): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < file.size; off += PIECE) {
    yield new Uint8Array(await file.slice(off, off + PIECE).arrayBuffer());
  }
}

/** What the server keeps to check readers of a secret made with `keys`. */
function locksOf(keys: SecretKeys): Locks {
  return { readTokenHash: keys.readTokenHash, passphraseHash: keys.serverHash };
}

/** One request: fine for envelopes up to one chunk. */
async function uploadWhole(keys: SecretKeys, c: Content, o: Options): Promise<Created> {
  const body = await encryptWhole(keys, c);
  setProgress("create.busy.upload", 0);
  return createSecret(
    body,
    String(o.ttl),
    locksOf(keys),
    o.auth,
    (loaded) => setProgress("create.busy.upload", body.size ? loaded / body.size : 1),
    o.restrictions,
  );
}

/**
 * Several requests: the next chunk is encrypted while the previous one is on the wire, so a
 * large file starts leaving at once and the page holds only about two chunks at a time.
 */
async function uploadInChunks(
  keys: SecretKeys,
  c: Content,
  total: number,
  o: Options,
): Promise<Created> {
  const upload = await openUpload(total, o.ttl, locksOf(keys), o.auth, o.restrictions);
  const chunkSize = Math.min(CHUNK, upload.max_chunk);
  let queued = 0;
  let acknowledged = 0;
  const putChunk = async (chunk: Blob, offset: number): Promise<void> => {
    await appendChunk(upload, chunk, offset, (loaded) => setProgress("create.busy.send", (acknowledged + loaded) / total));
    acknowledged = offset + chunk.size;
    setProgress("create.busy.send", acknowledged / total);
  };

  const enc = await wasm().Encryptor.create(keys, c.metadata, OPTIONS);
  let inFlight: Promise<void> = Promise.resolve();
  let pending: BlobPart[] = [];
  let pendingSize = 0;
  const dispatch = async (all: boolean): Promise<void> => {
    let blob = new Blob(pending);
    while (blob.size >= chunkSize || (all && blob.size > 0)) {
      const chunk = blob.slice(0, chunkSize);
      blob = blob.slice(chunk.size);
      // At most one chunk on the wire while the next is being encrypted.
      await inFlight;
      const offset = queued;
      queued += chunk.size;
      inFlight = putChunk(chunk, offset);
      // Keep the rejection handled until it is awaited.
      inFlight.catch(() => undefined);
    }
    pending = blob.size ? [blob] : [];
    pendingSize = blob.size;
  };
  try {
    setProgress("create.busy.send", 0);
    for await (const piece of c.pieces()) {
      const out = await enc.push(piece);
      if (out.length) {
        pending.push(out as BlobPart);
        pendingSize += out.length;
      }
      if (pendingSize >= chunkSize) await dispatch(false);
    }
    pending.push((await enc.finish()) as BlobPart);
    await dispatch(true);
    await inFlight;
  } finally {
    enc.free();
  }
  return finishUpload(upload);
}

async function onSubmit(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  if (state.step !== "form") return;
  show(error, false);
  clearInvalid();
  const empty = kind() === "text" ? textArea.value.length === 0 : files.length === 0;
  if (empty) return fail(() => t("create.err.empty"));
  const ttl = readTtl();
  if (ttl === undefined) return;
  const restricted = restrictions();
  if (!restricted) return;
  // Sending from here on: a bundle's size may wait for the full module to load.
  state = { step: "sending" };
  renderSending(true);
  let total = 0;
  const tooLarge = () => fail(() => t("create.err.tooLarge", { size: formatBytes(total), limit: formatBytes(limit()) }));
  let keys: SecretKeys | undefined;
  try {
    const c = await content();
    const pass = passphrase.value;
    // Exactly what the server will count, known before anything is encrypted.
    total = wasm().envelopeLength(c.metadata, c.size, pass !== "", OPTIONS);
    if (total > limit()) return tooLarge();
    const key = wasm().generateKey();
    if (pass) statusLine.textContent = t("create.busy.kdf");
    keys = pass ? await passphraseKeys(key, pass) : new (wasm().SecretKeys)(key, undefined, {});
    const o: Options = { ttl, restrictions: restricted, auth: authHeaders(token.value) };
    const stored = total <= CHUNK ? await uploadWhole(keys, c, o) : await uploadInChunks(keys, c, total, o);
    rememberOrForgetToken();
    showResult(stored, keys.key);
  } catch (e) {
    if (e instanceof ApiError) {
      if (e.status === 401 || e.status === 403) fail(() => t("create.err.token"));
      else if (e.status === 413) tooLarge();
      else if (e.status === 501) fail(() => t("create.err.unsupported"));
      else fail(() => t("create.err.server", { details: e.details }));
    } else if (e instanceof NetworkError) {
      fail(() => t("create.err.network"));
    } else {
      fail(() => String(e));
    }
  } finally {
    keys?.free();
    if (state.step === "sending") state = { step: "form" };
    renderSending(false);
  }
}

/** Hakanai v3's rule: a token is kept for the tab's session only when the box is ticked. */
function rememberOrForgetToken(): void {
  try {
    if (rememberToken.checked && token.value.trim()) sessionStorage.setItem(TOKEN_KEY, token.value.trim());
    else if (!rememberToken.checked) sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage refused (private mode, policy): the token is simply not remembered.
  }
}

function rememberedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** The system share sheet for the link, where the browser has one (mostly phones). */
async function shareLink(): Promise<void> {
  try {
    await navigator.share({ url: $<HTMLInputElement>("link").value });
  } catch {
    // Cancelled by the person, or refused: nothing to report, the link is still on screen.
  }
}

function showResult(stored: Created, key: string): void {
  const sep = separate.checked;
  const link = wasm().buildLink(location.origin, stored.id, sep ? undefined : key);
  $<HTMLInputElement>("link").value = link;
  $<HTMLInputElement>("key").value = sep ? key : "";
  show($("key-row"), sep);
  const qr = $<HTMLImageElement>("qr");
  qr.removeAttribute("src");
  // The QR encoder is in the full module: it loads now, after the secret is stored.
  void full().then((m) => {
    if ($<HTMLInputElement>("link").value === link) qr.src = `data:image/svg+xml;base64,${btoa(m.qrSvg(link))}`;
  });
  state = { step: "result", secret: stored, status: "status.pending", poll: undefined };
  renderStatus();
  $<HTMLButtonElement>("delete").disabled = false;
  // Forget the content: the secret lives only on the server now.
  textArea.value = "";
  passphrase.value = "";
  files = [];
  renderFiles();
  show($("create"), false);
  show($("result"), true);
  $("result-heading").focus();
  state.poll = window.setInterval(() => void refreshStatus(), 15000);
}

function renderStatus(): void {
  if (state.step !== "result") return;
  const el = $("status");
  el.textContent = t(state.status);
  el.dataset.status = state.status.replace("status.", "");
}

/** Shows `status` for the secret `shown`, unless the page has moved on since it was asked. */
function settle(shown: PageState, status: Key): void {
  if (state !== shown || state.step !== "result") return;
  state.status = status;
  renderStatus();
  // Nothing more can happen to a secret that was read, revoked, destroyed or expired.
  if (status !== "status.pending" && status !== "status.error") {
    $<HTMLButtonElement>("delete").disabled = true;
    window.clearInterval(state.poll);
  }
}

async function refreshStatus(): Promise<void> {
  const shown = state;
  if (shown.step !== "result") return;
  let status: Key;
  try {
    const known: SecretStatus | undefined = await secretStatus(shown.secret);
    status = known ? `status.${known}` : "status.unknown";
  } catch {
    status = "status.error";
  }
  settle(shown, status);
}

async function deleteNow(): Promise<void> {
  const shown = state;
  if (shown.step !== "result") return;
  try {
    await revokeSecret(shown.secret);
  } catch {
    // Already read, expired or unreachable: the status says which.
    return refreshStatus();
  }
  settle(shown, "status.revoked");
}

function another(): void {
  if (state.step === "result") window.clearInterval(state.poll);
  state = { step: "form" };
  show($("result"), false);
  show($("create"), true);
  $("create-heading").focus();
}

function wire(): void {
  for (const r of document.querySelectorAll<HTMLInputElement>('input[name="kind"]')) r.addEventListener("change", showKind);
  fileInput.addEventListener("change", () => {
    addFiles(fileInput.files);
    fileInput.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    addFiles((e as DragEvent).dataTransfer?.files ?? null);
  });
  token.addEventListener("input", renderLimit);
  rememberToken.addEventListener("change", () => {
    if (!rememberToken.checked) rememberOrForgetToken();
  });
  ttlSelect.addEventListener("change", renderTtl);
  form.addEventListener("submit", (e) => void onSubmit(e));
  // Ctrl+Enter (Cmd+Enter on a Mac) sends from anywhere on the form, as on Hakanai v3's page;
  // in the text area, where Enter alone is a new line, it is the only way.
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && state.step === "form" && !$("create").hidden) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  const share = $<HTMLButtonElement>("share-link");
  show(share, typeof navigator.share === "function");
  share.addEventListener("click", () => void shareLink());
  const copyLink = $<HTMLButtonElement>("copy-link");
  copyLink.addEventListener("click", () => void copyText($<HTMLInputElement>("link").value, copyLink, "result.copyLink"));
  const copyKey = $<HTMLButtonElement>("copy-key");
  copyKey.addEventListener("click", () => void copyText($<HTMLInputElement>("key").value, copyKey, "result.copyKey"));
  $("refresh").addEventListener("click", () => void refreshStatus());
  $("delete").addEventListener("click", () => void deleteNow());
  $("another").addEventListener("click", another);
}

async function main(): Promise<void> {
  wire();
  showKind();
  config = await boot("seal");
  // Hakanai v3's rule: hidden on anonymous servers unless the operator or `?show_token` asks.
  const asked = new URLSearchParams(location.search).get("show_token");
  // An invite link (`/create#<token>`, Hakanai v3's form) carries a token: take it, and take it
  // out of the address bar and history.
  const invite = decodeURIComponent(location.hash.slice(1)).trim();
  if (invite) {
    token.value = invite;
    history.replaceState(null, "", location.pathname + location.search);
  }
  const remembered = invite ? null : rememberedToken();
  if (remembered) {
    token.value = remembered;
    rememberToken.checked = true;
  }
  const can = config.features?.restrictions;
  show($("countries-row"), can?.country === true);
  show($("asns-row"), can?.asn === true);
  show(
    tokenRow,
    config.show_token_input || !!invite || !!remembered || (asked !== null && asked !== "0" && asked !== "false"),
  );
  if (!config.allow_anonymous) {
    token.required = true;
    $("token-label").dataset.i18n = "create.token";
    tokenRow.classList.add("required");
    translatePage();
  }
  onLangChange(() => {
    if (!config) return;
    renderLimit();
    renderTtl();
    renderFiles();
    renderStatus();
  });
  renderLimit();
  renderTtl();
  renderFiles();
  ready();
}

void main();
