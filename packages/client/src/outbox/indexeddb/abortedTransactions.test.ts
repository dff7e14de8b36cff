import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { useUnhandledRejections } from '../../unhandledRejections.test-helpers.js';
import { makeRecords } from '../outbox.contract.js';
import { OutboxIoError } from '../errors.js';
import type { DeadLetterStore } from './deadLetterStore.js';
import { deleteOutboxDatabase } from './deleteDatabase.test-helpers.js';
import { moveToDeadLetters } from './moveToDeadLetters.js';
import { openOutboxDatabase } from './schema.js';

let next = 0;
const unique = (): string => `aborted-tx-${process.pid}-${next++}-${Math.random().toString(36).slice(2)}`;

/**
 * A step that fails inside a transaction aborts it; the transaction's `done` then rejects too.
 * Nobody awaited it yet, so each such failure was an unhandled rejection besides the error the
 * caller got (a page's console, a Node host's `unhandledRejection`: fatal by default).
 */
describe('IndexedDB transactions aborted after a failed step', () => {
  const unhandled = useUnhandledRejections();
  const names: string[] = [];
  afterEach(async () => {
    for (const name of names.splice(0)) await deleteOutboxDatabase(name);
  });

  it('moveToDeadLetters: the caller gets an OutboxIoError, and nothing is left unhandled', async () => {
    const name = unique();
    names.push(name);
    const db = await openOutboxDatabase(indexedDB, name, () => undefined);
    const failing = {
      add: () => Promise.reject(new Error('the dead-letter store failed')),
    } as unknown as DeadLetterStore;
    const dead = makeRecords(2);
    await expect(
      moveToDeadLetters(db, failing, { stored: [], dead, reason: 'HTTP 400', now: () => Date.now() }),
    ).rejects.toBeInstanceOf(OutboxIoError);
    await new Promise((r) => setTimeout(r, 50));
    db.close();
    expect(unhandled).toEqual([]);
  });
});
