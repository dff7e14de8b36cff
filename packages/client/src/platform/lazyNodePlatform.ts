import { DeferredOutbox } from '../outbox/DeferredOutbox.js';
import { createMemoryOutbox } from '../outbox/memory.js';
import type { ExitEmitter } from './beforeExit.js';
import { onBeforeExit, onProcessExit } from './beforeExit.js';
import type { NodePlatformOptions } from './node.js';
import type { DefaultOutboxOptions, Platform } from './platform.js';

interface NodeGlobals {
  process?: ExitEmitter & { env?: Record<string, string | undefined> };
}

type NodePlatformModule = { createNodePlatform(options?: NodePlatformOptions): Platform };

/**
 * The Node platform as `detectPlatform` hands it out, without importing any `node:` module up
 * front: environment, fetch and the exit hook come from globals; gzip, POST and the file outbox
 * load `./node.js` on first use (a dynamic import, so a browser bundle of `detect.ts` does not pull
 * it in statically). Behaves as `createNodePlatform()`.
 *
 * `load` is for tests (a failing or slow import); by default it imports `./node.js`.
 */
export function createLazyNodePlatform(
  load: () => Promise<NodePlatformModule> = () => import('./node.js'),
): Platform {
  const g = globalThis as NodeGlobals;
  let node: Promise<Platform> | undefined;
  const nodePlatform = (): Promise<Platform> => (node ??= load().then((m) => m.createNodePlatform()));
  return {
    name: 'node',
    env: (name) => g.process?.env?.[name],
    createDefaultOutbox: (o: DefaultOutboxOptions) =>
      new DeferredOutbox(
        async () => (await nodePlatform()).createDefaultOutbox(o),
        () => createMemoryOutbox(),
      ),
    canGzip: true,
    gzip: async (body) => (await nodePlatform()).gzip(body),
    fetch: (url, init) => globalThis.fetch(url, init),
    post: async (url, request) => (await nodePlatform()).post!(url, request),
    // Never loaded: nothing was sent, so there is nothing to close (and nothing to import for it).
    close: () => void node?.then((p) => p.close?.()).catch(() => undefined),
    isOnline: () => true,
    onOnlineChange: () => () => {},
    onExit: (listener) => (g.process === undefined ? () => {} : onBeforeExit(g.process, listener)),
    onExitNow: (listener) => (g.process === undefined ? () => {} : onProcessExit(g.process, listener)),
    sendOnUnload: null,
  };
}
