import { createHash } from 'node:crypto';
import type { Project, Store } from '../store/store.js';
import { IngestError } from './errors.js';

export interface WriteKeyOptions {
  /** How long a key's project is remembered, ms; 0 asks the store every time. */
  ttlMs: number;
  /** Most keys remembered. */
  size: number;
}

/**
 * Resolves a write key to its project. The store compares keys in constant time; this cache
 * in front of it is keyed by the key's SHA-256, so a lookup's timing says nothing about how
 * much of a key matched. Only keys that were found are remembered (a new project's key works
 * at once); keys live `ttlMs`, so a key changed in the database is seen within that time.
 */
export class WriteKeys {
  private readonly cache = new Map<string, { project: Project; until: number }>();

  constructor(
    private readonly store: Store,
    private readonly o: WriteKeyOptions,
  ) {}

  /** `howToSend` completes the 401's message when no key came: how this route takes it. */
  async resolve(
    key: string | undefined,
    howToSend = 'send Authorization: Bearer <write key> (or api_key in the body)',
  ): Promise<Project> {
    if (key === undefined || key === '') {
      throw new IngestError('missing-key', `no write key: ${howToSend}`);
    }
    const h = createHash('sha256').update(key).digest('base64');
    const now = Date.now();
    const hit = this.cache.get(h);
    if (hit !== undefined && hit.until > now) return hit.project;
    const found = await this.store.findProjectByKey(key);
    if (found === null) throw new IngestError('unknown-key', 'unknown write key');
    if (found.role !== 'write') {
      throw new IngestError('wrong-key-role', "this is an admin key; ingest takes the project's write key");
    }
    if (this.o.ttlMs > 0 && this.o.size > 0) {
      if (this.cache.size >= this.o.size) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(h, { project: found.project, until: now + this.o.ttlMs });
    }
    return found.project;
  }
}
