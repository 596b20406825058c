// End-to-end tests of the web page in Debian's Chromium (/usr/bin/chromium; never
// `npx playwright install`). global-setup.ts starts the servers through
// `cargo xtask test-servers` (embedded store, Redis, token, geo) plus a static server for the
// embedding example.
// Run from the repository root: `npx playwright test -c playwright` (after `cargo xtask web`
// and `cargo build -p hakanai-server`), or `cargo xtask test`.
import { defineConfig } from "@playwright/test";
import type { Options } from "./fixtures";

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

export default defineConfig<Options>({
  testDir: "./tests",
  outputDir: "../test-results",
  globalSetup: "./global-setup.ts",
  fullyParallel: true,
  workers: 2,
  timeout: 120_000,
  expect: { timeout: 30_000 },
  reporter: [["list"]],
  use: {
    headless: true,
    acceptDownloads: true,
    launchOptions: { executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS },
    trace: "off",
  },
  projects: [
    {
      name: "webcrypto-embedded",
      use: { store: "embedded", hideSubtle: false },
    },
    {
      name: "pure-wasm-redis",
      use: { store: "redis", hideSubtle: true },
    },
  ],
});
