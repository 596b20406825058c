// Hakanai v3's other pages in our design: /get (paste a link, or an id and its key), /share
// (clipboard JSON for the iOS Shortcut; the installed app's share target), /one-time-token
// (invite links), and the app manifest with its icons.
import { Page } from "@playwright/test";
import { test, expect, createSecret, downloadHash, readTokenOf, sha256 } from "../fixtures";
import { oldSend } from "../oracle";

async function openGet(page: Page, base = ""): Promise<void> {
  await page.goto(`${base}/get`);
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
}

test("/get: a pasted link opens the secret once", async ({ page, newContext }) => {
  const secret = `pasted ${Date.now()} – äöü`;
  const { link } = await createSecret(page, { text: secret });
  const reader = await (await newContext()).newPage();
  await openGet(reader);
  await reader.getByLabel("Link or secret id").fill(link);
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#secret-text")).toHaveValue(secret);

  // A second time the secret is gone.
  await openGet(reader);
  await reader.getByLabel("Link or secret id").fill(link);
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#failure")).toHaveAttribute("data-kind", "gone");
});

test("/get: an id with the key and the passphrase given separately", async ({ page, newContext }) => {
  const { link, key } = await createSecret(page, { text: "apart", separate: true, passphrase: "two words" });
  const id = new URL(link).pathname.split("/").pop()!;
  const reader = await (await newContext()).newPage();
  await openGet(reader);
  await reader.getByLabel("Link or secret id").fill(id);
  await reader.getByLabel("Key (if not in the link)").fill(key);
  await reader.getByLabel("Passphrase (if the secret has one)").fill("two words");
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#secret-text")).toHaveValue("apart");
});

test("/get: a link without a key, and no key typed, says what is missing and reads nothing", async ({ page, newContext, request, baseURL }) => {
  const { link, key } = await createSecret(page, { text: "keep me", separate: true });
  const reader = await (await newContext()).newPage();
  await openGet(reader);
  await reader.getByLabel("Link or secret id").fill("not a link/at all");
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#reveal-error")).toHaveAttribute("data-kind", "link");
  await reader.getByLabel("Link or secret id").fill(link);
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#reveal-error")).toContainText("key");
  // Nothing was read: the secret is still there for the key's holder.
  const id = new URL(link).pathname.split("/").pop()!;
  const read = await request.get(`${baseURL}/api/v1/secret/${id}`, { headers: { "X-Secret-Read-Token": readTokenOf(key) } });
  expect(read.status()).toBe(200);
});

test("/get: a Hakanai v3 link (ULID, #key:hash) opens", async ({ page, baseURL }) => {
  const link = oldSend(baseURL, [], "made by hakanai v3");
  expect(link).toMatch(/\/s\/[0-9A-Z]{26}#[A-Za-z0-9_-]{43}:[A-Za-z0-9_-]{22}$/);
  await openGet(page);
  await page.getByLabel("Link or secret id").fill(link);
  await page.getByRole("button", { name: "Reveal secret" }).click();
  await expect(page.locator("#secret-text")).toHaveValue("made by hakanai v3");
});

test("/get: in German", async ({ newContext }) => {
  const page = await (await newContext({ locale: "de-DE" })).newPage();
  await openGet(page);
  await expect(page.getByRole("heading", { name: "Ein Geheimnis öffnen" })).toBeVisible();
  await expect(page.getByLabel("Link oder Geheimnis-ID")).toBeVisible();
});

async function shareFromClipboard(page: Page, json: unknown): Promise<void> {
  await page.goto("/share");
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  await page.evaluate((text) => navigator.clipboard.writeText(text), typeof json === "string" ? json : JSON.stringify(json));
  await page.getByRole("button", { name: "Read clipboard" }).click();
}

test("/share: clipboard JSON with text becomes a secret, and the link goes back to the clipboard", async ({ context, page, baseURL, newContext }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseURL });
  const secret = `from a shortcut ${Date.now()} 🔑`;
  await shareFromClipboard(page, { data: Buffer.from(secret).toString("base64"), ttl: 300 });
  await expect(page.getByRole("heading", { name: "Ready to share" })).toBeVisible();
  await expect(page.locator("#content-kind")).toHaveText("Text");
  await expect(page.locator("#ttl")).toHaveValue("300");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  const link = await page.locator("#link").inputValue();
  expect(link).toMatch(/\/s\/[0-9A-Z]{26}#[A-Za-z0-9_-]{43}$/);
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);
  const reader = await (await newContext()).newPage();
  await reader.goto(link);
  await expect(reader.locator("html[data-ready=true]")).toHaveCount(1);
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#secret-text")).toHaveValue(secret);
});

test("/share: clipboard JSON with a file name becomes a file", async ({ context, page, baseURL, newContext }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseURL });
  const bytes = Buffer.from([0, 1, 2, 3, 250, 251, 252, 10]);
  await shareFromClipboard(page, { data: bytes.toString("base64"), filename: "../report.bin" });
  await expect(page.locator("#content-kind")).toHaveText("File");
  await expect(page.locator("#content-filename")).toHaveText("report.bin");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  const link = await page.locator("#link").inputValue();
  const reader = await (await newContext()).newPage();
  await reader.goto(link);
  await expect(reader.locator("html[data-ready=true]")).toHaveCount(1);
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  const got = await downloadHash(reader, /report\.bin/);
  expect(got.file).toBe("report.bin");
  expect(got.hash).toBe(sha256(bytes));
});

test("/share: what is not Hakanai's JSON is refused with a reason", async ({ context, page, baseURL }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseURL });
  await shareFromClipboard(page, "just some text");
  await expect(page.locator("#share-error")).toContainText("valid JSON");
  await page.evaluate(() => navigator.clipboard.writeText(JSON.stringify({ filename: "x" })));
  await page.getByRole("button", { name: "Read clipboard" }).click();
  await expect(page.locator("#share-error")).toContainText('"data"');
  await page.evaluate(() => navigator.clipboard.writeText(JSON.stringify({ data: "eA==", ttl: -5 })));
  await page.getByRole("button", { name: "Read clipboard" }).click();
  await expect(page.locator("#share-error")).toContainText('"ttl"');
});

test("/share: the share target's POST is kept by the service worker, never sent", async ({ page, newContext }) => {
  await page.goto("/share");
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  // Controlled from the next load on.
  await page.reload();
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
  const answered = page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/share");
  // What the OS share sheet does: a multipart POST to the manifest's action.
  await page.evaluate(() => {
    const form = document.createElement("form");
    form.method = "POST";
    form.action = "/share";
    form.enctype = "multipart/form-data";
    const text = document.createElement("input");
    text.name = "text";
    text.value = "shared from another app";
    form.append(text);
    document.body.append(form);
    form.submit();
  });
  expect((await answered).fromServiceWorker()).toBe(true);
  await expect(page.getByRole("heading", { name: "Ready to share" })).toBeVisible();
  expect(new URL(page.url()).search).toBe("");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  const link = await page.locator("#link").inputValue();
  const reader = await (await newContext()).newPage();
  await reader.goto(link);
  await expect(reader.locator("html[data-ready=true]")).toHaveCount(1);
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#secret-text")).toHaveValue("shared from another app");
});

test("/one-time-token: mint an invite, follow it, create once", async ({ newContext, request }) => {
  const base = process.env.HK_TOKEN_URL!;
  const ctx = await newContext();
  const page = await ctx.newPage();
  await page.goto(`${base}/one-time-token`);
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  await page.getByLabel("Your access token").fill("not-a-token");
  await page.getByRole("button", { name: "Create invite link" }).click();
  await expect(page.locator("#ott-error")).toContainText("may not create invitations");
  await page.getByLabel("Your access token").fill(process.env.HK_USER_TOKEN!);
  await page.getByRole("button", { name: "Create invite link" }).click();
  await expect(page.getByRole("heading", { name: "Invite links" })).toBeVisible();
  const invite = await page.getByLabel("Invite link 1").inputValue();
  expect(invite).toMatch(new RegExp(`^${base}/create#.+`));
  const token = decodeURIComponent(new URL(invite).hash.slice(1));

  const guest = await (await newContext()).newPage();
  await guest.goto(invite);
  await expect(guest.locator("html[data-ready=true]")).toHaveCount(1);
  await expect(guest.getByLabel("Access token", { exact: true })).toHaveValue(token);
  await guest.getByLabel("Secret text", { exact: true }).fill("invited");
  await guest.getByRole("button", { name: "Create secret link" }).click();
  await expect(guest.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  const again = await request.post(`${base}/api/v1/secret`, {
    headers: { Authorization: `Bearer ${token}` },
    data: { data: "eA==" },
  });
  expect(again.status()).toBe(403);
});

test("manifest: installable app with a share target, linked from the pages with its icons", async ({ page, request, baseURL }) => {
  for (const path of ["/", "/get", "/share", "/one-time-token"]) {
    await page.goto(path);
    await expect(page.locator('link[rel="manifest"]')).toHaveAttribute("href", "/manifest.json");
    await expect(page.locator('link[rel="icon"]')).toHaveAttribute("href", "/icon.svg");
  }
  const res = await request.get(`${baseURL}/manifest.json`);
  expect(res.status()).toBe(200);
  const m = await res.json();
  expect(m).toMatchObject({ name: "Hakanai", start_url: "/", scope: "/", display: "standalone" });
  expect(m.share_target).toMatchObject({ action: "/share", method: "POST", enctype: "multipart/form-data" });
  for (const icon of m.icons as Array<{ src: string; type: string }>) {
    const r = await request.get(`${baseURL}${icon.src}`);
    expect(r.status()).toBe(200);
    expect(r.headers()["content-type"]).toBe(icon.type);
  }
  for (const svg of ["/logo.svg", "/banner.svg"]) {
    expect((await request.get(`${baseURL}${svg}`)).headers()["content-type"]).toBe("image/svg+xml");
  }
  // The brand image in the header is the (replaceable) logo.
  await page.goto("/get");
  await expect(page.locator("header img.logo")).toHaveAttribute("src", "/logo.svg");
});

test("custom assets: a custom style.css is added after ours, a custom logo replaces ours; robots.txt", async ({ page, request, geoURL, baseURL }) => {
  // The geo server runs with --custom-assets-dir playwright/custom-assets (global-setup).
  await page.goto(`${geoURL}/`);
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  const footer = page.locator("footer");
  // The custom rule applies …
  await expect(footer).toHaveCSS("outline-color", "rgb(1, 2, 3)");
  // … and ours still do: the same element on the plain server looks the same otherwise.
  const ours = await (await request.get(`${baseURL}/style.css`)).text();
  const custom = await (await request.get(`${geoURL}/style.css`)).text();
  expect(custom.startsWith(ours.trimEnd()) || custom.includes(ours.trim())).toBe(true);
  expect(custom).toContain("rgb(1, 2, 3)");
  expect(ours).not.toContain("rgb(1, 2, 3)");
  const primaryOurs = await page.evaluate(() => getComputedStyle(document.querySelector("button.primary")!).backgroundColor);
  await page.goto(`${baseURL}/`);
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  expect(await page.evaluate(() => getComputedStyle(document.querySelector("button.primary")!).backgroundColor)).toBe(primaryOurs);

  const logo = await request.get(`${geoURL}/logo.svg`);
  expect(logo.headers()["content-type"]).toBe("image/svg+xml");
  expect(await logo.text()).toContain('data-custom-logo="playwright"');
  expect(await (await request.get(`${baseURL}/logo.svg`)).text()).not.toContain("data-custom-logo");

  const robots = await request.get(`${baseURL}/robots.txt`);
  expect(robots.status()).toBe(200);
  expect(robots.headers()["content-type"]).toMatch(/^text\/plain/);
  expect(await robots.text()).toMatch(/^Disallow: \/$/m);
});
