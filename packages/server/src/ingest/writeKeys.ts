import { createHash } from 'node:crypto';
import type { Project, Store } from '../store/store.js';
import { IngestError } from './errors.js';

export interface WriteKeyOptions {
  /** How long a key's project is remembered, ms; 0 asks the store every time. */
  ttlMs: number;
  /** Most keys remembered (found keys, and apart from them as many refused ones). */
  size: number;
  /**
   * How often the store's keys version (Store.keysVersion) is read, ms: a change (a key rotated
   * or a project removed, by any process) forgets every remembered key. Default 1000; 0 reads it
   * before every answer from memory.
   */
  versionCheckMs?: number;
}

/** Default `versionCheckMs`: a rotated or removed key stops working within about a second. */
export const KEYS_VERSION_CHECK_MS = 1000;
/**
 * Longest a refused key is remembered, ms (less when `ttlMs` is): long enough that a client
 * repeating a wrong key costs a lookup every few seconds, short enough that a key added by hand
 * in the database, which changes no keys version, is taken soon.
 */
export const REFUSED_KEY_TTL_MS = 10_000;

type Refusal = 'unknown-key' | 'wrong-key-role';

/**
 * Resolves a write key to its project. The store compares keys in constant time; the caches in
 * front of it are keyed by the key's SHA-256, so a lookup's timing says nothing about how much of
 * a key matched.
 *
 * Keys found are remembered `ttlMs`; keys refused (unknown, or an admin key) up to
 * REFUSED_KEY_TTL_MS, in a map of their own, so a client sending the same wrong key in a loop
 * costs a store lookup every few seconds, not one a request (each distinct wrong key still costs
 * one: nothing can tell it apart unasked). Both are forgotten as soon as the store's keys version
 * changes, which it does in the same commit as every creation, rotation and removal of a
 * project, in any process; the version is read at most once every `versionCheckMs` (one small
 * read a second, however many requests). So a rotated or removed key is refused within about a
 * second, and a new project's key, never seen before it existed, works at once. Keys changed by
 * hand in the database (SQL) change no version: they are seen within `ttlMs` (found) or
 * REFUSED_KEY_TTL_MS (refused).
 */
export class WriteKeys {
  private readonly found = new Map<string, { project: Project; until: number }>();
  private readonly refused = new Map<string, { kind: Refusal; until: number }>();
  private readonly versionCheckMs: number;
  private version: number | null = null;
  private checkedAt = -Infinity;
  /** The version read in progress, which every request meanwhile waits for. */
  private checking: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly o: WriteKeyOptions,
  ) {
    this.versionCheckMs = o.versionCheckMs ?? KEYS_VERSION_CHECK_MS;
  }

  /** `howToSend` completes the 401's message when no key came: how this route takes it. */
  async resolve(
    key: string | undefined,
    howToSend = 'send Authorization: Bearer <write key> (or api_key in the body)',
  ): Promise<Project> {
    if (key === undefined || key === '') {
      throw new IngestError('missing-key', `no write key: ${howToSend}`);
    }
    const remembering = this.o.ttlMs > 0 && this.o.size > 0;
    const h = createHash('sha256').update(key).digest('base64');
    let now = Date.now();
    if (remembering) {
      // Read before the first lookup whose answer is remembered, so a change committed after
      // that lookup shows as a new version. Entries that expire before the next look need none.
      // A clock set back counts as due: waiting for it to catch up would stop the looks.
      const since = now - this.checkedAt;
      const due =
        this.version === null ||
        ((since >= this.versionCheckMs || since < 0) &&
          this.o.ttlMs > this.versionCheckMs &&
          (this.found.size > 0 || this.refused.size > 0));
      if (due) {
        await this.checkVersion(now);
        now = Date.now();
      }
      const hit = this.found.get(h);
      if (hit !== undefined && hit.until > now) return hit.project;
      const no = this.refused.get(h);
      if (no !== undefined && no.until > now) throw refusal(no.kind);
    }
    const found = await this.store.findProjectByKey(key);
    const kind: Refusal | null =
      found === null ? 'unknown-key' : found.role !== 'write' ? 'wrong-key-role' : null;
    if (remembering) {
      if (kind === null)
        remember(this.found, h, { project: found!.project, until: now + this.o.ttlMs }, this.o.size);
      else {
        const until = now + Math.min(this.o.ttlMs, REFUSED_KEY_TTL_MS);
        remember(this.refused, h, { kind, until }, this.o.size);
      }
    }
    if (kind !== null) throw refusal(kind);
    return found!.project;
  }

  /** Reads the store's keys version (one read for every request waiting); forgets all on a change. */
  private checkVersion(now: number): Promise<void> {
    this.checking ??= (async () => {
      try {
        const v = await this.store.keysVersion();
        if (this.version !== null && v !== this.version) {
          this.found.clear();
          this.refused.clear();
        }
        this.version = v;
        this.checkedAt = now;
      } finally {
        this.checking = null;
      }
    })();
    return this.checking;
  }
}

/** Adds an entry, dropping the oldest when the map is full. */
function remember<V>(map: Map<string, V>, h: string, value: V, size: number): void {
  map.delete(h);
  if (map.size >= size) map.delete(map.keys().next().value!);
  map.set(h, value);
}

function refusal(kind: Refusal): IngestError {
  return kind === 'unknown-key'
    ? new IngestError('unknown-key', 'unknown write key')
    : new IngestError('wrong-key-role', "this is an admin key; ingest takes the project's write key");
}
