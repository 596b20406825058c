// Strings: the English ones every page shows (the page groups are in i18n-create.ts,
// i18n-reveal.ts, i18n-share.ts, i18n-ott.ts), German in i18n-de.ts. Elements carry
// `data-i18n` (text), `data-i18n-label` (aria-label) or `data-i18n-placeholder`; code calls
// `t(key, params)`.

const en = {
  "app.tagline": "One-time secrets, encrypted in your browser",
  "theme.toggle": "Switch colour theme",
  "theme.system": "Theme: system",
  "theme.light": "Theme: light",
  "theme.dark": "Theme: dark",
  "lang.label": "Language",
  "result.copied": "Copied",
  "footer.zk": "Encrypted and decrypted in your browser; the server never sees the key.",
  "footer.backend.webcrypto": "Encryption: WebCrypto",
  "footer.backend.pure": "Encryption: WebAssembly (WebCrypto is not available here)",
  "footer.impressum": "Legal notice",
  "footer.privacy": "Privacy",
  "footer.create": "Share a secret",
  "footer.get": "Open a secret",
};

/** Every string key: the shared ones above and each page group's (i18n-*.ts). */
export type Key =
  | keyof typeof en
  | keyof typeof import("./i18n-create").create
  | keyof typeof import("./i18n-reveal").reveal
  | keyof typeof import("./i18n-share").share
  | keyof typeof import("./i18n-ott").ott;

export const LANGS = ["en", "de"] as const;
export type Lang = (typeof LANGS)[number];

/**
 * English: the shared strings, plus each group a page imports (`import "./i18n-create"`
 * registers its strings), so no page carries another page's strings. Another language
 * arrives whole when a visitor first needs it.
 */
const english: Partial<Record<Key, string>> = { ...en };
const dictionaries: Partial<Record<Lang, Partial<Record<Key, string>>>> = { en: english };

/** Adds a group of English strings (called by the i18n-*.ts modules as they load). */
export function addStrings(strings: Partial<Record<Key, string>>): void {
  Object.assign(english, strings);
}

export async function loadLang(lang: Lang): Promise<void> {
  if (lang === "de") dictionaries.de ??= (await import("./i18n-de")).de;
}

let current: Lang = "en";

/** Switches to `lang`, which `loadLang` has loaded. */
export function setLang(lang: Lang): void {
  current = lang;
}

export function lang(): Lang {
  return current;
}

export function t(key: Key, params: Record<string, string | number> = {}): string {
  let s = dictionaries[current]?.[key] ?? english[key];
  if (s === undefined) {
    // A page used a key of a group it does not import: a bug the tests watch for.
    console.error(`i18n: missing string ${key}`);
    s = key;
  }
  for (const [k, v] of Object.entries(params)) s = s.split(`{${k}}`).join(String(v));
  return s;
}

/** The stored choice, else the first supported browser language, else English. */
export function preferredLang(): Lang {
  const stored = localStorage.getItem("hakanai.lang");
  if (stored === "en" || stored === "de") return stored;
  for (const l of navigator.languages ?? [navigator.language]) {
    const base = l.toLowerCase().split("-")[0];
    if (base === "de" || base === "en") return base;
  }
  return "en";
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const num = i === 0 ? String(v) : v.toLocaleString(current, { maximumFractionDigits: 1 });
  return `${num} ${units[i]}`;
}
