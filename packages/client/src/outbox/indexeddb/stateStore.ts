import type { Logger } from '../../logger.js';
import { io } from './OutboxConnection.js';
import type { OutboxDatabase } from './schema.js';

/**
 * `getState`/`setState` of the IndexedDB outbox: one value per key in the `state` store, kept as
 * JSON text (the key checked and the value encoded by the caller, `stateValue.ts`).
 */
export async function readState<T>(db: OutboxDatabase, key: string, logger: Logger): Promise<T | undefined> {
  const json = await io('getState', () => db.get('state', key));
  if (typeof json !== 'string') return undefined;
  try {
    return JSON.parse(json) as T;
  } catch (error) {
    // Damaged from outside: as good as unset (the owner of the key writes it again).
    logger.warn('outbox state value is damaged; treated as unset', { key, error });
    return undefined;
  }
}

/** Writes the encoded value; undefined deletes the key. */
export async function writeState(db: OutboxDatabase, key: string, json: string | undefined): Promise<void> {
  await io('setState', async () => {
    if (json === undefined) await db.delete('state', key);
    else await db.put('state', json, key);
  });
}
