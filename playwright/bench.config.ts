// The web benchmark (not part of the test run): `npx playwright test -c playwright/bench.config.ts`
// or `cargo xtask bench-web`. Rewrites the `bench:web` section of BENCHMARKS.md.
import { defineConfig } from "@playwright/test";
import base, { CHROMIUM_ARGS } from "./playwright.config";
import type { Options } from "./fixtures";

export default defineConfig<Options>({
  ...base,
  testDir: "./bench",
  testMatch: /.*\.bench\.ts/,
  outputDir: "../test-results/bench",
  workers: 1,
  timeout: 600_000,
  use: { ...base.use, launchOptions: { executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS } },
  projects: [{ name: "bench", use: { store: "embedded", hideSubtle: false } }],
});
