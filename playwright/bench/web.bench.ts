// Measures the page: transferred and gzip -9 weight of the create and reveal pages, time
// from navigation to ready (cold: fresh context; warm: reload), and the time to create and
// reveal a 50 MiB file with each crypto backend. Writes the `bench:web` section of
// BENCHMARKS.md (median of RUNS runs each).
import { BrowserContext, Page } from "@playwright/test";
import { execSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { test, expect, createSecret } from "../fixtures";

const RUNS = 5;
const BIG_RUNS = 3;
const MIB = 1024 * 1024;
const HIDE_SUBTLE = "delete Crypto.prototype.subtle;";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

interface Weight {
  raw: number;
  gzip: number;
  wire: number;
  files: string[];
}

async function weigh(page: Page, url: string): Promise<Weight> {
  const seen: Promise<{ url: string; raw: number; gzip: number; wire: number }>[] = [];
  page.on("response", (r) => {
    seen.push(
      (async () => {
        const body = await r.body();
        const sizes = await r.request().sizes();
        return { url: r.url(), raw: body.length, gzip: gzipSync(body, { level: 9 }).length, wire: sizes.responseBodySize + sizes.responseHeadersSize };
      })(),
    );
  });
  await page.goto(url);
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  await page.waitForLoadState("networkidle");
  // Each URL once: Chromium asks for the favicon again when the reveal page takes the key
  // out of the address bar, and its cache answers (nothing is transferred).
  const all = (await Promise.all(seen)).filter((x, i, xs) => xs.findIndex((y) => y.url === x.url) === i);
  return {
    raw: all.reduce((n, x) => n + x.raw, 0),
    gzip: all.reduce((n, x) => n + x.gzip, 0),
    wire: all.reduce((n, x) => n + x.wire, 0),
    files: all.map((x) => new URL(x.url).pathname),
  };
}

async function readyMs(page: Page): Promise<number> {
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  return page.evaluate(() => performance.getEntriesByName("hakanai-ready")[0]?.startTime ?? NaN);
}

test("web benchmark", async ({ browser, baseURL }) => {
  const dir = mkdtempSync(join(tmpdir(), "hakanai-bench-"));
  const fresh = async (pure: boolean): Promise<BrowserContext> => {
    const ctx = await browser.newContext({ baseURL, acceptDownloads: true });
    if (pure) await ctx.addInitScript(HIDE_SUBTLE);
    return ctx;
  };
  try {
    // A real id, so the reveal page is served for it.
    const setup = await (await fresh(false)).newPage();
    const { link } = await createSecret(setup, { text: "bench" });
    const revealUrl = link;

    const createWeight = await weigh(await (await fresh(false)).newPage(), "/");
    const revealWeight = await weigh(await (await fresh(false)).newPage(), revealUrl);

    const ready: Record<string, number[]> = { "create cold": [], "create warm": [], "reveal cold": [], "reveal warm": [] };
    for (let i = 0; i < RUNS; i++) {
      for (const [name, url] of [["create", "/"], ["reveal", revealUrl]] as const) {
        const ctx = await fresh(false);
        const page = await ctx.newPage();
        await page.goto(url);
        ready[`${name} cold`].push(await readyMs(page));
        await page.reload();
        ready[`${name} warm`].push(await readyMs(page));
        await ctx.close();
      }
    }

    const bigPath = join(dir, "big.bin");
    writeFileSync(bigPath, randomBytes(50 * MIB));
    const big: Record<string, { create: number[]; reveal: number[] }> = {};
    for (const backend of ["webcrypto", "pure"] as const) {
      big[backend] = { create: [], reveal: [] };
      for (let i = 0; i < BIG_RUNS; i++) {
        const sender = await (await fresh(backend === "pure")).newPage();
        await sender.goto("/");
        await expect(sender.locator("#backend")).toHaveAttribute("data-backend", backend);
        await sender.getByLabel("Files", { exact: true }).check();
        await sender.locator("#files").setInputFiles(bigPath);
        let t0 = Date.now();
        await sender.getByRole("button", { name: "Create secret link" }).click();
        await expect(sender.getByRole("heading", { name: "Your secret link" })).toBeVisible({ timeout: 300_000 });
        big[backend].create.push(Date.now() - t0);
        const bigLink = await sender.locator("#link").inputValue();

        const reader = await (await fresh(backend === "pure")).newPage();
        await reader.goto(bigLink);
        await expect(reader.locator("html[data-ready=true]")).toHaveCount(1);
        t0 = Date.now();
        await reader.getByRole("button", { name: "Reveal secret" }).click();
        await expect(reader.getByRole("heading", { name: "Files" })).toBeVisible({ timeout: 300_000 });
        big[backend].reveal.push(Date.now() - t0);
        await sender.context().close();
        await reader.context().close();
      }
    }

    const cpu = cpus();
    const serverBin = process.env.HAKANAI_SERVER_BIN ?? "target/debug/hakanai-server";
    const section = [
      "<!-- bench:web:start -->",
      "## Web page",
      "",
      `Measured ${new Date().toISOString().slice(0, 10)} (UTC). Reproduce with \`cargo xtask bench-web\` (builds the page and a release server, then runs \`npx playwright test -c playwright/bench.config.ts\`), which rewrites only this section. Times are medians of ${RUNS} runs (50 MiB: ${BIG_RUNS} runs); server and browser on the same machine over loopback.`,
      "",
      `- CPU: ${cpu[0]?.model.trim()}, ${cpu.length} cores`,
      `- Memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
      `- OS: ${osName()}`,
      `- Browser: Chromium ${browser.version()} (headless, @playwright/test)`,
      `- Server: \`${serverBin.replace(/^.*\/target\//, "target/")}\`, embedded store, gzip on static files`,
      "",
      "### Page weight (everything loaded until ready, incl. the wasm module)",
      "",
      "| page | files | raw | gzip -9 | over the wire (server gzip + headers) |",
      "|---|---|---|---|---|",
      `| create (\`/\`) | ${createWeight.files.length} | ${kib(createWeight.raw)} | ${kib(createWeight.gzip)} | ${kib(createWeight.wire)} |`,
      `| reveal (\`/s/{id}\`) | ${revealWeight.files.length} | ${kib(revealWeight.raw)} | ${kib(revealWeight.gzip)} | ${kib(revealWeight.wire)} |`,
      "",
      "### Navigation to ready (`performance.mark('hakanai-ready')`: config fetched, wasm instantiated, page wired)",
      "",
      "| page | cold (fresh context) | warm (reload) |",
      "|---|---|---|",
      `| create | ${median(ready["create cold"]).toFixed(0)} ms | ${median(ready["create warm"]).toFixed(0)} ms |`,
      `| reveal | ${median(ready["reveal cold"]).toFixed(0)} ms | ${median(ready["reveal warm"]).toFixed(0)} ms |`,
      "",
      "### A 50 MiB file through the page",
      "",
      "Create: press Create → link shown (read in 4 MiB slices and encrypted; each 4 MiB chunk of envelope is uploaded while the next is encrypted). Reveal: press Reveal → downloads offered (download, decrypt, authenticate).",
      "",
      "| crypto backend | create | reveal |",
      "|---|---|---|",
      ...(["webcrypto", "pure"] as const).map(
        (b) =>
          `| ${b === "webcrypto" ? "WebCrypto (`crypto.subtle`)" : "pure wasm (`crypto.subtle` hidden)"} | ${(median(big[b].create) / 1000).toFixed(2)} s | ${(median(big[b].reveal) / 1000).toFixed(2)} s |`,
      ),
      "<!-- bench:web:end -->",
    ].join("\n");
    writeSection(section);
    console.log(section);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function osName(): string {
  try {
    return /PRETTY_NAME="([^"]+)"/.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "Linux";
  } catch {
    return execSync("uname -sr").toString().trim();
  }
}

function writeSection(section: string): void {
  const path = join(__dirname, "..", "..", "BENCHMARKS.md");
  const text = readFileSync(path, "utf8");
  const start = text.indexOf("<!-- bench:web:start -->");
  const end = text.indexOf("<!-- bench:web:end -->");
  const next =
    start >= 0 && end > start
      ? text.slice(0, start) + section + text.slice(end + "<!-- bench:web:end -->".length)
      : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, next);
}
