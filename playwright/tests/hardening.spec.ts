// The reveal page's hardening: received files are downloads of type application/octet-stream,
// never rendered here; file names lose bidi and zero-width characters (crypto-core's rule,
// through the wasm module); the key leaves the address bar as soon as the page has read it,
// whatever happens next; object URLs are revoked once used and when the page goes away; Web
// Share of what was received where the browser has it.
import { Page } from "@playwright/test";
import { readFileSync } from "node:fs";
import { test, expect, openCreate, reveal } from "../fixtures";

interface Payload {
  name: string;
  mimeType: string;
  buffer: Buffer;
}

/** Creates a file secret from in-memory files (names a file system might not take). */
async function createFiles(page: Page, files: Payload[]): Promise<string> {
  await openCreate(page);
  await page.getByLabel("Files", { exact: true }).check();
  await page.locator("#files").setInputFiles(files);
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  return page.locator("#link").inputValue();
}

/**
 * Records every object URL the page makes (with its Blob's type) and revokes; the page's CSP
 * (`connect-src 'self'`) keeps a test from simply fetching them.
 */
const WATCH_URLS = () => {
  const w = window as unknown as { __revoked: string[]; __types: Record<string, string> };
  w.__revoked = [];
  w.__types = {};
  const create = URL.createObjectURL.bind(URL);
  URL.createObjectURL = (obj: Blob | MediaSource) => {
    const url = create(obj);
    w.__types[url] = obj instanceof Blob ? obj.type : "media source";
    return url;
  };
  const revoke = URL.revokeObjectURL.bind(URL);
  URL.revokeObjectURL = (url: string) => {
    w.__revoked.push(url);
    revoke(url);
  };
};

const blobType = (page: Page, url: string) =>
  page.evaluate((u) => (window as unknown as { __types: Record<string, string> }).__types[u], url);

const revoked = (page: Page) => page.evaluate(() => (window as unknown as { __revoked: string[] }).__revoked);

test("a received HTML file is downloaded as application/octet-stream, never rendered, and its URL revoked", async ({ page, newContext }) => {
  const html = "<!doctype html><title>pwned</title><script>document.title='ran'</script><h1>rendered</h1>";
  const link = await createFiles(page, [{ name: "page.html", mimeType: "text/html", buffer: Buffer.from(html) }]);

  const ctx = await newContext();
  await ctx.addInitScript(WATCH_URLS);
  const reader = await ctx.newPage();
  await reveal(reader, link);
  const download = reader.getByRole("link", { name: /Download page\.html/ });
  await expect(download).toBeVisible();
  const href = (await download.getAttribute("href"))!;
  expect(href).toMatch(/^blob:/);
  // The Blob behind the link carries no media type of the sender's.
  expect(await blobType(reader, href)).toBe("application/octet-stream");

  const [file] = await Promise.all([reader.waitForEvent("download"), download.click()]);
  expect(file.suggestedFilename()).toBe("page.html");
  expect(readFileSync((await file.path())!, "utf8")).toBe(html);
  // Nothing was opened or rendered in our origin.
  expect(ctx.pages()).toHaveLength(1);
  expect(new URL(reader.url()).pathname).toMatch(/^\/s\//);
  expect(await reader.title()).not.toMatch(/pwned|ran/);
  await expect(reader.getByRole("heading", { name: "rendered" })).toHaveCount(0);

  // Once the download has it, the URL is revoked.
  await expect.poll(() => revoked(reader)).toContain(href);
  // Saving again still works, through a new URL (of the same neutral type).
  const [again] = await Promise.all([reader.waitForEvent("download"), download.click()]);
  expect(readFileSync((await again.path())!, "utf8")).toBe(html);
  const second = (await download.getAttribute("href"))!;
  expect(second).not.toBe(href);
  expect(await blobType(reader, second)).toBe("application/octet-stream");
  await expect.poll(() => revoked(reader)).toContain(second);
});

test("object URLs not yet used are revoked when the page goes away", async ({ page, newContext }) => {
  const link = await createFiles(page, [
    { name: "a.txt", mimeType: "text/plain", buffer: Buffer.from("first") },
    { name: "b.txt", mimeType: "text/plain", buffer: Buffer.from("second") },
  ]);
  const ctx = await newContext();
  await ctx.addInitScript(WATCH_URLS);
  const reader = await ctx.newPage();
  await reveal(reader, link);
  await expect(reader.locator("#file-links a")).toHaveCount(3);
  const hrefs = await reader.locator("#file-links a").evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href));
  expect(await revoked(reader)).toEqual([]);
  await reader.evaluate(() => window.dispatchEvent(new PageTransitionEvent("pagehide")));
  expect((await revoked(reader)).sort()).toEqual([...hrefs].sort());
});

test("file names lose bidi overrides, isolates, zero-width characters and the BOM", async ({ page, newContext }) => {
  const link = await createFiles(page, [
    { name: "invoice\u202Efdp.exe", mimeType: "application/octet-stream", buffer: Buffer.from("MZ") },
    { name: "\uFEFFnote\u2066\u200B.txt", mimeType: "text/plain", buffer: Buffer.from("note") },
  ]);
  const reader = await (await newContext()).newPage();
  await reveal(reader, link);
  await expect(reader.locator("#file-links a")).toHaveCount(3);
  const names = await reader.locator("#file-links a").evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).download));
  expect(names.slice(0, 2).sort()).toEqual(["invoicefdp.exe", "note.txt"]);
  const [file] = await Promise.all([
    reader.waitForEvent("download"),
    reader.getByRole("link", { name: /Download invoicefdp\.exe/ }).click(),
  ]);
  expect(file.suggestedFilename()).toBe("invoicefdp.exe");
  expect(await reader.locator("#file-links").textContent()).not.toMatch(/[\u200B-\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/);
});

test("the key leaves the address bar as soon as the page has read it, whether or not the reveal succeeds", async ({ page, newContext }) => {
  await openCreate(page);
  await page.getByLabel("Secret text", { exact: true }).fill("fragment gone");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  const link = await page.locator("#link").inputValue();

  const reader = await (await newContext()).newPage();
  await reader.goto(link);
  await expect(reader.locator("html[data-ready=true]")).toHaveCount(1);
  // Before Reveal is pressed: gone from the address bar, still usable by the page.
  expect(new URL(reader.url()).hash).toBe("");
  expect(new URL(reader.url()).pathname).toBe(new URL(link).pathname);
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#secret-text")).toHaveValue("fragment gone");

  // A secret that is not there, a second read, and a broken key: the fragment goes all the same.
  for (const [target, message] of [
    ["/s/AAAAAAAAAAAAAAAAAAAAAA#" + "A".repeat(43), "does not exist or has expired"],
    [link, "already been opened"],
    ["/s/AAAAAAAAAAAAAAAAAAAAAA#tooshort", "The link is broken"],
  ]) {
    const p = await (await newContext()).newPage();
    await p.goto(target);
    await expect(p.locator("html[data-ready=true]")).toHaveCount(1);
    expect(new URL(p.url()).hash, target).toBe("");
    if (await p.getByRole("button", { name: "Reveal secret" }).isVisible()) {
      await p.getByRole("button", { name: "Reveal secret" }).click();
    }
    await expect(p.locator("#failure-text")).toContainText(message);
    expect(new URL(p.url()).hash).toBe("");
  }
});

test("Web Share: received text and files go to the share sheet where the browser has one", async ({ page, newContext }) => {
  await openCreate(page);
  await page.getByLabel("Secret text", { exact: true }).fill("shared onwards");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  const textLink = await page.locator("#link").inputValue();
  const fileLink = await createFiles(page, [{ name: "photo.jpg", mimeType: "image/jpeg", buffer: Buffer.from("jpeg bytes") }]);

  // Without a share sheet (desktop Linux Chromium), no share buttons.
  const plain = await (await newContext()).newPage();
  await reveal(plain, textLink);
  await expect(plain.locator("#secret-text")).toHaveValue("shared onwards");
  const native = await plain.evaluate(() => typeof navigator.share === "function");
  await expect(plain.getByRole("button", { name: "Share…" })).toHaveCount(native ? 1 : 0);

  const ctx = await newContext();
  await ctx.addInitScript(() => {
    const w = window as unknown as { __shared: Array<{ text?: string; files?: Array<{ name: string; type: string; size: number }> }> };
    w.__shared = [];
    Object.defineProperty(Navigator.prototype, "share", {
      configurable: true,
      value: async (data: ShareData) =>
        void w.__shared.push({ text: data.text, files: data.files?.map((f) => ({ name: f.name, type: f.type, size: f.size })) }),
    });
    Object.defineProperty(Navigator.prototype, "canShare", { configurable: true, value: () => true });
  });
  const shared = (p: Page) => p.evaluate(() => (window as unknown as { __shared: unknown[] }).__shared);
  const phone = await ctx.newPage();
  await phone.goto(fileLink);
  await phone.getByRole("button", { name: "Reveal secret" }).click();
  await phone.getByRole("button", { name: "Share photo.jpg" }).click();
  await expect
    .poll(() => shared(phone))
    .toEqual([{ files: [{ name: "photo.jpg", type: "application/octet-stream", size: "jpeg bytes".length }] }]);
  // Text: only a link that was not read yet works, so make another.
  await openCreate(page);
  await page.getByLabel("Secret text", { exact: true }).fill("text to share");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  const phoneText = await ctx.newPage();
  await reveal(phoneText, await page.locator("#link").inputValue());
  await expect(phoneText.locator("#secret-text")).toHaveValue("text to share");
  await phoneText.getByRole("button", { name: "Share…" }).click();
  await expect.poll(() => shared(phoneText)).toEqual([{ text: "text to share" }]);
});
