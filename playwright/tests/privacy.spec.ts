import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Request, Route } from "@playwright/test";
import { test, expect, createSecret, reveal } from "../fixtures";

/** base64url text form → the 32 raw key bytes. */
function keyBytes(key: string): Buffer {
  return Buffer.from(key.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}

interface Seen {
  url: string;
  headers: string;
  body: Buffer;
}

async function record(req: Request, into: Seen[]): Promise<void> {
  into.push({
    url: req.url(),
    headers: JSON.stringify(await req.allHeaders()),
    body: req.postDataBuffer() ?? Buffer.alloc(0),
  });
}

/** Keeps a copy of every XMLHttpRequest body (Playwright does not expose Blob bodies). */
const CAPTURE_XHR = `
  window.__bodies = [];
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    window.__bodies.push(body);
    return send.call(this, body);
  };
`;

// docs/FORMAT.md § Read token: what the page stores answers a request with the id alone (a
// proxy log, a chat unfurler) as an unknown id, consuming nothing; the page's own reader sends
// the token derived from the key and reads it once, and only it is told it was read.
test("the id alone reads nothing: not the secret, not a passphrase attempt, not 'already read'", async ({ page, newContext, request }) => {
  const passphrase = "read-token-" + Date.now();
  const { link } = await createSecret(page, { text: "locked by the key", passphrase });
  const id = new URL(link).pathname.split("/").pop()!;
  const probes: Record<string, string>[] = [{}, { "X-Secret-Passphrase": "wrong" }, { "X-Secret-Read-Token": "0".repeat(64) }];
  for (const headers of probes) {
    const res = await request.get(`/api/v1/secret/${id}`, { headers });
    expect(res.status()).toBe(404);
    expect((await res.json()).error).toBe("not_found");
  }
  const ctx = await newContext();
  const reader = await ctx.newPage();
  await reveal(reader, link);
  await reader.getByLabel("Passphrase", { exact: true }).fill(passphrase);
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#secret-text")).toHaveValue("locked by the key");
  // Read: the id alone still looks unknown, while the link's holder is told it was read.
  expect((await request.get(`/api/v1/secret/${id}`)).status()).toBe(404);
  const again = await ctx.newPage();
  await reveal(again, link);
  await expect(again.getByText(/already been opened/i).first()).toBeVisible();
});

test("zero knowledge: no request and no server log line carries the key or passphrase", async ({ page, newContext, serverLog }) => {
  const seen: Seen[] = [];
  page.context().on("request", (r) => void record(r, seen));
  await page.addInitScript(CAPTURE_XHR);
  const passphrase = "zk-passphrase-" + Date.now();
  const { link, key } = await createSecret(page, { text: "zero knowledge " + Date.now(), passphrase });

  const ctx = await newContext();
  ctx.on("request", (r) => void record(r, seen));
  const reader = await ctx.newPage();
  const envelopes: Buffer[] = [];
  // Pass the read through the test to keep a copy of the envelope the server returns.
  await reader.route("**/api/v1/secret/*", async (route) => {
    const response = await route.fetch();
    const body = await response.body();
    if (response.status() === 200) envelopes.push(body);
    await route.fulfill({ response, body });
  });
  await reveal(reader, link);
  await reader.getByLabel("Passphrase", { exact: true }).fill(passphrase);
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#secret-text")).toHaveValue(/^zero knowledge/);

  // The create page's status check and delete also talk to the server.
  await page.getByRole("button", { name: "Check status" }).click();
  await expect(page.locator("#status")).toHaveText("Read");

  const raw = keyBytes(key);
  expect(raw.length).toBe(32);
  expect(seen.length).toBeGreaterThan(5);
  // The upload body (a Blob, captured in the page) and the envelope that came back.
  const uploaded = await page.evaluate(async () => {
    const w = window as unknown as { __bodies: Array<Blob | string> };
    return Promise.all(
      w.__bodies.map(async (b) => Array.from(new Uint8Array(await new Blob([b]).arrayBuffer()))),
    );
  });
  expect(uploaded.length).toBe(1);
  expect(envelopes.length).toBe(1);
  expect(Buffer.from(uploaded[0]).equals(envelopes[0])).toBe(true);
  seen.push({ url: "upload body", headers: "", body: Buffer.from(uploaded[0]) });
  for (const s of seen) {
    for (const needle of [key, passphrase]) {
      expect(s.url, s.url).not.toContain(needle);
      expect(s.headers, s.url).not.toContain(needle);
      expect(s.body.includes(Buffer.from(needle)), s.url).toBe(false);
    }
    expect(s.body.includes(raw), s.url).toBe(false);
    // No referrer at all, so not even the page URL travels.
    if (s.headers) expect(JSON.parse(s.headers).referer ?? "", s.url).toBe("");
  }
  const log = serverLog();
  expect(log.length).toBeGreaterThan(0);
  expect(log).not.toContain(key);
  expect(log).not.toContain(passphrase);
});

test("zero knowledge, chunked: a 9 MiB file goes up in chunks that carry only ciphertext", async ({ page, newContext, serverLog }, info) => {
  const content = randomBytes(9 * 1024 * 1024);
  const path = join(mkdtempSync(join(tmpdir(), "hakanai-zk-")), `zk-${info.project.name}.bin`);
  writeFileSync(path, content);
  const seen: Seen[] = [];
  page.context().on("request", (r) => void record(r, seen));
  await page.addInitScript(CAPTURE_XHR);
  const passphrase = "zk-chunked-" + Date.now();
  const { link, key } = await createSecret(page, { files: [path], passphrase });

  const reader = await (await newContext()).newPage();
  const envelopes: Buffer[] = [];
  await reader.route("**/api/v1/secret/*", async (route) => {
    const response = await route.fetch();
    const body = await response.body();
    if (response.status() === 200) envelopes.push(body);
    await route.fulfill({ response, body });
  });
  await reveal(reader, link);
  await reader.getByLabel("Passphrase", { exact: true }).fill(passphrase);
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.getByRole("heading", { name: "Files" })).toBeVisible();

  // Start (JSON), three chunks, finish (no body): the chunks are the envelope, in order.
  // Base64 through a data: URL: a plain array of 9 M numbers would crawl over the protocol.
  const encoded = await page.evaluate(async () => {
    const w = window as unknown as { __bodies: Array<Blob | string | null> };
    const toBase64 = (blob: Blob) =>
      new Promise<string>((resolve) => {
        const reader = new FileReader();
        reader.onload = () => resolve(String(reader.result).split(",")[1] ?? "");
        reader.readAsDataURL(blob);
      });
    return Promise.all(w.__bodies.map((b) => toBase64(new Blob(b === null ? [] : [b]))));
  });
  const bodies = encoded.map((b) => Buffer.from(b, "base64"));
  expect(bodies.length).toBe(5);
  const chunks = bodies.slice(1, 4);
  expect(envelopes.length).toBe(1);
  expect(Buffer.concat(chunks).equals(envelopes[0])).toBe(true);
  const raw = keyBytes(key);
  const sample = content.subarray(1000, 1064);
  for (const [i, body] of bodies.entries()) {
    for (const needle of [Buffer.from(key), Buffer.from(passphrase), raw, sample]) {
      expect(body.includes(needle), `body ${i}`).toBe(false);
    }
  }
  for (const s of seen) {
    expect(s.url).not.toContain(key);
    expect(s.headers, s.url).not.toContain(key);
    expect(s.headers, s.url).not.toContain(passphrase);
  }
  const log = serverLog();
  expect(log).not.toContain(key);
  expect(log).not.toContain(passphrase);
});

test("link previews: a plain GET of /s/{id} and a page load without Reveal leave the secret readable", async ({ page, newContext, request }) => {
  const { link } = await createSecret(page, { text: "still here" });
  const url = new URL(link);
  const pathOnly = `${url.origin}${url.pathname}`;
  for (const ua of ["Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "WhatsApp/2.23", "Mozilla/5.0"]) {
    const res = await request.get(pathOnly, { headers: { "User-Agent": ua } });
    expect(res.status()).toBe(200);
    expect(res.headers()["content-type"]).toContain("text/html");
  }
  // A browser that loads the page (even with the key) but does not press Reveal.
  const bystander = await (await newContext()).newPage();
  const apiCalls: string[] = [];
  bystander.on("request", (r) => {
    if (r.url().includes("/api/")) apiCalls.push(r.url());
  });
  await bystander.goto(link);
  await expect(bystander.locator("html[data-ready=true]")).toHaveCount(1);
  // "networkidle": no request for 500 ms after everything the page started on load settled.
  await bystander.waitForLoadState("networkidle");
  expect(apiCalls).toEqual([]);
  await bystander.close();

  await page.getByRole("button", { name: "Check status" }).click();
  await expect(page.locator("#status")).toHaveText("Not read yet");
  const reader = await (await newContext()).newPage();
  await reveal(reader, link);
  await expect(reader.locator("#secret-text")).toHaveValue("still here");
});

test("before the script is ready, Reveal and Create cannot submit the form natively (the key would be lost)", async ({ newContext }) => {
  const page = await (await newContext()).newPage();
  // Holds the page scripts back, as a slow connection would, until the test lets them load.
  const held: Route[] = [];
  await page.route(/\/(reveal|create)\.js$/, (route) => {
    held.push(route);
  });
  const navigations: string[] = [];
  page.on("request", (r) => {
    if (r.isNavigationRequest()) navigations.push(r.url());
  });
  // A native submission would replace the document in a task the click queues, before the
  // script, released only afterwards, can run: so this document becoming ready, with no
  // navigation seen, proves no submission happened (no fixed wait needed).
  const releaseScriptAndWaitReady = async () => {
    await expect.poll(() => held.length).toBeGreaterThan(0);
    for (const route of held.splice(0)) await route.continue();
    await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  };

  const fragment = "#" + "A".repeat(43);
  await page.goto("/s/AAAAAAAAAAAAAAAAAAAAAA" + fragment, { waitUntil: "commit" });
  const revealButton = page.locator("#reveal");
  await expect(revealButton).toBeDisabled();
  const beforeReveal = navigations.length;
  await revealButton.click({ force: true });
  await releaseScriptAndWaitReady();
  expect(navigations.length).toBe(beforeReveal);
  // The page itself took the key out of the address bar once it had read it: it holds it, so
  // it does not ask for one.
  expect(new URL(page.url()).hash).toBe("");
  expect(new URL(page.url()).search).toBe("");
  await expect(page.locator("#key-row")).toBeHidden();

  await page.goto("/", { waitUntil: "commit" });
  await expect(page.locator("#submit")).toBeDisabled();
  const typed = "typed before the page was ready";
  await page.locator("#text").fill(typed);
  const beforeCreate = navigations.length;
  // Enter in a single-line field is the browser's implicit submission.
  await page.locator("#token").press("Enter");
  await page.locator("#submit").click({ force: true });
  await releaseScriptAndWaitReady();
  expect(navigations.length).toBe(beforeCreate);
  expect(new URL(page.url()).search).toBe("");
  expect(new URL(page.url()).pathname).toBe("/");
  await expect(page.locator("#text")).toHaveValue(typed);
});
