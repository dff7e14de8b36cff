/** The part of Node's `process` an exit hook needs; read from `globalThis`, so no `node:` import. */
export interface ExitEmitter {
  on(event: 'beforeExit', listener: () => void): unknown;
  off(event: 'beforeExit', listener: () => void): unknown;
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
