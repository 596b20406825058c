// The service worker, for the installed app's share target only (manifest.json: POST
// multipart to /share, as Hakanai v3's). It answers nothing but that POST: it keeps the shared
// text and files in Cache Storage and redirects to /share?shared=1, where the page encrypts
// them; the content never goes to the server. Every other request passes through untouched.
//
// Typed by hand with the DOM library's types (the web tsconfig has no WebWorker library).

export {};

const CACHE = "hakanai-share";

interface ExtendableEvent extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  respondWith(r: Promise<Response>): void;
}
interface WorkerScope {
  addEventListener(type: "install" | "activate", fn: (e: ExtendableEvent) => void): void;
  addEventListener(type: "fetch", fn: (e: FetchEvent) => void): void;
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void> };
}

const worker = self as unknown as WorkerScope;

worker.addEventListener("install", (e) => e.waitUntil(worker.skipWaiting()));
worker.addEventListener("activate", (e) => e.waitUntil(worker.clients.claim()));
worker.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method === "POST" && url.pathname === "/share" && url.origin === location.origin) {
    e.respondWith(keep(e.request));
  }
});

async function keep(request: Request): Promise<Response> {
  try {
    const form = await request.formData();
    const cache = await caches.open(CACHE);
    for (const key of await cache.keys()) await cache.delete(key);
    const text = ["title", "text", "url"]
      .map((name) => form.get(name))
      .filter((v): v is string => typeof v === "string" && v !== "")
      .join("\n");
    const files = form.getAll("files").filter((f): f is File => f instanceof File && f.size > 0);
    await cache.put(
      "/share-target/meta",
      new Response(JSON.stringify({ text, files: files.map((f) => ({ name: f.name, type: f.type })) })),
    );
    for (let i = 0; i < files.length; i++) await cache.put(`/share-target/file/${i}`, new Response(files[i]));
    return Response.redirect("/share?shared=1", 303);
  } catch {
    return Response.redirect("/share?shared=0", 303);
  }
}
