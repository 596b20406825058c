import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, expect, createSecret, reveal, screenshot, sha256, downloadHash } from "../fixtures";

let dir: string;
test.beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "hakanai-pw-"));
});
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, data: Buffer): { path: string; hash: string } {
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, hash: sha256(data) };
}

test("files: a 50 MiB random file comes out byte-identical", async ({ page, newContext }, info) => {
  test.setTimeout(240_000);
  const big = file(`big-${info.project.name}.bin`, randomBytes(50 * 1024 * 1024));
  // When the file's pieces are read and when each chunk leaves, on the page's own clock.
  await page.addInitScript(() => {
    const w = window as unknown as { __reads: number[]; __patches: number[] };
    w.__reads = [];
    w.__patches = [];
    const slice = Blob.prototype.slice;
    Blob.prototype.slice = function (this: Blob, ...args: Parameters<Blob["slice"]>) {
      if (this instanceof File) w.__reads.push(performance.now());
      return slice.apply(this, args);
    };
    const open = XMLHttpRequest.prototype.open;
    XMLHttpRequest.prototype.open = function (this: XMLHttpRequest & { __method?: string }, ...args: unknown[]) {
      this.__method = String(args[0]);
      return (open as (...a: unknown[]) => void).apply(this, args);
    };
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (this: XMLHttpRequest & { __method?: string }, body) {
      if (this.__method === "PATCH") w.__patches.push(performance.now());
      return send.call(this, body);
    };
  });
  const offsets: number[] = [];
  page.on("response", async (r) => {
    if (r.request().method() === "PATCH") offsets.push(((await r.json()) as { offset: number }).offset);
  });
  const { link } = await createSecret(page, {
    files: [big.path],
    whileBusy: async (p) => {
      await expect(p.locator("#progress")).toBeVisible();
      await expect(p.locator("#busy")).toContainText(/Encrypting and uploading… \d+%/);
    },
  });
  // Chunks of at most 4 MiB, stored one after another, adding up to the whole envelope.
  const chunk = 4 * 1024 * 1024;
  // The response handlers read the bodies asynchronously.
  await expect.poll(() => offsets.length).toBe(13);
  offsets.sort((a, b) => a - b);
  offsets.forEach((at, i) => expect(at - (i ? offsets[i - 1] : 0)).toBeLessThanOrEqual(chunk));
  expect(offsets[12]).toBeGreaterThan(50 * 1024 * 1024);
  // Encryption and upload overlap: the first chunk left before the file was read to the end.
  const { reads, patches } = await page.evaluate(() => {
    const w = window as unknown as { __reads: number[]; __patches: number[] };
    return { reads: w.__reads, patches: w.__patches };
  });
  expect(reads.length).toBe(13);
  expect(patches.length).toBe(13);
  expect(patches[0]).toBeLessThan(reads[reads.length - 1]);

  const reader = await (await newContext()).newPage();
  await reveal(reader, link);
  await expect(reader.getByRole("heading", { name: "Files" })).toBeVisible({ timeout: 120_000 });
  await screenshot(reader, info, "reveal-file");
  const got = await downloadHash(reader, /Download big-.*\.bin/);
  expect(got.file).toBe(`big-${info.project.name}.bin`);
  expect(got.hash).toBe(big.hash);
});

test("files: a 3-file bundle (picker + drag and drop) comes out byte-identical, per file and whole", async ({ page, newContext }, info) => {
  const a = file("alpha.txt", Buffer.from("alpha\n"));
  const b = file("bravo data.bin", randomBytes(3 * 1024 * 1024 + 17));
  await page.goto("/");
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  await page.getByLabel("Files", { exact: true }).check();
  await page.locator("#files").setInputFiles([a.path, b.path]);
  // The third file arrives by drag and drop.
  const third = "Grüße – drop.txt";
  const thirdData = "dropped content\n".repeat(1000);
  const dataTransfer = await page.evaluateHandle(
    ([name, text]) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], name, { type: "text/plain" }));
      return dt;
    },
    [third, thirdData],
  );
  await page.dispatchEvent("#drop", "drop", { dataTransfer });
  await expect(page.locator("#file-list li")).toHaveCount(3);
  await screenshot(page, info, "create-files");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  const link = await page.locator("#link").inputValue();

  const reader = await (await newContext()).newPage();
  await reveal(reader, link);
  await expect(reader.getByRole("heading", { name: "Files" })).toBeVisible();
  expect((await downloadHash(reader, /Download alpha\.txt/)).hash).toBe(a.hash);
  expect((await downloadHash(reader, /Download bravo data\.bin/)).hash).toBe(b.hash);
  expect((await downloadHash(reader, /Download Grüße/)).hash).toBe(sha256(Buffer.from(thirdData)));
  // The whole bundle is a tar archive that ordinary tools read.
  const [download] = await Promise.all([
    reader.waitForEvent("download"),
    reader.getByRole("link", { name: /Download all/ }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/\.tar$/);
  const listing = execFileSync("tar", ["-tvf", await download.path()], { encoding: "utf8" });
  expect(listing).toContain("alpha.txt");
  expect(listing).toContain("bravo data.bin");
  expect(listing).toContain(third);
  await screenshot(reader, info, "reveal-bundle");
});
