import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createTelemetry } from '../index.node.js';
import { onBeforeExit, onProcessExit, type ExitEmitter } from './beforeExit.js';

describe('exit hooks', () => {
  it('share one process listener per event, run in the order added, and survive a hook that throws', () => {
    const proc = new EventEmitter() as unknown as ExitEmitter & EventEmitter;
    const seen: string[] = [];
    const offA = onBeforeExit(proc, () => void seen.push('a'));
    onBeforeExit(proc, () => {
      throw new Error('hook bug');
    });
    onBeforeExit(proc, () => Promise.reject(new Error('async hook bug')));
    const offD = onBeforeExit(proc, () => {
      seen.push('d');
      // Added while the hooks run: waits for the next emit.
      onBeforeExit(proc, () => void seen.push('late'));
    });
    const offExit = onProcessExit(proc, () => void seen.push('exit'));
    expect(proc.listenerCount('beforeExit')).toBe(1);
    expect(proc.listenerCount('exit')).toBe(1);
    proc.emit('beforeExit');
    expect(seen).toEqual(['a', 'd']);
    offA();
    offD();
    proc.emit('beforeExit');
    proc.emit('exit');
    expect(seen).toEqual(['a', 'd', 'late', 'exit']);
    offExit();
    expect(proc.listenerCount('exit')).toBe(0);
  });

  it('many clients with their features in one process: no MaxListenersExceededWarning, and nothing left after shutdown', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const before = { beforeExit: process.listenerCount('beforeExit'), exit: process.listenerCount('exit') };
    try {
      const clients = Array.from({ length: 12 }, () =>
        createTelemetry({
          endpoints: [{ destination: 'homing', host: 'http://127.0.0.1:9', key: 'k' }],
          storage: 'memory',
          performance: { runtime: 'off' },
          health: {},
          usage: {},
        }),
      );
      // Three hooks a client before (its own, its delivery's, its features'): 36 listeners.
      expect(process.listenerCount('beforeExit') - before.beforeExit).toBe(1);
      expect(process.listenerCount('exit') - before.exit).toBeLessThanOrEqual(1);
      await Promise.all(clients.map((c) => c.shutdown({ timeoutMs: 0 })));
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
      expect(process.listenerCount('beforeExit')).toBe(before.beforeExit);
      expect(process.listenerCount('exit')).toBe(before.exit);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
