/** The part of Node's `process` an exit hook needs; read from `globalThis`, so no `node:` import. */
export interface ExitEmitter {
  on(event: 'beforeExit' | 'exit', listener: () => void): unknown;
  off(event: 'beforeExit' | 'exit', listener: () => void): unknown;
}

type ExitEvent = 'beforeExit' | 'exit';

/**
 * Every hook of every client in the process, per event, behind one listener on `process`: a
 * client with its features registers three `beforeExit` hooks, and from the eleventh listener
 * Node prints a MaxListenersExceededWarning on the host's stderr (four clients were enough).
 * Hooks run in the order they were added; the process listener goes with the last hook.
 */
class ExitHooks {
  readonly hooks = new Set<{ readonly run: () => void }>();
  constructor(
    private readonly proc: ExitEmitter,
    private readonly event: ExitEvent,
  ) {
    proc.on(event, this.dispatch);
  }

  private readonly dispatch = (): void => {
    // A hook added while these run waits for the next emit, as with EventEmitter.
    for (const hook of [...this.hooks]) hook.run();
  };

  remove(hook: { readonly run: () => void }): void {
    if (!this.hooks.delete(hook) || this.hooks.size > 0) return;
    this.proc.off(this.event, this.dispatch);
    const byEvent = registries.get(this.proc);
    if (byEvent?.get(this.event) === this) byEvent.delete(this.event);
  }
}

const registries = new WeakMap<ExitEmitter, Map<ExitEvent, ExitHooks>>();

function addHook(proc: ExitEmitter, event: ExitEvent, run: () => void): () => void {
  let byEvent = registries.get(proc);
  if (byEvent === undefined) registries.set(proc, (byEvent = new Map()));
  let hooks = byEvent.get(event);
  if (hooks === undefined) byEvent.set(event, (hooks = new ExitHooks(proc, event)));
  const h = hooks;
  const hook = { run };
  h.hooks.add(hook);
  return () => h.remove(hook);
}

/**
 * Runs `listener` on `beforeExit` (it fires when the loop has nothing left to do, so listening
 * keeps nothing alive). A throwing or rejecting listener is swallowed: an exit hook must never
 * turn into an uncaught exception in the host. Returns the unsubscribe function.
 */
export function onBeforeExit(proc: ExitEmitter, listener: () => void | Promise<void>): () => void {
  return addHook(proc, 'beforeExit', () => {
    try {
      const result = listener();
      if (result !== undefined) result.catch(() => undefined);
    } catch {
      // See above: never into the host.
    }
  });
}

/**
 * Runs `listener` on `exit`: the process ends in this turn (`process.exit()`, or the loop ran
 * dry), so only synchronous work gets done, and `beforeExit` may never have fired. A throwing
 * listener is swallowed (see above). Returns the unsubscribe function.
 */
export function onProcessExit(proc: ExitEmitter, listener: () => void): () => void {
  return addHook(proc, 'exit', () => {
    try {
      listener();
    } catch {
      // Never into the host, least of all while it exits.
    }
  });
}
