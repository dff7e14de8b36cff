/**
 * Workers of every kind for the Chromium tests: the scripts the page server serves (each imports the test bundle, so `globalThis.homing` is there too), and the page
 * side that starts them and runs functions in them. A function is sent as its source: it may use
 * only `homing`, the worker's globals and its argument. Each worker keeps, in `homing.keep`, the
 * uncaught errors and unhandled rejections it saw (`errors`) and an id of its own (`instance`:
 * a service worker the browser stopped and started again has a new one).
 */
import type { Page } from 'playwright-core';

const RUN = `import '/bundle.js';
homing.keep.instance = crypto.randomUUID();
homing.keep.errors = [];
self.addEventListener('error', (e) => homing.keep.errors.push('error ' + e.message));
self.addEventListener('unhandledrejection', (e) =>
  homing.keep.errors.push('unhandledrejection ' + String((e.reason && e.reason.stack) || e.reason)),
);
async function run({ call, fn, arg }) {
  try {
    const f = (0, eval)('(' + fn + ')');
    return { call, value: await f(arg) };
  } catch (error) {
    return { call, error: String((error && error.stack) || error) };
  }
}
`;

/**
 * The service worker's script sits at the root, so its scope is the whole origin. It also runs what its URL's `install` parameter names at install, within
 * `event.waitUntil` (the pattern an app uses: `event.waitUntil(client.flush())`), and answers
 * `fetch`es of `/tracked` once `homing.keep.onFetch` (set by the test) has.
 */
export const WORKER_SCRIPTS: Readonly<Record<string, string>> = {
  '/workers/dedicated.js': `${RUN}
self.onmessage = async (e) => self.postMessage(await run(e.data));
self.postMessage({ ready: true });`,
  '/workers/shared.js': `${RUN}
self.onconnect = (c) => {
  const port = c.ports[0];
  port.onmessage = async (e) => port.postMessage(await run(e.data));
  port.postMessage({ ready: true });
};`,
  '/service-worker.js': `${RUN}
const params = new URL(location.href).searchParams;
self.addEventListener('install', (e) => {
  const install = params.get('install');
  if (install !== null) e.waitUntil(run({ call: 'install', fn: install, arg: params.get('arg') }).then((r) => (homing.keep.installed = r)));
  self.skipWaiting();
});
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
self.addEventListener('message', (e) => e.waitUntil(run(e.data).then((r) => e.source.postMessage(r))));
self.addEventListener('fetch', (e) => {
  if (new URL(e.request.url).pathname !== '/tracked') return;
  e.respondWith(Promise.resolve(homing.keep.onFetch(e.request.url)).then((body) => new Response(JSON.stringify(body))));
});`,
};

export type WorkerKind = 'dedicated' | 'shared';

interface WorkerReply {
  call?: number | string;
  ready?: boolean;
  value?: unknown;
  error?: string;
}

/** Starts the dedicated or shared module worker `id` of `page`. */
export async function startWorker(page: Page, kind: WorkerKind, id: string): Promise<void> {
  await page.evaluate(
    async ({ k, workerId }) => {
      let port: Worker | MessagePort;
      let failed: Promise<never>;
      if (k === 'dedicated') {
        const worker = new Worker('/workers/dedicated.js', { type: 'module' });
        failed = new Promise((_, reject) =>
          worker.addEventListener('error', (e) => reject(new Error(`worker failed to start: ${e.message}`))),
        );
        port = worker;
      } else {
        const worker = new SharedWorker('/workers/shared.js', { type: 'module', name: workerId });
        failed = new Promise((_, reject) =>
          worker.addEventListener('error', () => reject(new Error('shared worker failed to start'))),
        );
        port = worker.port;
        port.start();
      }
      const ready = new Promise<void>((resolve) =>
        port.addEventListener('message', (e) => {
          if ((e as MessageEvent<WorkerReply>).data.ready === true) resolve();
        }),
      );
      await Promise.race([ready, failed]);
      const g = globalThis as unknown as { workerPorts?: Record<string, Worker | MessagePort> };
      (g.workerPorts ??= {})[workerId] = port;
    },
    { k: kind, workerId: id },
  );
}

/**
 * Registers `/service-worker.js` (a module service worker) and waits until it controls `page`.
 * `install`, when given, runs in the worker's install event with `arg`.
 */
export async function registerServiceWorker<A extends string>(
  page: Page,
  install?: (arg: A) => unknown,
  arg?: A,
): Promise<void> {
  const params = new URLSearchParams();
  if (install !== undefined) params.set('install', install.toString());
  if (arg !== undefined) params.set('arg', arg);
  await page.evaluate(async (query) => {
    const sw = navigator.serviceWorker;
    const controlled = new Promise((resolve) =>
      sw.addEventListener('controllerchange', resolve, { once: true }),
    );
    await sw.register(`/service-worker.js?${query}`, { type: 'module' });
    const late = new Promise((_, reject) =>
      setTimeout(() => reject(new Error('the service worker took no control of the page')), 15_000),
    );
    if (sw.controller === null) await Promise.race([controlled, late]);
  }, params.toString());
}

/**
 * Runs `fn(arg)` in worker `id`, or in the service worker controlling the page when `id` is
 * 'service' (waking it if the browser stopped it).
 */
export function inWorker<A, R>(page: Page, id: string, fn: (arg: A) => R | Promise<R>, arg: A): Promise<R> {
  return page.evaluate(
    ({ workerId, source, value }) =>
      new Promise<R>((resolve, reject) => {
        const g = globalThis as unknown as { workerPorts: Record<string, Worker | MessagePort> };
        const replies = workerId === 'service' ? navigator.serviceWorker : g.workerPorts[workerId]!;
        const target =
          workerId === 'service' ? navigator.serviceWorker.controller! : g.workerPorts[workerId]!;
        const call = Math.random();
        const onMessage = (e: Event): void => {
          const data = (e as MessageEvent<WorkerReply>).data;
          if (data.call !== call) return;
          replies.removeEventListener('message', onMessage);
          if (data.error !== undefined) reject(new Error(data.error));
          else resolve(data.value as R);
        };
        replies.addEventListener('message', onMessage);
        target.postMessage({ call, fn: source, arg: value });
      }),
    { workerId: id, source: fn.toString(), value: arg },
  );
}

export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The values `xs` holds more than once. */
export function repeated(xs: readonly string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const x of xs) (seen.has(x) ? twice : seen).add(x);
  return [...twice];
}
