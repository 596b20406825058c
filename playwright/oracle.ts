// Hakanai v3's own CLI (the oracle binary, 3.0.7), for secrets made the way Hakanai made them.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/** `shared/oracle/hakanai-3.0.7/` beside the checkout or one of its parents, or HAKANAI_ORACLE_DIR. */
function oracleDir(): string {
  if (process.env.HAKANAI_ORACLE_DIR) return process.env.HAKANAI_ORACLE_DIR;
  for (let dir = resolve(__dirname, ".."); ; dir = dirname(dir)) {
    const candidate = join(dir, "shared/oracle/hakanai-3.0.7");
    if (existsSync(join(candidate, "hakanai"))) return candidate;
    if (dirname(dir) === dir) throw new Error("Hakanai v3's CLI not found (set HAKANAI_ORACLE_DIR)");
  }
}

/** `hakanai send` of Hakanai 3.0.7, anonymously; returns the link it printed. */
export function oldSend(server: string, args: string[], input = ""): string {
  const out = execFileSync(join(oracleDir(), "hakanai"), ["send", ...args], {
    input,
    env: { PATH: process.env.PATH, HAKANAI_SERVER: server, NO_COLOR: "1" },
    encoding: "utf8",
  });
  // It colours its output even into a pipe.
  const plain = out.replace(/\x1b\[[0-9;]*m/g, "");
  const link = /Secret link:\s*(\S+)/.exec(plain)?.[1];
  if (!link) throw new Error(`no link in ${JSON.stringify(plain)}`);
  return link;
}
