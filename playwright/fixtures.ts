// Shared fixtures: the project options (`store`, `hideSubtle`), fresh browser contexts
// configured like the project, and helpers for creating and revealing secrets.
import { test as base, expect, Browser, BrowserContext, Page, TestInfo } from "@playwright/test";
import { createHash, hkdfSync } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface Options {
  store: "embedded" | "redis";
  hideSubtle: boolean;
}

interface Fixtures {
  baseURL: string;
  /** A new, isolated browser context (own storage), like another person's browser. */
  newContext: (options?: { locale?: string; colorScheme?: "light" | "dark" }) => Promise<BrowserContext>;
  serverLog: () => string;
  /** The project's store behind a server with --country-header x-country --asn-header x-asn. */
  geoURL: string;
}

/** Hides WebCrypto so the page must fall back to the pure-wasm backend. */
const HIDE_SUBTLE = `
  delete Crypto.prototype.subtle;
  Object.defineProperty(globalThis, "isSecureContext", { value: false });
`;

/** Collects the page's reports of strings it lacks (`t` in web/src/i18n.ts logs them). */
function watchStrings(context: BrowserContext): string[] {
  const missing: string[] = [];
  context.on("console", (m) => {
    if (m.text().startsWith("i18n: missing")) missing.push(m.text());
  });
  return missing;
}

export const test = base.extend<Options & Fixtures>({
  store: ["embedded", { option: true }],
  hideSubtle: [false, { option: true }],
  baseURL: async ({ store }, use) => {
    const url = store === "redis" ? process.env.HK_REDIS_URL : process.env.HK_EMBEDDED_URL;
    if (!url) throw new Error("servers not started (global-setup)");
    await use(url);
  },
  geoURL: async ({ store }, use) => {
    const url = store === "redis" ? process.env.HK_GEO_REDIS_URL : process.env.HK_GEO_EMBEDDED_URL;
    if (!url) throw new Error("servers not started (global-setup)");
    await use(url);
  },
  context: async ({ context, hideSubtle }, use) => {
    if (hideSubtle) await context.addInitScript(HIDE_SUBTLE);
    const missing = watchStrings(context);
    await use(context);
    expect(missing, "strings a page used without importing their group (web/src/i18n.ts)").toEqual([]);
  },
  newContext: async ({ browser, baseURL, hideSubtle }, use) => {
    const made: BrowserContext[] = [];
    const missing: string[][] = [];
    await use(async (options = {}) => {
      const ctx = await browser.newContext({ baseURL, acceptDownloads: true, ...options });
      if (hideSubtle) await ctx.addInitScript(HIDE_SUBTLE);
      missing.push(watchStrings(ctx));
      made.push(ctx);
      return ctx;
    });
    for (const c of made) await c.close();
    expect(missing.flat(), "strings a page used without importing their group (web/src/i18n.ts)").toEqual([]);
  },
  serverLog: async ({ store }, use) => {
    const path = store === "redis" ? process.env.HK_LOG_SERVER_REDIS : process.env.HK_LOG_SERVER_EMBEDDED;
    await use(() => readFileSync(path!, "utf8"));
  },
});

export { expect };

export async function openCreate(page: Page): Promise<void> {
  await page.goto("/");
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
}

export interface CreateOptions {
  text?: string;
  files?: string[];
  passphrase?: string;
  separate?: boolean;
  /** Runs right after Create is pressed (e.g. to watch the progress bar). */
  whileBusy?: (page: Page) => Promise<void>;
}

/** Fills the create form, submits and returns the link (and key, in separate-key mode). */
export async function createSecret(page: Page, o: CreateOptions): Promise<{ link: string; key: string }> {
  await openCreate(page);
  if (o.files) {
    await page.getByLabel("Files", { exact: true }).check();
    await page.locator("#files").setInputFiles(o.files);
  } else {
    await page.getByLabel("Secret text", { exact: true }).fill(o.text ?? "");
  }
  if (o.passphrase) await page.getByLabel("Passphrase (optional)").fill(o.passphrase);
  if (o.separate) await page.getByLabel("Show link and key separately").check();
  await page.getByRole("button", { name: "Create secret link" }).click();
  if (o.whileBusy) await o.whileBusy(page);
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible({ timeout: 90_000 });
  const link = await page.locator("#link").inputValue();
  const key = o.separate ? await page.locator("#key").inputValue() : new URL(link).hash.slice(1);
  return { link, key };
}

/** Opens the link in `page`, presses Reveal and waits for the outcome section. */
export async function reveal(page: Page, link: string): Promise<void> {
  await page.goto(link);
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  await page.getByRole("button", { name: "Reveal secret" }).click();
}

/**
 * A key's read token as docs/FORMAT.md § Read token defines it (HKDF-SHA256, salt
 * "hakanai/v1", info "read token"), computed here independently of crypto-core: what a reader
 * sends in X-Secret-Read-Token.
 */
export function readTokenOf(key: string): string {
  const ikm = Buffer.from(key.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  return Buffer.from(hkdfSync("sha256", ikm, "hakanai/v1", "read token", 32)).toString("hex");
}

export function sha256(data: Buffer | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export async function downloadHash(page: Page, name: string | RegExp): Promise<{ hash: string; file: string }> {
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name }).click()]);
  const path = await download.path();
  return { hash: sha256(readFileSync(path)), file: download.suggestedFilename() };
}

/** Saves a full-page screenshot under test-results/screenshots/. */
export async function screenshot(page: Page, info: TestInfo, name: string): Promise<void> {
  const dir = join(__dirname, "..", "test-results", "screenshots");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${info.project.name}-${name}.png`), fullPage: true });
}

