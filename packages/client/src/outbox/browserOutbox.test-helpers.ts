import type { Logger } from '../logger.js';
import type { Outbox } from './outbox.js';

/** A logger that keeps its lines (`warn <message>`), for asserting what was said and what not. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => lines.push(`debug ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

/** Claims and acks everything the outbox holds; answers the uuids in claim order. */
export async function drain(outbox: Outbox): Promise<string[]> {
  const seen: string[] = [];
  for (let b = await outbox.claim(100, Infinity); b !== null; b = await outbox.claim(100, Infinity)) {
    seen.push(...b.records.map((r) => r.uuid));
    await outbox.ack(b);
  }
  return seen;
}

let held = 0;

/**
 * An `indexedDB` whose opens answer only once `unblock` runs: each is an upgrade of another
 * database that an open connection, ignoring `versionchange`, blocks (what Safari's open that
 * never settles, or a foreign connection, looks like to the page).
 */
export async function blockedOpens(real: IDBFactory): Promise<{ factory: IDBFactory; unblock: () => void }> {
  const name = `held-${process.pid}-${held++}`;
  const blocker = await new Promise<IDBDatabase>((resolve, reject) => {
    const request = real.open(name, 1);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('open failed'));
  });
  const factory = { open: () => real.open(name, 2) } as unknown as IDBFactory;
  return { factory, unblock: () => blocker.close() };
}

/**
 * The afterEach of a test that swaps the page's storage globals: runs `cleanups` (last first),
 * puts the real `indexedDB` back and removes `localStorage`; real timers again.
 */
export async function restoreBrowserGlobals(
  cleanups: Array<() => unknown>,
  realIndexedDB: unknown,
  useRealTimers: () => void,
): Promise<void> {
  useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
  const g = globalThis as { indexedDB?: unknown; localStorage?: unknown };
  g.indexedDB = realIndexedDB;
  delete g.localStorage;
}

/**
 * Makes IndexedDB's origin full (fake-indexeddb): no record and no dead letter can be added;
 * deletes still work. Answers what makes room again.
 */
export function fillOrigin(): () => void {
  const proto = IDBObjectStore.prototype;
  const { add, put } = proto;
  const refuse = (store: IDBObjectStore): void => {
    if (store.name === 'records' || store.name === 'deadLetters')
      throw new DOMException('over quota', 'QuotaExceededError');
  };
  proto.add = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['add']>) {
    refuse(this);
    return add.apply(this, args);
  };
  proto.put = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
    refuse(this);
    return put.apply(this, args);
  };
  return () => {
    proto.add = add;
    proto.put = put;
  };
}
