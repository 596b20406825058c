// The create page's options: reader restrictions (IP ranges everywhere; countries and ASNs
// where the server can check them), the expiry (1 hour by default, presets, a custom value),
// Ctrl/Cmd+Enter, the token remembered for the session, and Web Share of the link.
import { Page, Request } from "@playwright/test";
import { test, expect, openCreate, reveal } from "../fixtures";

const RESTRICT = "Restrict who can open it (optional)";

function isCreate(r: Request): boolean {
  return r.method() === "POST" && new URL(r.url()).pathname === "/api/v1/secret";
}

function isUploadOpen(r: Request): boolean {
  return r.method() === "POST" && new URL(r.url()).pathname === "/api/v1/upload";
}

/** Presses Create and returns the create request and the link the page shows. */
async function submit(page: Page): Promise<{ request: Request; link: string }> {
  const [request] = await Promise.all([
    page.waitForRequest(isCreate),
    page.getByRole("button", { name: "Create secret link" }).click(),
  ]);
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  return { request, link: await page.locator("#link").inputValue() };
}

test("restrictions: IP ranges typed on the page reach the API and decide who can read", async ({ page, newContext }) => {
  await openCreate(page);
  // Without --country-header / --asn-header only the IP field is offered.
  await page.getByText(RESTRICT).click();
  await expect(page.getByLabel("Allowed IP addresses or ranges")).toBeVisible();
  await expect(page.getByLabel("Allowed countries")).toBeHidden();
  await expect(page.getByLabel("Allowed networks (AS numbers)")).toBeHidden();
  await page.getByLabel("Secret text", { exact: true }).fill("for the office only");
  await page.getByLabel("Allowed IP addresses or ranges").fill("203.0.113.0/24, 2001:db8::1");
  const { request, link } = await submit(page);
  expect(request.headers()["x-secret-allowed-ips"]).toBe("203.0.113.0/24,2001:db8::1");

  // The browser is on loopback, a trusted proxy by default, so its X-Forwarded-For counts.
  const outside = await (await newContext()).newPage();
  await outside.setExtraHTTPHeaders({ "X-Forwarded-For": "198.51.100.9" });
  await reveal(outside, link);
  await expect(outside.locator("#failure-text")).toContainText("cannot be opened from here");

  const office = await (await newContext()).newPage();
  await office.setExtraHTTPHeaders({ "X-Forwarded-For": "203.0.113.77" });
  await reveal(office, link);
  await expect(office.locator("#secret-text")).toHaveValue("for the office only");
});

test("restrictions: a mistyped entry is named and nothing is sent", async ({ page }) => {
  await openCreate(page);
  let posted = false;
  page.on("request", (r) => (posted ||= isCreate(r) || isUploadOpen(r)));
  await page.getByLabel("Secret text", { exact: true }).fill("x");
  await page.getByText(RESTRICT).click();
  const ips = page.getByLabel("Allowed IP addresses or ranges");
  for (const bad of ["203.0.113.0/33", "300.1.2.3", "2001:db8::zz", "localhost"]) {
    await ips.fill(`198.51.100.1, ${bad}`);
    await page.getByRole("button", { name: "Create secret link" }).click();
    await expect(page.locator("#create-error")).toHaveText(
      `“${bad}” is not an IP address or range (such as 203.0.113.7 or 203.0.113.0/24).`,
    );
    await expect(ips).toHaveAttribute("aria-invalid", "true");
    await expect(ips).toBeFocused();
  }
  expect(posted).toBe(false);
  // German too.
  await page.getByLabel("Language").selectOption("de");
  await expect(page.locator("#create-error")).toContainText("ist keine IP-Adresse");
});

test("restrictions: countries and ASNs are offered when the server has their headers, and enforced", async ({ newContext, geoURL }) => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await page.goto(`${geoURL}/`);
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  const config = await (await page.request.get(`${geoURL}/config.json`)).json();
  expect(config.features.restrictions).toEqual({ country: true, asn: true });
  await page.getByText(RESTRICT).click();
  const countries = page.getByLabel("Allowed countries");
  const asns = page.getByLabel("Allowed networks (AS numbers)");
  await expect(countries).toBeVisible();
  await expect(asns).toBeVisible();
  await page.getByLabel("Secret text", { exact: true }).fill("for German AS64500 readers");

  await countries.fill("Germany");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.locator("#create-error")).toHaveText("“Germany” is not a two-letter country code (such as DE).");
  await countries.fill("de, at");
  await asns.fill("ASx");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.locator("#create-error")).toHaveText("“ASx” is not an AS number (such as 64500 or AS64500).");
  await asns.fill("AS64500");

  const { request, link } = await submit(page);
  expect(request.headers()["x-secret-allowed-countries"]).toBe("DE,AT");
  expect(request.headers()["x-secret-allowed-asns"]).toBe("64500");

  const elsewhere = await (await newContext()).newPage();
  await elsewhere.setExtraHTTPHeaders({ "x-country": "FR", "x-asn": "64500" });
  await reveal(elsewhere, link);
  await expect(elsewhere.locator("#failure-text")).toContainText("cannot be opened from here");

  const allowed = await (await newContext()).newPage();
  await allowed.setExtraHTTPHeaders({ "x-country": "DE", "x-asn": "64500" });
  await reveal(allowed, link);
  await expect(allowed.locator("#secret-text")).toHaveValue("for German AS64500 readers");
});

test("restrictions: a server that cannot check countries refuses with 501 and the page says why", async ({ page }) => {
  // A page whose config promised more than the server can do (e.g. changed since it loaded).
  await page.route("**/config.json", async (route) => {
    const res = await route.fetch();
    const config = await res.json();
    config.features = { ...config.features, restrictions: { country: true, asn: true } };
    await route.fulfill({ response: res, json: config });
  });
  await openCreate(page);
  await page.getByText(RESTRICT).click();
  await page.getByLabel("Allowed countries").fill("DE");
  await page.getByLabel("Secret text", { exact: true }).fill("x");
  const [response] = await Promise.all([
    page.waitForResponse((r) => isCreate(r.request())),
    page.getByRole("button", { name: "Create secret link" }).click(),
  ]);
  expect(response.status()).toBe(501);
  const message = "This server cannot check country or network (ASN) restrictions. Remove them and try again.";
  await expect(page.locator("#create-error")).toHaveText(message);

  // A file too large for one request opens a multi-request upload: refused the same way.
  await page.getByLabel("Allowed countries").fill("");
  await page.getByLabel("Allowed networks (AS numbers)").fill("64500");
  await page.getByLabel("Files", { exact: true }).check();
  await page.locator("#files").setInputFiles({ name: "big.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(5 * 1024 * 1024, 7) });
  const [open] = await Promise.all([
    page.waitForResponse((r) => isUploadOpen(r.request())),
    page.getByRole("button", { name: "Create secret link" }).click(),
  ]);
  expect(open.status()).toBe(501);
  const { read_token_hash, ...restrictions } = open.request().postDataJSON().restrictions;
  expect(restrictions).toEqual({ allowed_asns: [64500] });
  expect(read_token_hash).toMatch(/^[0-9a-f]{64}$/);
  await expect(page.locator("#create-error")).toHaveText(message);
});

test("expiry: 1 hour by default, a custom value in minutes, hours or days, at most the server's maximum", async ({ page }) => {
  await openCreate(page);
  const ttl = page.getByLabel("Expires after");
  await expect(ttl.locator("option:checked")).toHaveText("1 hour");
  await expect(page.locator("#ttl-custom")).toBeHidden();
  await page.getByLabel("Secret text", { exact: true }).fill("default expiry");
  let { request } = await submit(page);
  expect(request.headers()["x-secret-ttl"]).toBe("3600");

  await page.getByRole("button", { name: "Share another secret" }).click();
  await expect(ttl.locator("option:checked")).toHaveText("1 hour");
  await ttl.selectOption({ label: "Custom…" });
  await expect(page.locator("#ttl-max")).toHaveText("At most 7 days.");
  await page.getByLabel("Custom duration").fill("90");
  await page.getByLabel("Unit").selectOption({ label: "minutes" });
  await page.getByLabel("Secret text", { exact: true }).fill("ninety minutes");
  ({ request } = await submit(page));
  expect(request.headers()["x-secret-ttl"]).toBe("5400");

  await page.getByRole("button", { name: "Share another secret" }).click();
  await expect(ttl.locator("option:checked")).toHaveText("Custom…");
  await page.getByLabel("Secret text", { exact: true }).fill("too long");
  await page.getByLabel("Custom duration").fill("8");
  await page.getByLabel("Unit").selectOption({ label: "days" });
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.locator("#create-error")).toHaveText(
    "Enter a whole number of at least 1 for the custom expiry; this server allows at most 7 days.",
  );
  await expect(page.getByLabel("Custom duration")).toBeFocused();
  await page.getByLabel("Custom duration").fill("1.5");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.getByLabel("Custom duration")).toHaveAttribute("aria-invalid", "true");
  await page.getByLabel("Custom duration").fill("7");
  ({ request } = await submit(page));
  expect(request.headers()["x-secret-ttl"]).toBe(String(7 * 86400));
});

test("Ctrl+Enter sends from the text area, Cmd+Enter from another field", async ({ page }) => {
  await openCreate(page);
  const text = page.getByLabel("Secret text", { exact: true });
  await text.fill("sent by keyboard");
  await text.press("Control+Enter");
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  const link = await page.locator("#link").inputValue();

  await page.getByRole("button", { name: "Share another secret" }).click();
  await text.fill("second one");
  await page.getByLabel("Passphrase (optional)").press("Meta+Enter");
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  expect(await page.locator("#link").inputValue()).not.toBe(link);
});

test("token: remembered for the tab's session when asked (Hakanai v3's key), forgotten when unticked", async ({ newContext }) => {
  const base = process.env.HK_TOKEN_URL!;
  const token = process.env.HK_USER_TOKEN!;
  const page = await (await newContext()).newPage();
  await page.goto(`${base}/`);
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  const field = page.getByLabel("Access token", { exact: true });
  const remember = page.getByLabel("Remember the token for this session");
  await expect(remember).not.toBeChecked();
  await field.fill(token);
  await remember.check();
  await page.getByLabel("Secret text", { exact: true }).fill("remember me");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  const stored = () => page.evaluate(() => sessionStorage.getItem("hakanai-auth-token"));
  expect(await stored()).toBe(token);
  expect(await page.evaluate(() => localStorage.length)).toBe(0);

  // The next visit in the same tab finds it.
  await page.goto(`${base}/`);
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  await expect(field).toHaveValue(token);
  await expect(remember).toBeChecked();

  // Another tab (its own session storage) does not.
  const other = await page.context().newPage();
  await other.goto(`${base}/`);
  await expect(other.locator("html[data-ready=true]")).toHaveCount(1);
  await expect(other.getByLabel("Access token", { exact: true })).toHaveValue("");

  await remember.uncheck();
  expect(await stored()).toBeNull();
  await page.reload();
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  await expect(field).toHaveValue("");
  await expect(remember).not.toBeChecked();
});

test("Web Share: offered for the link only where the browser has it", async ({ page, newContext }) => {
  await openCreate(page);
  const native = await page.evaluate(() => typeof navigator.share === "function");
  await page.getByLabel("Secret text", { exact: true }).fill("no share sheet");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Share…" })).toHaveCount(native ? 1 : 0);

  // A browser with a share sheet (as on phones): the link goes to it.
  const ctx = await newContext();
  await ctx.addInitScript(() => {
    const w = window as unknown as { __shared: ShareData[] };
    w.__shared = [];
    Object.defineProperty(Navigator.prototype, "share", {
      configurable: true,
      value: async (data: ShareData) => void w.__shared.push(data),
    });
  });
  const phone = await ctx.newPage();
  await openCreate(phone);
  await phone.getByLabel("Secret text", { exact: true }).fill("to the share sheet");
  await phone.getByRole("button", { name: "Create secret link" }).click();
  await expect(phone.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  await phone.getByRole("button", { name: "Share…" }).click();
  const link = await phone.locator("#link").inputValue();
  await expect.poll(() => phone.evaluate(() => (window as unknown as { __shared: ShareData[] }).__shared)).toEqual([{ url: link }]);
});
