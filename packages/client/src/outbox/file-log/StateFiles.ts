import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readFileIfExists, writeFileAtomic } from './atomicFile.js';

/**
 * `getState`/`setState` of the file outbox: one small JSON file per key under `state/`, each
 * replaced atomically, so two processes setting different keys never undo each other (a
 * single shared file would need read-modify-write across processes).
 *
 * Keys that are safe lower-case file names are used as is; others are hashed. The file holds
 * the key too, so a hash collision is detected instead of answering another key's value.
 */
export class StateFiles {
  constructor(
    private readonly directory: string,
    private readonly options: { fsync: boolean },
  ) {}

  async get(key: string): Promise<unknown> {
    const text = await readFileIfExists(this.fileFor(key));
    if (text === undefined) return undefined;
    try {
      const parsed = JSON.parse(text) as { key?: unknown; value?: unknown };
      return parsed.key === key ? parsed.value : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores the JSON text `json` for `key`; undefined removes the key. */
  async set(key: string, json: string | undefined): Promise<void> {
    const file = this.fileFor(key);
    if (json === undefined) {
      await fs.rm(file, { force: true });
      return;
    }
    await fs.mkdir(this.directory, { recursive: true });
    await writeFileAtomic(file, `{"key":${JSON.stringify(key)},"value":${json}}`, this.options);
  }

  private fileFor(key: string): string {
    const plain = /^[a-z0-9_][a-z0-9_.-]{0,63}$/.test(key);
    const name = plain ? `k-${key}` : `h-${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
    return path.join(this.directory, `${name}.json`);
  }
}
