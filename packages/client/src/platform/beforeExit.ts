/** The part of Node's `process` an exit hook needs; read from `globalThis`, so no `node:` import. */
export interface ExitEmitter {
  on(event: 'beforeExit' | 'exit', listener: () => void): unknown;
  off(event: 'beforeExit' | 'exit', listener: () => void): unknown;
}

/**
 * Runs `listener` on `beforeExit` (it fires when the loop has nothing left to do, so listening
 * keeps nothing alive). A throwing or rejecting listener is swallowed: an exit hook must never
 * turn into an uncaught exception in the host. Returns the unsubscribe function.
 */
export function onBeforeExit(proc: ExitEmitter, listener: () => void | Promise<void>): () => void {
  const handler = (): void => {
    try {
      const result = listener();
      if (result !== undefined) result.catch(() => undefined);
    } catch {
      // See above: never into the host.
    }
  };
  proc.on('beforeExit', handler);
  return () => {
    proc.off('beforeExit', handler);
  };
}

/**
 * Runs `listener` on `exit`: the process ends in this turn (`process.exit()`, or the loop ran
 * dry), so only synchronous work gets done, and `beforeExit` may never have fired. A throwing
 * listener is swallowed (see above). Returns the unsubscribe function.
 */
export function onProcessExit(proc: ExitEmitter, listener: () => void): () => void {
  const handler = (): void => {
    try {
      listener();
    } catch {
      // Never into the host, least of all while it exits.
    }
  };
  proc.on('exit', handler);
  return () => {
    proc.off('exit', handler);
  };
}
