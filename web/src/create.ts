// The create page: text or files → envelope (encrypted here, chunk by chunk) → upload →
// link, QR code and the sender's controls.

import { Encryptor, SecretKeys, buildLink, encrypt, generateKey, qrSvg } from "hakanai-wasm";
import { $, OPTIONS, PublicConfig, boot, copyText, nextFrame, onLangChange, ready, show, translatePage } from "./common";
import { bundleParts, bundleTotal } from "./bundle";
import { Key, formatBytes, t } from "./i18n";

/** Plaintext is read from files in pieces of this size, so memory stays bounded. */
const PIECE = 4 * 1024 * 1024;
/** Envelope overhead allowance for the up-front size check (header, metadata, tags). */
const OVERHEAD_PER_MIB = 16;

let config: PublicConfig;
let files: File[] = [];
let busy = false;

interface Created {
  id: string;
  creatorToken: string;
}
let created: Created | undefined;
let statusKey: Key = "status.unknown";
let statusTimer: number | undefined;

const form = $<HTMLFormElement>("create-form");
const textArea = $<HTMLTextAreaElement>("text");
const fileInput = $<HTMLInputElement>("files");
const drop = $("drop");
const fileList = $<HTMLUListElement>("file-list");
const fileTotal = $("file-total");
const ttlSelect = $<HTMLSelectElement>("ttl");
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

function ttlLabel(s: number): string {
  if (s % 86400 === 0) return s === 86400 ? t("ttl.day") : t("ttl.days", { n: s / 86400 });
  if (s % 3600 === 0) return s === 3600 ? t("ttl.hour") : t("ttl.hours", { n: s / 3600 });
  if (s % 60 === 0) return t("ttl.minutes", { n: s / 60 });
  return t("ttl.seconds", { n: s });
}

function renderTtl(): void {
  const presets = [300, 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400].filter((s) => s <= config.max_ttl_seconds);
  for (const s of [config.default_ttl_seconds, config.max_ttl_seconds]) if (!presets.includes(s)) presets.push(s);
  presets.sort((a, b) => a - b);
  const selected = ttlSelect.value ? Number(ttlSelect.value) : config.default_ttl_seconds;
  ttlSelect.replaceChildren(
    ...presets.map((s) => {
      const o = document.createElement("option");
      o.value = String(s);
      o.textContent = ttlLabel(s);
      o.selected = s === selected;
      return o;
    }),
  );
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

function fail(message: string): void {
  error.textContent = message;
  show(error, true);
  error.focus();
}

function setBusy(on: boolean, message = ""): void {
  busy = on;
  submit.disabled = on;
  form.setAttribute("aria-busy", String(on));
  statusLine.textContent = message;
  show(progress, on);
}

function setProgress(key: Key, fraction: number): void {
  progress.value = fraction;
  statusLine.textContent = t(key, { percent: Math.floor(fraction * 100) });
}

/** Encrypts the chosen content into a Blob of envelope parts (never one big buffer). */
async function encryptContent(keys: SecretKeys): Promise<Blob> {
  if (kind() === "text") {
    const env = await encrypt(new TextEncoder().encode(textArea.value), keys, { kind: "text" }, OPTIONS);
    return new Blob([env as BlobPart]);
  }
  const bundle = files.length > 1;
  const total = bundle ? bundleTotal(files) : files[0].size;
  const metadata = bundle
    ? { kind: "bundle", size: total }
    : { kind: "file", name: files[0].name, mediaType: files[0].type || undefined, size: total };
  const enc = await Encryptor.create(keys, metadata, OPTIONS);
  const parts: BlobPart[] = [];
  let done = 0;
  const source = bundle ? bundleParts(files, PIECE) : fileSlices(files[0]);
  for await (const chunk of source) {
    const out = await enc.push(chunk);
    if (out.length) parts.push(out as BlobPart);
    done += chunk.length;
    setProgress("create.busy.encrypt", total ? done / total : 1);
  }
  parts.push((await enc.finish()) as BlobPart);
  enc.free();
  return new Blob(parts, { type: "application/octet-stream" });
}

async function* fileSlices(file: File): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < file.size; off += PIECE) {
    yield new Uint8Array(await file.slice(off, off + PIECE).arrayBuffer());
  }
}

interface UploadResult {
  status: number;
  body: string;
}

function upload(body: Blob, headers: Record<string, string>): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/secret");
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) setProgress("create.busy.upload", e.loaded / e.total);
    });
    xhr.addEventListener("load", () => resolve({ status: xhr.status, body: xhr.responseText }));
    xhr.addEventListener("error", () => reject(new Error("network")));
    xhr.send(body);
  });
}

function plainSize(): number {
  if (kind() === "text") return new TextEncoder().encode(textArea.value).length;
  return files.length > 1 ? bundleTotal(files) : (files[0]?.size ?? 0);
}

async function onSubmit(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  if (busy) return;
  show(error, false);
  const empty = kind() === "text" ? textArea.value.length === 0 : files.length === 0;
  if (empty) return fail(t("create.err.empty"));
  const size = plainSize();
  const estimate = size + 200 + Math.ceil(size / (1024 * 1024)) * OVERHEAD_PER_MIB;
  if (estimate > limit()) {
    return fail(t("create.err.tooLarge", { size: formatBytes(size), limit: formatBytes(limit()) }));
  }
  setBusy(true);
  let keys: SecretKeys | undefined;
  try {
    const pass = passphrase.value;
    if (pass) {
      statusLine.textContent = t("create.busy.kdf");
      await nextFrame();
    }
    keys = new SecretKeys(generateKey(), pass || undefined, {});
    const body = await encryptContent(keys);
    const headers: Record<string, string> = {
      "Content-Type": "application/octet-stream",
      "X-Secret-TTL": ttlSelect.value,
    };
    if (keys.serverHash) headers["X-Secret-Passphrase-Hash"] = keys.serverHash;
    if (token.value.trim()) headers["Authorization"] = `Bearer ${token.value.trim()}`;
    setProgress("create.busy.upload", 0);
    const res = await upload(body, headers);
    if (res.status === 401 || res.status === 403) return fail(t("create.err.token"));
    if (res.status === 413) {
      return fail(t("create.err.tooLarge", { size: formatBytes(body.size), limit: formatBytes(limit()) }));
    }
    if (res.status !== 200) return fail(t("create.err.server", { details: serverDetails(res) }));
    const { id, creator_token } = JSON.parse(res.body) as { id: string; creator_token: string };
    showResult(id, creator_token, keys.key);
  } catch (e) {
    fail(e instanceof Error && e.message === "network" ? t("create.err.network") : String(e));
  } finally {
    keys?.free();
    setBusy(false);
  }
}

function serverDetails(res: UploadResult): string {
  try {
    return (JSON.parse(res.body) as { details?: string }).details ?? String(res.status);
  } catch {
    return String(res.status);
  }
}

function showResult(id: string, creatorToken: string, key: string): void {
  const sep = separate.checked;
  const link = buildLink(location.origin, id, sep ? undefined : key);
  $<HTMLInputElement>("link").value = link;
  $<HTMLInputElement>("key").value = sep ? key : "";
  show($("key-row"), sep);
  $<HTMLImageElement>("qr").src = `data:image/svg+xml;base64,${btoa(qrSvg(link))}`;
  created = { id, creatorToken };
  statusKey = "status.pending";
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
  statusTimer = window.setInterval(() => void refreshStatus(), 15000);
}

function renderStatus(): void {
  const el = $("status");
  el.textContent = t(statusKey);
  el.dataset.status = statusKey.replace("status.", "");
}

async function refreshStatus(): Promise<void> {
  if (!created) return;
  try {
    const res = await fetch(`/api/v1/secret/${encodeURIComponent(created.id)}/status`, {
      headers: { "X-Creator-Token": created.creatorToken },
      cache: "no-store",
    });
    if (!res.ok) throw new Error(String(res.status));
    const { status } = (await res.json()) as { status: string };
    const known = ["pending", "read", "revoked", "destroyed", "expired"];
    statusKey = (known.includes(status) ? `status.${status}` : "status.unknown") as Key;
  } catch {
    statusKey = "status.error";
  }
  renderStatus();
  if (statusKey !== "status.pending" && statusKey !== "status.error") {
    $<HTMLButtonElement>("delete").disabled = true;
    window.clearInterval(statusTimer);
  }
}

async function deleteNow(): Promise<void> {
  if (!created) return;
  const res = await fetch(`/api/v1/secret/${encodeURIComponent(created.id)}`, {
    method: "DELETE",
    headers: { "X-Creator-Token": created.creatorToken },
  });
  if (res.status === 204) {
    statusKey = "status.revoked";
    renderStatus();
    $<HTMLButtonElement>("delete").disabled = true;
    window.clearInterval(statusTimer);
  } else {
    await refreshStatus();
  }
}

function another(): void {
  window.clearInterval(statusTimer);
  created = undefined;
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
  form.addEventListener("submit", (e) => void onSubmit(e));
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
  config = await boot();
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
    if (created) renderStatus();
  });
  renderLimit();
  renderTtl();
  renderFiles();
  ready();
}

void main();
