import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { openOutboxDatabase } from './schema.js';

let next = 0;

/** Opens `name` at `version` with the factory's own API. */
function openRaw(name: string, version: number): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, version);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('open failed'));
  });
}

/**
 * A factory whose opens are upgrades of another database, blocked by a connection that ignores
 * `versionchange` (an old page without Homing's handler, another library): they fire `blocked`
 * and then nothing, as Safari's opens that never settle do.
 */
async function blockedFactory(): Promise<{ factory: IDBFactory; blocker: IDBDatabase; held: string }> {
  const held = `held-${process.pid}-${next++}`;
  const blocker = await openRaw(held, 1);
  const factory = { open: () => indexedDB.open(held, 2) } as unknown as IDBFactory;
  return { factory, blocker, held };
}

describe('openOutboxDatabase when the open does not answer', () => {
  it('rejects after its timeout, saying the open was blocked; a connection it gets later is closed', async () => {
    const { factory, blocker, held } = await blockedFactory();
    const opening = openOutboxDatabase(factory, 'any', () => undefined, 50);
    await expect(opening).rejects.toMatchObject({
      name: 'TimeoutError',
      message: expect.stringContaining('blocked'),
    });
    // The connection in the way goes: the open given up on goes through now, and is closed at once,
    // so a later upgrade is not blocked by it.
    blocker.close();
    let blocked = false;
    const later = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(held, 3);
      request.onblocked = () => {
        blocked = true;
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error ?? new Error('open failed'));
    });
    later.close();
    expect(blocked).toBe(false);
  });
});
