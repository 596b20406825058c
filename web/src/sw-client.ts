// The page's side of the service worker (sw.ts), which exists only for the installed app's
// share target.

/** The Cache Storage name where sw.ts keeps a share until /share takes it. */
export const SHARE_CACHE = "hakanai-share";

/** Registers /sw.js (the share target needs it); a browser without service workers goes on. */
export function registerServiceWorker(): void {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => undefined);
}
