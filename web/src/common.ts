// Shared page chrome: language, theme, translations, the wasm module, /config.json, footer.

import { type Role, hasWebCrypto, loadWasm } from "./wasm";
export { errorCode } from "./wasm";
import { Key, Lang, LANGS, loadLang, preferredLang, setLang, t } from "./i18n";

export interface PublicConfig {
  upload_size_limit: number;
  allow_anonymous: boolean;
  anonymous_upload_size_limit: number;
  max_ttl_seconds: number;
  default_ttl_seconds: number;
  max_passphrase_attempts: number;
  /** Hakanai v3's names: which reader restrictions beyond IP ranges the server can check. */
  features?: { restrictions?: { country?: boolean; asn?: boolean } };
  /** Show the token field (always when uploads need a token). */
  show_token_input: boolean;
  /** Optional; shown in the footer when the server provides them. */
  impressum_url?: string;
  privacy_url?: string;
}

export const OPTIONS = { backend: "auto" } as const;

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
}

export function show(el: HTMLElement, visible: boolean): void {
  el.hidden = !visible;
}

/** Re-renders every `data-i18n*` element; pages register extra re-render hooks. */
const hooks: Array<() => void> = [];
export function onLangChange(hook: () => void): void {
  hooks.push(hook);
}

/** Messages written by the page (errors, status lines), re-rendered on a language switch. */
const spoken = new Map<HTMLElement, () => string>();

/** Sets `el`'s text from `render` now and again whenever the language changes. */
export function say(el: HTMLElement, render: () => string): void {
  spoken.set(el, render);
  el.textContent = render();
}

export function translatePage(): void {
  document.documentElement.lang = document.documentElement.dataset.lang ?? "en";
  for (const el of document.querySelectorAll<HTMLElement>("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n as Key);
  }
  for (const el of document.querySelectorAll<HTMLElement>("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel as Key));
  }
  for (const el of document.querySelectorAll<HTMLElement>("[data-i18n-placeholder]")) {
    el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder as Key));
  }
  for (const [el, render] of spoken) el.textContent = render();
  for (const hook of hooks) hook();
}

async function applyLang(l: Lang): Promise<void> {
  await loadLang(l);
  setLang(l);
  document.documentElement.dataset.lang = l;
  const select = document.getElementById("lang") as HTMLSelectElement | null;
  if (select) select.value = l;
  translatePage();
}

type Theme = "system" | "light" | "dark";

function applyTheme(theme: Theme): void {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  const button = document.getElementById("theme");
  if (button) {
    button.dataset.i18n = `theme.${theme}`;
    button.textContent = t(`theme.${theme}` as Key);
  }
}

function storedTheme(): Theme {
  const s = localStorage.getItem("hakanai.theme");
  return s === "light" || s === "dark" ? s : "system";
}

/**
 * Language, theme, wasm and config; resolves when the page can be used. `role` says which wasm
 * module the page needs first (`none`: it has no crypto).
 */
export async function boot(role: Role | "none"): Promise<PublicConfig> {
  const language = applyLang(preferredLang());
  applyTheme(storedTheme());
  const select = document.getElementById("lang") as HTMLSelectElement | null;
  select?.addEventListener("change", () => {
    const l = select.value as Lang;
    if (!LANGS.includes(l)) return;
    localStorage.setItem("hakanai.lang", l);
    void applyLang(l);
  });
  document.getElementById("theme")?.addEventListener("click", () => {
    const order: Theme[] = ["system", "light", "dark"];
    const next = order[(order.indexOf(storedTheme()) + 1) % order.length];
    localStorage.setItem("hakanai.theme", next);
    applyTheme(next);
  });

  const [config, wasm] = await Promise.all([
    fetch("/config.json", { credentials: "omit" }).then((r) => {
      if (!r.ok) throw new Error(`config.json: ${r.status}`);
      return r.json() as Promise<PublicConfig>;
    }),
    role === "none" ? undefined : loadWasm(role),
    language,
  ]);
  const backend = $("backend");
  const webCrypto = wasm ? wasm.webCryptoAvailable() : hasWebCrypto();
  backend.dataset.i18n = webCrypto ? "footer.backend.webcrypto" : "footer.backend.pure";
  backend.dataset.backend = webCrypto ? "webcrypto" : "pure";
  legalLinks(config);
  translatePage();
  return config;
}

function legalLinks(config: PublicConfig): void {
  const nav = document.getElementById("legal");
  if (!nav) return;
  const links: Array<[string | undefined, Key]> = [
    [config.impressum_url, "footer.impressum"],
    [config.privacy_url, "footer.privacy"],
  ];
  for (const [href, key] of links) {
    if (!href) continue;
    const a = document.createElement("a");
    a.href = href;
    a.rel = "noreferrer";
    a.dataset.i18n = key;
    nav.append(a);
  }
  nav.hidden = nav.childElementCount === 0;
}

/** Marks the page usable (tests and the benchmark wait for this). */
export function ready(): void {
  // The submit buttons start disabled: pressed before the module is wired, the browser's
  // native form submission would reload the page and drop the key in the fragment.
  for (const b of document.querySelectorAll<HTMLButtonElement>("button[data-until-ready]")) {
    b.disabled = false;
    b.removeAttribute("data-until-ready");
  }
  performance.mark("hakanai-ready");
  document.documentElement.dataset.ready = "true";
}

export async function copyText(text: string, button: HTMLButtonElement, label: Key): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Clipboard permission denied (e.g. plain http): fall back to selecting the text.
    const field = button.dataset.copyTarget ? document.getElementById(button.dataset.copyTarget) : null;
    if (field instanceof HTMLInputElement || field instanceof HTMLTextAreaElement) {
      field.select();
      document.execCommand("copy");
    }
  }
  button.textContent = t("result.copied");
  setTimeout(() => (button.textContent = t(label)), 1500);
}

export function ttlLabel(s: number): string {
  if (s % 86400 === 0) return s === 86400 ? t("ttl.day") : t("ttl.days", { n: s / 86400 });
  if (s % 3600 === 0) return s === 3600 ? t("ttl.hour") : t("ttl.hours", { n: s / 3600 });
  if (s % 60 === 0) return t("ttl.minutes", { n: s / 60 });
  return t("ttl.seconds", { n: s });
}

/** The value of the TTL option that asks for a duration of one's own. */
export const CUSTOM_TTL = "custom";

/**
 * Fills a TTL `<select>` with presets up to the server's maximum, plus "Custom…" when `custom`.
 * The selection stays; without one it is `preferred` (clamped), else one hour, as Hakanai v3's
 * page did.
 */
export function renderTtlOptions(select: HTMLSelectElement, config: PublicConfig, preferred = 3600, custom = false): void {
  const fallback = Math.min(Math.max(1, Math.floor(preferred)), config.max_ttl_seconds);
  const presets = [300, 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400].filter((s) => s <= config.max_ttl_seconds);
  for (const s of [fallback, config.max_ttl_seconds]) if (!presets.includes(s)) presets.push(s);
  presets.sort((a, b) => a - b);
  const selected = select.value ? select.value : String(fallback);
  const option = (value: string, label: string) => {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    o.selected = value === selected;
    return o;
  };
  select.replaceChildren(...presets.map((s) => option(String(s), ttlLabel(s))));
  if (custom) select.append(option(CUSTOM_TTL, t("ttl.custom")));
}
